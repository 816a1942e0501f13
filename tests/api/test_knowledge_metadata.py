"""Metadata fields and values through the Knowledge API (``ds-`` key): Dify's shapes and
codes, values set in batch and checked against the field's type, retrieval filtered by
``metadata_filtering_conditions`` (§8 case 38), renames and deletes carried into every
document, the built-in fields, and workspace isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from plait.app.bootstrap import Plait

from .test_knowledge_segments import (
    Kb,
    add_document,
    contents,
    new_dataset,
    other_workspace_kb,
    owner_kb,
    search,
)


@pytest.fixture
async def kb(plait: Plait) -> Kb:
    return await owner_kb(plait)


@pytest.fixture
async def other_kb(plait: Plait, kb: Kb) -> Kb:
    return await other_workspace_kb(plait)


async def create_field(client: httpx.AsyncClient, kb: Kb, dataset_id: str, name: str, kind: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth, json={"type": kind, "name": name}
    )
    assert response.status_code == 201, response.text
    field: dict[str, Any] = response.json()
    return field


async def set_values(
    client: httpx.AsyncClient, kb: Kb, dataset_id: str, document_id: str, values: list[dict[str, Any]], **extra: Any
) -> httpx.Response:
    operation = {"document_id": document_id, "metadata_list": values} | extra
    return await client.post(
        f"/v1/datasets/{dataset_id}/documents/metadata", headers=kb.auth, json={"operation_data": [operation]}
    )


def where(name: str, operator: str, value: Any) -> dict[str, Any]:
    condition = {"name": name, "comparison_operator": operator, "value": value}
    return {"metadata_filtering_conditions": {"logical_operator": "and", "conditions": [condition]}}


async def document_metadata(client: httpx.AsyncClient, kb: Kb, dataset_id: str, document_id: str) -> dict[str, Any]:
    body = (await client.get(f"/v1/datasets/{dataset_id}/documents/{document_id}", headers=kb.auth)).json()
    return {item["name"]: item["value"] for item in body["doc_metadata"]}


async def test_metadata_filters_retrieval(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    cats = await add_document(client, plait, kb, dataset_id, "Cats purr when content.", name="cats.txt")
    dogs = await add_document(client, plait, kb, dataset_id, "Dogs wag when content.", name="dogs.txt")
    team = await create_field(client, kb, dataset_id, "team", "string")
    assert set(team) == {"id", "name", "type"}
    assert (team["name"], team["type"]) == ("team", "string")
    year = await create_field(client, kb, dataset_id, "year", "number")

    for document, owner, when in ((cats, "felines", 2021), (dogs, "canines", "2024")):
        response = await set_values(
            client,
            kb,
            dataset_id,
            document["id"],
            [{"id": team["id"], "name": "team", "value": owner}, {"id": year["id"], "name": "year", "value": when}],
        )
        assert response.status_code == 200
        assert response.json() == {"result": "success"}
    assert await document_metadata(client, kb, dataset_id, dogs["id"]) == {"team": "canines", "year": 2024}

    assert sorted(contents(await search(client, kb, dataset_id, "content"))) == [
        "Cats purr when content.",
        "Dogs wag when content.",
    ]
    assert contents(await search(client, kb, dataset_id, "content", **where("team", "is", "felines"))) == [
        "Cats purr when content."
    ]
    semantic = await search(client, kb, dataset_id, "content", method="semantic_search", **where("year", ">", 2022))
    assert contents(semantic) == ["Dogs wag when content."]

    listing = (await client.get(f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth)).json()
    assert listing == {
        "doc_metadata": [
            {"id": team["id"], "name": "team", "type": "string", "count": 2},
            {"id": year["id"], "name": "year", "type": "number", "count": 2},
        ],
        "built_in_field_enabled": False,
    }
    dataset = (await client.get(f"/v1/datasets/{dataset_id}", headers=kb.auth)).json()
    assert dataset["doc_metadata"] == [
        {"id": team["id"], "name": "team", "type": "string"},
        {"id": year["id"], "name": "year", "type": "number"},
    ]

    partial = await set_values(
        client, kb, dataset_id, cats["id"], [{"id": year["id"], "name": "year", "value": 2025}], partial_update=True
    )
    assert partial.status_code == 200
    assert await document_metadata(client, kb, dataset_id, cats["id"]) == {"team": "felines", "year": 2025}
    replaced = await set_values(client, kb, dataset_id, cats["id"], [{"id": year["id"], "name": "year", "value": 1}])
    assert replaced.status_code == 200
    assert await document_metadata(client, kb, dataset_id, cats["id"]) == {"year": 1}


async def test_renames_and_deletes_reach_every_document(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "Herons stand still.")
    field = await create_field(client, kb, dataset_id, "area", "string")
    await set_values(client, kb, dataset_id, document["id"], [{"id": field["id"], "name": "area", "value": "wetland"}])

    renamed = await client.patch(
        f"/v1/datasets/{dataset_id}/metadata/{field['id']}", headers=kb.auth, json={"name": "habitat"}
    )
    assert renamed.status_code == 200
    assert renamed.json() == {"id": field["id"], "name": "habitat", "type": "string"}
    assert await document_metadata(client, kb, dataset_id, document["id"]) == {"habitat": "wetland"}
    hits = await search(client, kb, dataset_id, "herons", **where("habitat", "is", "wetland"))
    assert contents(hits) == ["Herons stand still."]

    deleted = await client.delete(f"/v1/datasets/{dataset_id}/metadata/{field['id']}", headers=kb.auth)
    assert deleted.status_code == 204
    assert await document_metadata(client, kb, dataset_id, document["id"]) == {}
    listing = (await client.get(f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth)).json()
    assert listing["doc_metadata"] == []
    gone = await client.patch(f"/v1/datasets/{dataset_id}/metadata/{field['id']}", headers=kb.auth, json={"name": "x"})
    assert gone.status_code == 404


async def test_bad_fields_and_values_are_refused(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "Moths fly at night.")
    field = await create_field(client, kb, dataset_id, "weight", "number")
    when = await create_field(client, kb, dataset_id, "seen", "time")

    duplicate = await client.post(
        f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth, json={"type": "string", "name": "weight"}
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["message"] == "Metadata name already exists."
    built_in = await client.post(
        f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth, json={"type": "string", "name": "document_name"}
    )
    assert built_in.status_code == 400
    assert built_in.json()["message"] == "Metadata name already exists in Built-in fields."
    bad_type = await client.post(
        f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth, json={"type": "boolean", "name": "flag"}
    )
    assert bad_type.status_code == 400

    wrong = await set_values(
        client, kb, dataset_id, document["id"], [{"id": field["id"], "name": "weight", "value": "heavy"}]
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_param"
    unknown = await set_values(
        client,
        kb,
        dataset_id,
        document["id"],
        [{"id": "00000000-0000-4000-8000-000000000000", "name": "x", "value": 1}],
    )
    assert unknown.status_code == 404
    assert await document_metadata(client, kb, dataset_id, document["id"]) == {}

    iso = await set_values(
        client, kb, dataset_id, document["id"], [{"id": when["id"], "name": "seen", "value": "2024-01-02T00:00:00Z"}]
    )
    assert iso.status_code == 200
    assert await document_metadata(client, kb, dataset_id, document["id"]) == {"seen": 1704153600}


async def test_built_in_fields_are_listed_and_switched(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    names = ["document_name", "uploader", "upload_date", "last_update_date", "source"]
    for url in ("/v1/datasets/metadata/built-in", f"/v1/datasets/{dataset_id}/metadata/built-in"):
        fields = (await client.get(url, headers=kb.auth)).json()["fields"]
        assert [f["name"] for f in fields] == names
        assert {f["name"]: f["type"] for f in fields}["upload_date"] == "time"

    enabled = await client.post(f"/v1/datasets/{dataset_id}/metadata/built-in/enable", headers=kb.auth)
    assert enabled.status_code == 200
    assert enabled.json() == {"result": "success"}
    dataset = (await client.get(f"/v1/datasets/{dataset_id}", headers=kb.auth)).json()
    assert dataset["built_in_field_enabled"] is True
    assert [f["name"] for f in dataset["doc_metadata"]] == names
    assert {f["id"] for f in dataset["doc_metadata"]} == {"built-in"}

    await add_document(client, plait, kb, dataset_id, "Bats echolocate.", name="bats.txt")
    await add_document(client, plait, kb, dataset_id, "Bats hang upside down.", name="more.txt")
    hits = await search(client, kb, dataset_id, "bats", **where("document_name", "is", "bats.txt"))
    assert contents(hits) == ["Bats echolocate."]

    disabled = await client.post(f"/v1/datasets/{dataset_id}/metadata/built-in/disable", headers=kb.auth)
    assert disabled.status_code == 200
    assert (await client.get(f"/v1/datasets/{dataset_id}/metadata", headers=kb.auth)).json()[
        "built_in_field_enabled"
    ] is False
    flip = await client.post(f"/v1/datasets/{dataset_id}/metadata/built-in/flip", headers=kb.auth)
    assert flip.status_code == 400
    assert flip.json()["code"] == "invalid_param"


async def test_another_workspace_metadata_is_out_of_reach(
    client: httpx.AsyncClient, plait: Plait, kb: Kb, other_kb: Kb
) -> None:
    mine = await new_dataset(client, kb)
    theirs = await new_dataset(client, other_kb, "Theirs")
    their_document = await add_document(client, plait, other_kb, theirs, "Their private text.")
    their_field = await create_field(client, other_kb, theirs, "secret", "string")
    my_field = await create_field(client, kb, mine, "label", "string")

    probes = [
        client.get(f"/v1/datasets/{theirs}/metadata", headers=kb.auth),
        client.post(f"/v1/datasets/{theirs}/metadata", headers=kb.auth, json={"type": "string", "name": "x"}),
        client.patch(f"/v1/datasets/{theirs}/metadata/{their_field['id']}", headers=kb.auth, json={"name": "x"}),
        client.patch(f"/v1/datasets/{mine}/metadata/{their_field['id']}", headers=kb.auth, json={"name": "x"}),
        client.delete(f"/v1/datasets/{mine}/metadata/{their_field['id']}", headers=kb.auth),
        client.post(f"/v1/datasets/{theirs}/metadata/built-in/enable", headers=kb.auth),
        set_values(client, kb, mine, their_document["id"], [{"id": my_field["id"], "name": "label", "value": "x"}]),
    ]
    for probe in probes:
        response = await probe
        assert response.status_code == 404, (response.request.url, response.text)
    assert await document_metadata(client, other_kb, theirs, their_document["id"]) == {}
    listing = (await client.get(f"/v1/datasets/{theirs}/metadata", headers=other_kb.auth)).json()
    assert [f["name"] for f in listing["doc_metadata"]] == ["secret"]
