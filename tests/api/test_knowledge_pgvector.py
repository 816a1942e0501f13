"""The scaled-out shape of knowledge bases: the same Knowledge API with
``VECTOR_STORE=pgvector`` (PostgreSQL with pgvector, HNSW and full text), by configuration
alone. The metadata database is this test's own (SQLite or PostgreSQL)."""

from __future__ import annotations

from ..conftest import StartPlait
from .knowledge import add_text, create_dataset, knowledge_key, wait_indexed

TEXT = (
    "Expense reports are due within thirty days of travel.\n\n"
    "The office closes at six in the evening on Fridays.\n\n"
    "使用向量数据库进行检索可以找到相关的段落。"
)
RULE = {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 200, "chunk_overlap": 0}}}


async def test_knowledge_api_on_pgvector(start_plait: StartPlait, pgvector_url: str) -> None:
    plait, client = await start_plait(VECTOR_STORE="pgvector", PGVECTOR_URL=pgvector_url)
    assert type(plait.index).__name__ == "PgVectorIndexStore"
    key = await knowledge_key(plait)
    dataset_id = await create_dataset(client, key)
    created = await add_text(client, key, dataset_id, "Handbook", TEXT, process_rule=RULE)
    [state] = (await wait_indexed(client, key, dataset_id, created["batch"]))[-1:]
    assert state["indexing_status"] == "completed", state
    assert state["total_segments"] == 3

    async def top(query: str, method: str) -> str:
        model = {"search_method": method, "reranking_enable": False, "top_k": 1, "score_threshold_enabled": False}
        response = await client.post(
            f"/v1/datasets/{dataset_id}/retrieve", headers=key.auth, json={"query": query, "retrieval_model": model}
        )
        assert response.status_code == 200, response.text
        content: str = response.json()["records"][0]["segment"]["content"]
        return content

    assert "office closes" in await top("office closes fridays", "full_text_search")
    assert "向量" in await top("向量", "full_text_search")
    assert "Expense" in await top("Expense reports are due within thirty days of travel.", "semantic_search")
    assert "Expense" in await top("expense reports", "hybrid_search")

    document_id = created["document"]["id"]
    disabled = await client.patch(
        f"/v1/datasets/{dataset_id}/documents/status/disable", headers=key.auth, json={"document_ids": [document_id]}
    )
    assert disabled.status_code == 200
    model = {"search_method": "full_text_search", "top_k": 3}
    found = await client.post(
        f"/v1/datasets/{dataset_id}/retrieve", headers=key.auth, json={"query": "office", "retrieval_model": model}
    )
    assert found.json()["records"] == []
    assert (
        await client.delete(f"/v1/datasets/{dataset_id}/documents/{document_id}", headers=key.auth)
    ).status_code == 204
    assert await (await plait.index.collection(dataset_id)).count() == 0
