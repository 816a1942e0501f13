"""Segments and child chunks through the Knowledge API (``ds-`` key): Dify's shapes (§8
case 36), the document's counts, and the knowledge index kept in step with every change:
what is created, changed, disabled, deleted is (or is no longer) what ``/retrieve`` finds,
in text and in parent-child datasets; and nothing of another workspace is reachable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import Document, Workspace

PARAGRAPHS = {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 200}}}
PARENT_CHILD = {
    "mode": "hierarchical",
    "rules": {
        "parent_mode": "paragraph",
        "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
        "subchunk_segmentation": {"separator": "\\n", "max_tokens": 100},
    },
}


@dataclass(frozen=True)
class Kb:
    """A workspace's Knowledge API: its id and a ``ds-`` key's headers."""

    workspace_id: str
    auth: dict[str, str]


async def knowledge_key(plait: Plait, workspace_id: str) -> Kb:
    key = await plait.keys.create(workspace_id, CLI, kind="dataset")
    return Kb(workspace_id, {"Authorization": f"Bearer {key.token}"})


async def owner_kb(plait: Plait) -> Kb:
    """Plait set up with its owner, and a ``ds-`` key of the owner's workspace."""
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name="Olive", workspace_name=None, actor=CLI
    )
    return await knowledge_key(plait, setup.workspace_id)


async def other_workspace_kb(plait: Plait) -> Kb:
    """A second workspace (another tenant) and a ``ds-`` key of it."""
    async with plait.db.transaction() as session:
        other = Workspace(name="Other tenant")
        session.add(other)
    return await knowledge_key(plait, other.id)


@pytest.fixture
async def kb(plait: Plait) -> Kb:
    return await owner_kb(plait)


@pytest.fixture
async def other_kb(plait: Plait, kb: Kb) -> Kb:
    return await other_workspace_kb(plait)


async def new_dataset(client: httpx.AsyncClient, kb: Kb, name: str = "Handbook") -> str:
    response = await client.post("/v1/datasets", headers=kb.auth, json={"name": name})
    assert response.status_code == 200, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


async def add_document(
    client: httpx.AsyncClient,
    plait: Plait,
    kb: Kb,
    dataset_id: str,
    text: str,
    *,
    name: str = "notes.txt",
    **body: Any,
) -> dict[str, Any]:
    """A document created by text and indexed to ``completed``."""
    payload = {"name": name, "text": text, "indexing_technique": "high_quality", "process_rule": PARAGRAPHS} | body
    response = await client.post(f"/v1/datasets/{dataset_id}/document/create-by-text", headers=kb.auth, json=payload)
    assert response.status_code == 200, response.text
    created = response.json()
    await plait.indexing.queue.drain()
    status = await client.get(
        f"/v1/datasets/{dataset_id}/documents/{created['batch']}/indexing-status", headers=kb.auth
    )
    (item,) = status.json()["data"]
    assert item["indexing_status"] == "completed", item
    document: dict[str, Any] = created["document"]
    return document


async def search(
    client: httpx.AsyncClient, kb: Kb, dataset_id: str, query: str, *, method: str = "full_text_search", **extra: Any
) -> list[dict[str, Any]]:
    retrieval = {
        "search_method": method,
        "reranking_enable": False,
        "top_k": 10,
        "score_threshold_enabled": False,
    } | extra
    response = await client.post(
        f"/v1/datasets/{dataset_id}/retrieve", headers=kb.auth, json={"query": query, "retrieval_model": retrieval}
    )
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def contents(records: list[dict[str, Any]]) -> list[str]:
    return [r["segment"]["content"] for r in records]


def segments_url(dataset_id: str, document_id: str) -> str:
    return f"/v1/datasets/{dataset_id}/documents/{document_id}/segments"


