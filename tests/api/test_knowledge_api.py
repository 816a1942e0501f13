"""The Knowledge API's datasets, documents, indexing and retrieval against a live Plait, on
SQLite and PostgreSQL with the embedded index: Dify's shapes and codes (§8 cases 32-35, 37,
39), indexing states and progress, parse failures ending one document in ``error``, status
changes and deletes keeping retrieval consistent, and a crash mid-indexing resuming without
duplicates."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from plait.app.bootstrap import Plait
from plait.storage.db.tables import Document, Segment

from ..conftest import StartPlait
from .knowledge import KnowledgeKey, add_text, create_dataset, knowledge_key, other_workspace_key, wait_indexed

HANDBOOK = (
    "Expense reports are due within thirty days of travel.\n\n"
    "Remote work is allowed two days per week with manager approval.\n\n"
    "The office closes at six in the evening on Fridays.\n\n"
    "Security badges must be worn visibly at all times inside the building."
)
CUSTOM_RULE = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 300, "chunk_overlap": 30},
    },
}
SEMANTIC = {"search_method": "semantic_search", "reranking_enable": False, "top_k": 3, "score_threshold_enabled": False}


@pytest.fixture
async def key(plait: Plait) -> KnowledgeKey:
    return await knowledge_key(plait)


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["message"]
    return body


async def test_create_dataset_and_duplicate_name(client: httpx.AsyncClient, key: KnowledgeKey) -> None:
    response = await client.post("/v1/datasets", headers=key.auth, json={"name": "Handbook"})
    assert response.status_code == 200, response.text
    dataset = response.json()
    assert dataset["name"] == "Handbook"
    assert dataset["indexing_technique"] is None
    assert dataset["permission"] == "only_me"
    assert dataset["document_count"] == 0
    assert dataset["retrieval_model_dict"]["search_method"] == "semantic_search"
    assert isinstance(dataset["created_at"], int)

    again = await client.post("/v1/datasets", headers=key.auth, json={"name": "Handbook"})
    assert_envelope(again, 409, "dataset_name_duplicate")

    listed = (await client.get("/v1/datasets", headers=key.auth, params={"page": 1, "limit": 20})).json()
    assert listed["total"] == 1
    assert listed["page"] == 1
    assert listed["has_more"] is False
    assert [d["id"] for d in listed["data"]] == [dataset["id"]]


async def test_keys_are_checked(client: httpx.AsyncClient, key: KnowledgeKey, plait: Plait) -> None:
    assert (await client.get("/v1/datasets")).status_code == 401
    assert (await client.get("/v1/datasets", headers={"Authorization": "Bearer ds-nope"})).status_code == 401
    other = await other_workspace_key(plait)
    dataset_id = await create_dataset(client, other, "Theirs")
    response = await client.get(f"/v1/datasets/{dataset_id}", headers=key.auth)
    assert_envelope(response, 404, "not_found")
    assert response.json()["message"] == "Dataset not found."


async def test_api_disabled_dataset_is_forbidden(client: httpx.AsyncClient, key: KnowledgeKey, plait: Plait) -> None:
    dataset_id = await create_dataset(client, key)
    async with plait.db.transaction() as session:
        from plait.storage.db.tables import Dataset

        row = await session.get(Dataset, dataset_id)
        assert row is not None
        row.enable_api = False
    response = await client.get(f"/v1/datasets/{dataset_id}", headers=key.auth)
    body = assert_envelope(response, 403, "forbidden")
    assert body["message"] == "Dataset api access is not enabled."


async def test_text_document_walks_the_states_and_is_retrievable(client: httpx.AsyncClient, key: KnowledgeKey) -> None:
    dataset_id = await create_dataset(client, key)
    created = await add_text(client, key, dataset_id, "Handbook", HANDBOOK, process_rule=CUSTOM_RULE)
    assert created["document"]["indexing_status"] == "waiting"
    assert created["document"]["display_status"] == "queuing"
    assert created["batch"]

    seen = await wait_indexed(client, key, dataset_id, created["batch"])
    final = seen[-1]
    assert final["indexing_status"] == "completed", final
    assert final["completed_segments"] == final["total_segments"] == 4
    for stamp in ("processing_started_at", "parsing_completed_at", "splitting_completed_at", "completed_at"):
        assert isinstance(final[stamp], int), stamp
    order = ["waiting", "parsing", "cleaning", "splitting", "indexing", "completed"]
    ranks = [order.index(s["indexing_status"]) for s in seen]
    assert ranks == sorted(ranks)

    document_id = created["document"]["id"]
    detail = (await client.get(f"/v1/datasets/{dataset_id}/documents/{document_id}", headers=key.auth)).json()
    assert detail["segment_count"] == 4
    assert detail["display_status"] == "available"
    assert detail["document_process_rule"]["mode"] == "custom"
    # Stored escaped, as Dify shows it.
    assert detail["document_process_rule"]["rules"]["segmentation"]["separator"] == "\\n\\n"

    found = await client.post(
        f"/v1/datasets/{dataset_id}/retrieve",
        headers=key.auth,
        json={"query": "expense reports", "retrieval_model": SEMANTIC},
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["query"] == {"content": "expense reports"}
    assert 1 <= len(body["records"]) <= 3
    record = body["records"][0]
    assert set(record) >= {"segment", "child_chunks", "score", "tsne_position"}
    assert record["segment"]["document"]["id"] == document_id
    assert record["segment"]["document"]["name"] == "Handbook"
    assert set(record["segment"]) >= {
        "id",
        "position",
        "content",
        "word_count",
        "tokens",
        "index_node_hash",
        "hit_count",
    }

    alias = await client.post(
        f"/v1/datasets/{dataset_id}/hit-testing",
        headers=key.auth,
        json={"query": "expense reports", "retrieval_model": SEMANTIC},
    )
    assert [r["segment"]["id"] for r in alias.json()["records"]] == [r["segment"]["id"] for r in body["records"]]


async def test_full_text_finds_the_passage(client: httpx.AsyncClient, key: KnowledgeKey) -> None:
    dataset_id = await create_dataset(client, key)
    created = await add_text(client, key, dataset_id, "Handbook", HANDBOOK, process_rule=CUSTOM_RULE)
    await wait_indexed(client, key, dataset_id, created["batch"])
    model = {
        "search_method": "full_text_search",
        "reranking_enable": False,
        "top_k": 2,
        "score_threshold_enabled": False,
    }
    body = (
        await client.post(
            f"/v1/datasets/{dataset_id}/retrieve",
            headers=key.auth,
            json={"query": "security badges", "retrieval_model": model},
        )
    ).json()
    assert "Security badges" in body["records"][0]["segment"]["content"]
    assert body["records"][0]["score"] == pytest.approx(1.0)


async def test_retrieve_before_indexing_is_not_initialized(client: httpx.AsyncClient, key: KnowledgeKey) -> None:
    dataset_id = await create_dataset(client, key)
    response = await client.post(f"/v1/datasets/{dataset_id}/retrieve", headers=key.auth, json={"query": "anything"})
    assert_envelope(response, 400, "dataset_not_initialized")


async def test_file_documents_and_unreadable_files(client: httpx.AsyncClient, key: KnowledgeKey) -> None:
    dataset_id = await create_dataset(client, key, indexing_technique="high_quality")
    good = await client.post(
        f"/v1/datasets/{dataset_id}/document/create-by-file",
        headers=key.auth,
        data={"data": '{"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}}'},
        files={"file": ("notes.md", io.BytesIO(b"# Notes\n\nThe launch is on Tuesday."), "text/markdown")},
    )
    assert good.status_code == 200, good.text
    broken = await client.post(
        f"/v1/datasets/{dataset_id}/document/create_by_file",
        headers=key.auth,
        data={"data": '{"process_rule": {"mode": "automatic"}}'},
        files={"file": ("report.pdf", io.BytesIO(b"this is not a PDF at all"), "application/pdf")},
    )
    assert broken.status_code == 200, broken.text
    [good_state] = (await wait_indexed(client, key, dataset_id, good.json()["batch"]))[-1:]
    [broken_state] = (await wait_indexed(client, key, dataset_id, broken.json()["batch"]))[-1:]
    assert good_state["indexing_status"] == "completed"
    assert broken_state["indexing_status"] == "error"
    assert "report.pdf" in broken_state["error"]

    listed = (
        await client.get(f"/v1/datasets/{dataset_id}/documents", headers=key.auth, params={"status": "error"})
    ).json()
    assert [d["id"] for d in listed["data"]] == [broken.json()["document"]["id"]]
    assert listed["data"][0]["display_status"] == "error"

    refused = await client.post(
        f"/v1/datasets/{dataset_id}/document/create-by-file",
        headers=key.auth,
        files={"file": ("tool.exe", io.BytesIO(b"MZ"), "application/octet-stream")},
    )
    assert_envelope(refused, 415, "unsupported_file_type")


async def test_first_document_needs_a_technique(client: httpx.AsyncClient, key: KnowledgeKey) -> None:
    dataset_id = await create_dataset(client, key)
    response = await client.post(
        f"/v1/datasets/{dataset_id}/document/create-by-text", headers=key.auth, json={"name": "a", "text": "b"}
    )
    assert_envelope(response, 400, "invalid_param")
    bad_rule = await client.post(
        f"/v1/datasets/{dataset_id}/document/create-by-text",
        headers=key.auth,
        json={
            "name": "a",
            "text": "b",
            "indexing_technique": "economy",
            "process_rule": {"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 0}}},
        },
    )
    assert_envelope(bad_rule, 400, "invalid_param")


async def test_disable_archive_and_delete_keep_retrieval_consistent(
    client: httpx.AsyncClient, key: KnowledgeKey
) -> None:
    dataset_id = await create_dataset(client, key)
    first = await add_text(client, key, dataset_id, "Travel", "Expense reports are due within thirty days of travel.")
    second = await add_text(client, key, dataset_id, "Office", "The office closes at six in the evening on Fridays.")
    await wait_indexed(client, key, dataset_id, first["batch"])
    await wait_indexed(client, key, dataset_id, second["batch"])
    first_id = first["document"]["id"]
    model = {
        "search_method": "full_text_search",
        "top_k": 5,
        "reranking_enable": False,
        "score_threshold_enabled": False,
    }

    async def documents_found(query: str) -> set[str]:
        response = await client.post(
            f"/v1/datasets/{dataset_id}/retrieve", headers=key.auth, json={"query": query, "retrieval_model": model}
        )
        assert response.status_code == 200, response.text
        return {r["segment"]["document"]["id"] for r in response.json()["records"]}

    assert first_id in await documents_found("expense reports travel")
    for action, visible in (("disable", False), ("enable", True), ("archive", False), ("un_archive", True)):
        response = await client.patch(
            f"/v1/datasets/{dataset_id}/documents/status/{action}", headers=key.auth, json={"document_ids": [first_id]}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success"}
        assert (first_id in await documents_found("expense reports travel")) is visible, action

    deleted = await client.delete(f"/v1/datasets/{dataset_id}/documents/{first_id}", headers=key.auth)
    assert deleted.status_code == 204
    assert await documents_found("expense reports travel") == set()
    assert (await client.get(f"/v1/datasets/{dataset_id}/documents/{first_id}", headers=key.auth)).status_code == 404


async def test_update_by_text_replaces_segments(client: httpx.AsyncClient, key: KnowledgeKey, plait: Plait) -> None:
    dataset_id = await create_dataset(client, key)
    created = await add_text(
        client, key, dataset_id, "Notes", "Alpha paragraph.\n\nBeta paragraph.", process_rule=CUSTOM_RULE
    )
    await wait_indexed(client, key, dataset_id, created["batch"])
    document_id = created["document"]["id"]
    updated = await client.post(
        f"/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text",
        headers=key.auth,
        json={"name": "Notes", "text": "Gamma paragraph only."},
    )
    assert updated.status_code == 200, updated.text
    await wait_indexed(client, key, dataset_id, updated.json()["batch"])
    async with plait.db.reader() as session:
        contents = list(
            (await session.execute(select(Segment.content).where(Segment.document_id == document_id))).scalars()
        )
    assert contents == ["Gamma paragraph only."]
    collection = await plait.index.collection(dataset_id)
    assert await collection.count() == 1


async def test_dataset_delete_refused_while_indexing_then_allowed(
    client: httpx.AsyncClient, key: KnowledgeKey, plait: Plait
) -> None:
    dataset_id = await create_dataset(client, key)
    created = await add_text(client, key, dataset_id, "Notes", HANDBOOK)
    await wait_indexed(client, key, dataset_id, created["batch"])
    response = await client.delete(f"/v1/datasets/{dataset_id}", headers=key.auth)
    assert response.status_code == 204, response.text
    assert (await client.get(f"/v1/datasets/{dataset_id}", headers=key.auth)).status_code == 404


class Crash(BaseException):
    """The process dying: not an error the job may catch."""


async def test_crash_mid_indexing_resumes_without_duplicates(start_plait: StartPlait) -> None:
    """A process stops after some segments were indexed; the next one resumes the document
    and ends with each segment once, in the database and in the index."""
    plait, client = await start_plait()
    key = await knowledge_key(plait)
    dataset_id = await create_dataset(client, key)
    text = "\n\n".join(f"Paragraph {i} talks about topic number {i}." for i in range(150))
    rule = {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 50, "chunk_overlap": 0}}}

    # Stop the job after its first batch: the process "dies" with the document in indexing.
    original = plait.indexing._index_segments
    batches: list[int] = []

    async def crash_after_first_batch(document_id: str, dataset: Any, started: float) -> None:
        collection = await plait.index.collection(dataset.id)
        real_upsert = collection.upsert

        async def upsert(entries: Any) -> None:
            await real_upsert(entries)
            batches.append(len(entries))
            raise Crash("simulated crash")

        collection.upsert = upsert  # type: ignore[method-assign]
        try:
            await original(document_id, dataset, started)
        finally:
            collection.upsert = real_upsert  # type: ignore[method-assign]

    plait.indexing._index_segments = crash_after_first_batch  # type: ignore[method-assign]
    plait.indexing.queue.put = lambda _document_id: None  # type: ignore[method-assign]  # run it here instead
    created = await add_text(client, key, dataset_id, "Long", text, process_rule=rule)
    with pytest.raises(Crash):
        await plait.indexing.index_document(created["document"]["id"])
    plait.indexing._index_segments = original  # type: ignore[method-assign]
    await plait.indexing.queue.close()
    async with plait.db.reader() as session:
        document = await session.get(Document, created["document"]["id"])
        assert document is not None
        assert document.indexing_status == "indexing"
        completed = (
            await session.execute(
                select(func.count()).where(Segment.document_id == document.id, Segment.status == "completed")
            )
        ).scalar_one()
    assert batches
    assert completed == 0

    restarted, _client2 = await start_plait()
    await restarted.indexing.queue.drain()
    async with restarted.db.reader() as session:
        document = await session.get(Document, created["document"]["id"])
        assert document is not None
        assert document.indexing_status == "completed", document.error
        rows = list(
            (
                await session.execute(
                    select(Segment.position, Segment.status).where(Segment.document_id == document.id)
                )
            ).all()
        )
    assert len(rows) == 150
    assert sorted(p for p, _ in rows) == list(range(1, 151))
    assert {s for _, s in rows} == {"completed"}
    collection = await restarted.index.collection(dataset_id)
    assert await collection.count() == 150
