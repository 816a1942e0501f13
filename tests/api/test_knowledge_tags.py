"""Knowledge tags through the Knowledge API (``ds-`` key): Dify's shapes and codes for
create, list, rename, delete, bind and unbind; tags on dataset objects and as a dataset
list filter; ``/datasets/tags`` not taken for a dataset id; and workspace isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from plait.app.bootstrap import Plait

from .test_knowledge_segments import Kb, new_dataset, other_workspace_kb, owner_kb


@pytest.fixture
async def kb(plait: Plait) -> Kb:
    return await owner_kb(plait)


@pytest.fixture
async def other_kb(plait: Plait, kb: Kb) -> Kb:
    return await other_workspace_kb(plait)


async def create_tag(client: httpx.AsyncClient, kb: Kb, name: str) -> dict[str, Any]:
    response = await client.post("/v1/datasets/tags", headers=kb.auth, json={"name": name})
    assert response.status_code == 200, response.text
    tag: dict[str, Any] = response.json()
    return tag


async def test_tags_are_created_listed_renamed_and_deleted(client: httpx.AsyncClient, kb: Kb) -> None:
    urgent = await create_tag(client, kb, "urgent")
    assert set(urgent) == {"id", "name", "type", "binding_count"}
    assert (urgent["name"], urgent["type"], urgent["binding_count"]) == ("urgent", "knowledge", "0")
    later = await create_tag(client, kb, "later")

    duplicate = await client.post("/v1/datasets/tags", headers=kb.auth, json={"name": "urgent"})
    assert duplicate.status_code == 400
    assert duplicate.json()["message"] == "Tag name already exists"
    for bad in ("", "x" * 51):
        refused = await client.post("/v1/datasets/tags", headers=kb.auth, json={"name": bad})
        assert refused.status_code == 400, refused.text

    listed = (await client.get("/v1/datasets/tags", headers=kb.auth)).json()
    assert [t["name"] for t in listed] == ["later", "urgent"]  # newest first

    renamed = await client.patch("/v1/datasets/tags", headers=kb.auth, json={"tag_id": urgent["id"], "name": "now"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "now"
    clash = await client.patch("/v1/datasets/tags", headers=kb.auth, json={"tag_id": urgent["id"], "name": "later"})
    assert clash.status_code == 400
    missing = await client.patch(
        "/v1/datasets/tags", headers=kb.auth, json={"tag_id": "00000000-0000-4000-8000-000000000000", "name": "y"}
    )
    assert missing.status_code == 404

    deleted = await client.request("DELETE", "/v1/datasets/tags", headers=kb.auth, json={"tag_id": later["id"]})
    assert deleted.status_code == 204
    assert [t["name"] for t in (await client.get("/v1/datasets/tags", headers=kb.auth)).json()] == ["now"]
    again = await client.request("DELETE", "/v1/datasets/tags", headers=kb.auth, json={"tag_id": later["id"]})
    assert again.status_code == 404


async def test_tags_bind_to_datasets_and_filter_them(client: httpx.AsyncClient, kb: Kb) -> None:
    red, blue = await create_tag(client, kb, "red"), await create_tag(client, kb, "blue")
    first, second = await new_dataset(client, kb, "First"), await new_dataset(client, kb, "Second")

    for _ in range(2):  # binding twice is binding once
        bound = await client.post(
            "/v1/datasets/tags/binding", headers=kb.auth, json={"tag_ids": [red["id"], blue["id"]], "target_id": first}
        )
        assert bound.status_code == 204, bound.text
    await client.post("/v1/datasets/tags/binding", headers=kb.auth, json={"tag_ids": [red["id"]], "target_id": second})

    counts = {t["name"]: t["binding_count"] for t in (await client.get("/v1/datasets/tags", headers=kb.auth)).json()}
    assert counts == {"red": "2", "blue": "1"}
    of_first = (await client.get(f"/v1/datasets/{first}/tags", headers=kb.auth)).json()
    assert of_first["total"] == 2
    assert sorted(t["name"] for t in of_first["data"]) == ["blue", "red"]
    assert set(of_first["data"][0]) == {"id", "name"}
    dataset = (await client.get(f"/v1/datasets/{first}", headers=kb.auth)).json()
    assert sorted(t["name"] for t in dataset["tags"]) == ["blue", "red"]

    by_blue = (await client.get("/v1/datasets", headers=kb.auth, params={"tag_ids": blue["id"]})).json()
    assert [d["id"] for d in by_blue["data"]] == [first]

    unbound = await client.post(
        "/v1/datasets/tags/unbinding", headers=kb.auth, json={"tag_id": blue["id"], "target_id": first}
    )
    assert unbound.status_code == 204
    assert [t["name"] for t in (await client.get(f"/v1/datasets/{first}/tags", headers=kb.auth)).json()["data"]] == [
        "red"
    ]
    unbound_list = await client.post(
        "/v1/datasets/tags/unbinding", headers=kb.auth, json={"tag_ids": [red["id"]], "target_id": second}
    )
    assert unbound_list.status_code == 204
    assert (await client.get(f"/v1/datasets/{second}/tags", headers=kb.auth)).json() == {"data": [], "total": 0}

    await client.request("DELETE", "/v1/datasets/tags", headers=kb.auth, json={"tag_id": red["id"]})
    assert (await client.get(f"/v1/datasets/{first}/tags", headers=kb.auth)).json()["total"] == 0

    unknown = await client.post(
        "/v1/datasets/tags/binding",
        headers=kb.auth,
        json={"tag_ids": [blue["id"]], "target_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Dataset not found."
    empty = await client.post("/v1/datasets/tags/binding", headers=kb.auth, json={"tag_ids": [], "target_id": first})
    assert empty.status_code == 400


async def test_another_workspace_tags_and_datasets_are_out_of_reach(
    client: httpx.AsyncClient, kb: Kb, other_kb: Kb
) -> None:
    mine = await create_tag(client, kb, "shared-name")
    theirs = await create_tag(client, other_kb, "shared-name")  # names are per workspace
    their_dataset = await new_dataset(client, other_kb, "Theirs")
    my_dataset = await new_dataset(client, kb, "Mine")

    assert [t["id"] for t in (await client.get("/v1/datasets/tags", headers=kb.auth)).json()] == [mine["id"]]
    probes = [
        client.post(
            "/v1/datasets/tags/binding", headers=kb.auth, json={"tag_ids": [theirs["id"]], "target_id": my_dataset}
        ),
        client.post(
            "/v1/datasets/tags/binding", headers=kb.auth, json={"tag_ids": [mine["id"]], "target_id": their_dataset}
        ),
        client.patch("/v1/datasets/tags", headers=kb.auth, json={"tag_id": theirs["id"], "name": "taken"}),
        client.request("DELETE", "/v1/datasets/tags", headers=kb.auth, json={"tag_id": theirs["id"]}),
        client.get(f"/v1/datasets/{their_dataset}/tags", headers=kb.auth),
    ]
    for probe in probes:
        response = await probe
        assert response.status_code == 404, (response.request.url, response.text)
    still = (await client.get("/v1/datasets/tags", headers=other_kb.auth)).json()
    assert [(t["id"], t["name"]) for t in still] == [(theirs["id"], "shared-name")]
    assert (await client.get("/v1/datasets/tags", headers={"Authorization": "Bearer ds-nope"})).status_code == 401