async def test_segments_are_created_listed_changed_and_deleted(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "The original paragraph about llamas.")
    url = segments_url(dataset_id, document["id"])
    before = (await client.get(f"/v1/datasets/{dataset_id}/documents/{document['id']}", headers=kb.auth)).json()

    created = await client.post(
        url,
        headers=kb.auth,
        json={"segments": [{"content": "Otters hold hands.", "keywords": ["otter"]}, {"content": "Owls hoot."}]},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["doc_form"] == "text_model"
    first, second = body["data"]
    assert (first["position"], second["position"]) == (2, 3)
    assert first["content"] == "Otters hold hands."
    assert first["keywords"] == ["otter"]
    assert first["status"] == "completed"
    assert first["enabled"] is True
    assert first["index_node_id"] == first["id"]
    assert first["word_count"] == len("Otters hold hands.")
    assert first["tokens"] > 0
    assert first["document_id"] == document["id"]

    page = (await client.get(url, headers=kb.auth, params={"page": 1, "limit": 2})).json()
    assert (page["total"], page["has_more"], page["limit"], page["page"], page["doc_form"]) == (
        3,
        True,
        2,
        1,
        "text_model",
    )
    assert [s["position"] for s in page["data"]] == [1, 2]
    found = (await client.get(url, headers=kb.auth, params={"keyword": "owls"})).json()
    assert [s["content"] for s in found["data"]] == ["Owls hoot."]
    completed = (await client.get(url, headers=kb.auth, params=[("status", "completed")])).json()
    assert completed["total"] == 3
    assert (await client.get(url, headers=kb.auth, params=[("status", "error")])).json()["total"] == 0

    one = await client.get(f"{url}/{second['id']}", headers=kb.auth)
    assert one.status_code == 200
    assert one.json()["data"]["content"] == "Owls hoot."

    changed = await client.post(
        f"{url}/{second['id']}", headers=kb.auth, json={"segment": {"content": "Owls hoot at night.", "enabled": True}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["content"] == "Owls hoot at night."
    assert changed.json()["data"]["word_count"] == len("Owls hoot at night.")

    after = (await client.get(f"/v1/datasets/{dataset_id}/documents/{document['id']}", headers=kb.auth)).json()
    added = len("Otters hold hands.") + len("Owls hoot at night.")
    assert after["word_count"] == before["word_count"] + added
    assert after["tokens"] > before["tokens"]

    deleted = await client.delete(f"{url}/{second['id']}", headers=kb.auth)
    assert deleted.status_code == 204
    assert (await client.get(f"{url}/{second['id']}", headers=kb.auth)).status_code == 404
    assert (await client.get(url, headers=kb.auth)).json()["total"] == 2
    final = (await client.get(f"/v1/datasets/{dataset_id}/documents/{document['id']}", headers=kb.auth)).json()
    assert final["word_count"] == before["word_count"] + len("Otters hold hands.")


async def test_retrieval_follows_every_segment_change(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "Capybaras enjoy warm baths.")
    url = segments_url(dataset_id, document["id"])
    created = await client.post(url, headers=kb.auth, json={"segments": [{"content": "Penguins waddle on ice."}]})
    segment = created.json()["data"][0]

    assert contents(await search(client, kb, dataset_id, "penguins")) == ["Penguins waddle on ice."]
    semantic = await search(client, kb, dataset_id, "Penguins waddle on ice.", method="semantic_search")
    assert semantic[0]["segment"]["id"] == segment["id"]  # its vector is in the index
    assert semantic[0]["score"] == pytest.approx(1.0, abs=1e-6)

    await client.post(f"{url}/{segment['id']}", headers=kb.auth, json={"segment": {"content": "Puffins dive deep."}})
    assert await search(client, kb, dataset_id, "penguins") == []
    assert contents(await search(client, kb, dataset_id, "puffins")) == ["Puffins dive deep."]

    disabled = await client.post(f"{url}/{segment['id']}", headers=kb.auth, json={"segment": {"enabled": False}})
    assert disabled.status_code == 200
    assert disabled.json()["data"]["enabled"] is False
    assert disabled.json()["data"]["disabled_at"] is not None
    assert await search(client, kb, dataset_id, "puffins") == []
    collection = await plait.index.collection(dataset_id)
    assert await collection.search_text("puffins", 10) == []  # disabled in the index, not only filtered out
    assert contents(await search(client, kb, dataset_id, "capybaras")) == ["Capybaras enjoy warm baths."]
    refused = await client.post(f"{url}/{segment['id']}", headers=kb.auth, json={"segment": {"content": "Puffins."}})
    assert refused.status_code == 400, refused.text

    enabled = await client.post(f"{url}/{segment['id']}", headers=kb.auth, json={"segment": {"enabled": True}})
    assert enabled.status_code == 200
    assert enabled.json()["data"]["enabled"] is True
    assert contents(await search(client, kb, dataset_id, "puffins")) == ["Puffins dive deep."]

    assert (await client.delete(f"{url}/{segment['id']}", headers=kb.auth)).status_code == 204
    assert await search(client, kb, dataset_id, "puffins") == []
    assert segment["id"] not in await collection.node_ids(document_id=document["id"])


async def test_segments_of_a_disabled_document_are_not_retrieved(
    client: httpx.AsyncClient, plait: Plait, kb: Kb
) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "Walruses have tusks.")
    url = segments_url(dataset_id, document["id"])
    await client.post(url, headers=kb.auth, json={"segments": [{"content": "Narwhals have tusks too."}]})
    status = await client.patch(
        f"/v1/datasets/{dataset_id}/documents/status/disable", headers=kb.auth, json={"document_ids": [document["id"]]}
    )
    assert status.status_code == 200
    assert await search(client, kb, dataset_id, "tusks") == []
    refused = await client.post(url, headers=kb.auth, json={"segments": [{"content": "More tusks."}]})
    assert refused.status_code == 404
    assert refused.json()["message"] == "Document is disabled."
    await client.patch(
        f"/v1/datasets/{dataset_id}/documents/status/enable", headers=kb.auth, json={"document_ids": [document["id"]]}
    )
    assert sorted(contents(await search(client, kb, dataset_id, "tusks"))) == [
        "Narwhals have tusks too.",
        "Walruses have tusks.",
    ]


async def test_bad_segment_requests_are_refused_and_change_nothing(
    client: httpx.AsyncClient, plait: Plait, kb: Kb
) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "Badgers dig burrows.")
    url = segments_url(dataset_id, document["id"])
    empty = await client.post(url, headers=kb.auth, json={"segments": [{"content": "ok"}, {"content": "   "}]})
    assert empty.status_code == 400
    assert empty.json()["code"] == "invalid_param"
    assert empty.json()["message"] == "Content is empty"
    missing = await client.post(url, headers=kb.auth, json={})
    assert missing.status_code == 400
    too_many = await client.post(url, headers=kb.auth, json={"segments": [{"content": f"s{i}"} for i in range(1001)]})
    assert too_many.status_code == 400
    assert "1000" in too_many.json()["message"]
    assert (await client.get(url, headers=kb.auth)).json()["total"] == 1
    big_limit = await client.get(url, headers=kb.auth, params={"limit": 101})
    assert big_limit.status_code == 400

    async with plait.db.transaction() as session:
        await session.execute(update(Document).where(Document.id == document["id"]).values(indexing_status="error"))
    not_done = await client.post(url, headers=kb.auth, json={"segments": [{"content": "Later."}]})
    assert not_done.status_code == 404
    assert not_done.json()["message"] == "Document is not completed."


async def test_segments_of_other_datasets_and_workspaces_are_not_found(
    client: httpx.AsyncClient, plait: Plait, kb: Kb, other_kb: Kb
) -> None:
    mine = await new_dataset(client, kb)
    my_document = await add_document(client, plait, kb, mine, "Moles are nearly blind.")
    theirs = await new_dataset(client, other_kb, "Their handbook")
    their_document = await add_document(client, plait, other_kb, theirs, "A secret about ferrets.")
    their_segment = (await client.get(segments_url(theirs, their_document["id"]), headers=other_kb.auth)).json()[
        "data"
    ][0]

    probes = [
        client.get(segments_url(theirs, their_document["id"]), headers=kb.auth),
        client.post(segments_url(theirs, their_document["id"]), headers=kb.auth, json={"segments": [{"content": "x"}]}),
        client.get(segments_url(mine, their_document["id"]), headers=kb.auth),
        client.get(f"{segments_url(mine, my_document['id'])}/{their_segment['id']}", headers=kb.auth),
        client.delete(f"{segments_url(mine, my_document['id'])}/{their_segment['id']}", headers=kb.auth),
        client.post(
            f"{segments_url(mine, my_document['id'])}/{their_segment['id']}",
            headers=kb.auth,
            json={"segment": {"content": "overwritten"}},
        ),
        client.get(f"{segments_url(mine, my_document['id'])}/not-a-uuid", headers=kb.auth),
    ]
    for probe in probes:
        response = await probe
        assert response.status_code == 404, (response.request.url, response.text)
    assert contents(await search(client, other_kb, theirs, "ferrets")) == ["A secret about ferrets."]


async def test_child_chunk_edits_change_what_a_parent_child_dataset_finds(
    client: httpx.AsyncClient, plait: Plait, kb: Kb
) -> None:
    dataset_id = await new_dataset(client, kb)
    text = "Koalas sleep all day.\nThey eat eucalyptus.\n\nWombats have cube droppings."
    document = await add_document(
        client, plait, kb, dataset_id, text, doc_form="hierarchical_model", process_rule=PARENT_CHILD
    )
    url = segments_url(dataset_id, document["id"])
    listed = (await client.get(url, headers=kb.auth)).json()
    assert listed["doc_form"] == "hierarchical_model"
    parent = listed["data"][0]
    assert [c["content"] for c in parent["child_chunks"]] == ["Koalas sleep all day.", "They eat eucalyptus."]
    children_url = f"{url}/{parent['id']}/child_chunks"

    created = await client.post(children_url, headers=kb.auth, json={"content": "Zebras have stripes."})
    assert created.status_code == 200, created.text
    child = created.json()["data"]
    assert (child["type"], child["position"], child["segment_id"]) == ("customized", 3, parent["id"])
    (hit,) = await search(client, kb, dataset_id, "zebras")
    assert hit["segment"]["id"] == parent["id"]
    assert [c["content"] for c in hit["child_chunks"]] == ["Zebras have stripes."]

    page = (await client.get(children_url, headers=kb.auth, params={"limit": 2})).json()
    assert (page["total"], page["total_pages"], page["page"], page["limit"]) == (3, 2, 1, 2)
    assert [
        c["content"]
        for c in (await client.get(children_url, headers=kb.auth, params={"keyword": "zebra"})).json()["data"]
    ] == ["Zebras have stripes."]

    patched = await client.patch(f"{children_url}/{child['id']}", headers=kb.auth, json={"content": "Quokkas smile."})
    assert patched.status_code == 200
    assert patched.json()["data"]["content"] == "Quokkas smile."
    assert await search(client, kb, dataset_id, "zebras") == []
    (hit,) = await search(client, kb, dataset_id, "quokkas")
    assert [c["content"] for c in hit["child_chunks"]] == ["Quokkas smile."]

    assert (await client.delete(f"{children_url}/{child['id']}", headers=kb.auth)).status_code == 204
    assert await search(client, kb, dataset_id, "quokkas") == []
    assert (await client.get(children_url, headers=kb.auth)).json()["total"] == 2

    regenerated = await client.post(
        f"{url}/{parent['id']}",
        headers=kb.auth,
        json={
            "segment": {"content": "Platypuses lay eggs.\nThey glow under UV light.", "regenerate_child_chunks": True}
        },
    )
    assert regenerated.status_code == 200, regenerated.text
    assert [c["content"] for c in regenerated.json()["data"]["child_chunks"]] == [
        "Platypuses lay eggs.",
        "They glow under UV light.",
    ]
    assert await search(client, kb, dataset_id, "koalas") == []
    (hit,) = await search(client, kb, dataset_id, "platypuses")
    assert hit["segment"]["content"] == "Platypuses lay eggs.\nThey glow under UV light."

    created_segment = await client.post(url, headers=kb.auth, json={"segments": [{"content": "Emus run.\nEmus swim."}]})
    assert [c["content"] for c in created_segment.json()["data"][0]["child_chunks"]] == ["Emus run.", "Emus swim."]
    (hit,) = await search(client, kb, dataset_id, "swim")
    assert [c["content"] for c in hit["child_chunks"]] == ["Emus swim."]
    other_parent = created_segment.json()["data"][0]
    foreign = await client.patch(
        f"{url}/{other_parent['id']}/child_chunks/{regenerated.json()['data']['child_chunks'][0]['id']}",
        headers=kb.auth,
        json={"content": "moved"},
    )
    assert foreign.status_code == 404


async def test_child_chunks_need_a_parent_child_document(client: httpx.AsyncClient, plait: Plait, kb: Kb) -> None:
    dataset_id = await new_dataset(client, kb)
    document = await add_document(client, plait, kb, dataset_id, "Hedgehogs roll up.")
    url = segments_url(dataset_id, document["id"])
    segment = (await client.get(url, headers=kb.auth)).json()["data"][0]
    refused = await client.post(f"{url}/{segment['id']}/child_chunks", headers=kb.auth, json={"content": "x"})
    assert refused.status_code == 400, refused.text
