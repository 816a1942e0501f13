"""Ingestion benchmark of knowledge bases on the embedded default, end to end through the
Knowledge API, against the embedding model's raw throughput on the same texts.

Run with the project venv: ``.venv/bin/python bench/knowledge_ingest.py`` (``--help``).

1. ``pipeline``: documents of several paragraphs are added with ``create-by-text`` through
   the HTTP app (in process, over ASGI) to a fresh Plait on SQLite with the offline local
   embedding model, and timed from the first request until every document is
   ``completed``: parsing, cleaning, splitting, embedding, the index and every database
   write included. Then the very texts Plait indexed (its segments) are embedded directly
   by the same model in batches (``raw``), in the same process. The ratio of segments per
   second (pipeline / raw) is what the pipeline costs beyond the model (target >= 0.8).
2. ``bulk``: ``--bulk`` one-line texts, each its own document, uploaded through the API
   with ``--clients`` concurrent clients (Dify issue #13138: a 30,000-text upload); the
   time until all are uploaded and until all are indexed is reported.

Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from plait.api.server import create_app
from plait.app import bootstrap
from plait.app.audit import CLI
from plait.settings import load_settings
from plait.storage.db.tables import Document, Segment

VOCABULARY = (
    "account action answer api archive backup balance batch billing branch budget cache calendar "
    "campaign capacity channel checkout client cluster config contract cost customer dashboard database "
    "deadline delivery deploy device discount document domain employee engine error event expense export "
    "feature feedback file filter forecast gateway guide holiday incident index inventory invoice issue "
    "job key language latency lease license limit log manager market meeting metric migration model "
    "monitor network node notice office onboarding order owner package partner password payment payroll "
    "permission plan policy price printer priority process product profile project quota queue rate "
    "record refund region release report request retention review risk role route salary schedule schema "
    "search security server service session shipment signal storage subscription supplier support survey "
    "system task team template tenant ticket token training transfer travel trial upgrade upload user "
    "vacation vendor version warehouse webhook window workflow workspace "
)
WORDS = VOCABULARY.split()


def paragraph(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return body[0].upper() + body[1:] + "."


def document_text(rng: random.Random, paragraphs: int) -> str:
    return "\n\n".join(paragraph(rng, rng.randint(40, 90)) for _ in range(paragraphs))


RULE = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "segmentation": {"separator": "\\n\\n", "max_tokens": 500, "chunk_overlap": 0},
    },
}


async def _plait(data_dir: Path, *, model: str = "local") -> Any:
    os.environ.update(
        {
            "PLAIT_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "PLAIT_LOG_FORMAT": "json",
            # "fake": hashed 64-d vectors, to measure what Plait itself costs at this volume.
            "PLAIT_MODEL_OVERRIDE": "fake" if model == "fake" else "",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    settings = load_settings()
    plait = await bootstrap.start(settings)
    setup = await plait.accounts.setup(
        email="bench@example.com", password="bench-passw0rd", name="Bench", workspace_name=None, actor=CLI
    )
    key = await plait.keys.create(setup.workspace_id, CLI, kind="dataset")
    transport = httpx.ASGITransport(app=create_app(settings, plait=plait))
    client = httpx.AsyncClient(
        transport=transport, base_url="http://plait.bench", headers={"Authorization": f"Bearer {key.token}"}
    )
    return plait, client, setup.workspace_id


async def _dataset(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/v1/datasets", json={"name": name, "indexing_technique": "high_quality"})
    response.raise_for_status()
    return str(response.json()["id"])


async def _upload(client: httpx.AsyncClient, dataset_id: str, texts: list[str], clients: int) -> None:
    queue = list(enumerate(texts))

    async def worker() -> None:
        while queue:
            index, text = queue.pop()
            response = await client.post(
                f"/v1/datasets/{dataset_id}/document/create-by-text",
                json={"name": f"doc-{index}", "text": text, "process_rule": RULE},
            )
            response.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(clients)))


async def _wait_completed(plait: Any, dataset_id: str, count: int) -> None:
    await plait.indexing.queue.drain()
    async with plait.db.reader() as session:
        rows = list(
            (await session.execute(select(Document.indexing_status).where(Document.dataset_id == dataset_id))).scalars()
        )
    if len(rows) != count or set(rows) != {"completed"}:
        raise SystemExit(f"indexing did not complete: {len(rows)} documents, states {sorted(set(rows))}")


async def pipeline(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    plait, client, workspace_id = await _plait(data_dir / "pipeline")
    try:
        rng = random.Random(7)
        texts = [document_text(rng, args.paragraphs) for _ in range(args.documents)]
        # Load the model before the clock starts: a first call pays the ONNX session's start.
        dataset_id = await _dataset(client, "warm-up")
        await _upload(client, dataset_id, texts[:2], 1)
        await _wait_completed(plait, dataset_id, 2)

        dataset_id = await _dataset(client, "bench")
        started = time.perf_counter()
        await _upload(client, dataset_id, texts, args.clients)
        await _wait_completed(plait, dataset_id, len(texts))
        elapsed = time.perf_counter() - started
        async with plait.db.reader() as session:
            segments = list(
                (await session.execute(select(Segment.content).where(Segment.dataset_id == dataset_id))).scalars()
            )
        dataset = await plait.datasets.get(workspace_id, dataset_id)
        model = await plait.models.embedding_model(
            workspace_id, dataset.embedding_model_provider or "", dataset.embedding_model or ""
        )
        batch = plait.settings.knowledge.embedding_batch_size
        raw_started = time.perf_counter()
        for start in range(0, len(segments), batch):
            await model.embed(segments[start : start + batch], input_type="document")
        raw = time.perf_counter() - raw_started
    finally:
        await client.aclose()
        await plait.close()
    pipeline_rate = len(segments) / elapsed
    raw_rate = len(segments) / raw
    return [
        {
            "bench": "knowledge_ingest",
            "measure": "pipeline",
            "documents": len(texts),
            "segments": len(segments),
            "seconds": round(elapsed, 2),
            "documents_per_s": round(len(texts) / elapsed, 1),
            "segments_per_s": round(pipeline_rate, 1),
            "raw_embedding_texts_per_s": round(raw_rate, 1),
            "ratio": round(pipeline_rate / raw_rate, 3),
            "target_ratio": 0.8,
            "model": dataset.embedding_model,
        }
    ]


async def bulk(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    plait, client, _workspace_id = await _plait(data_dir / "bulk", model=args.bulk_model)
    try:
        rng = random.Random(11)
        texts = [paragraph(rng, rng.randint(8, 30)) for _ in range(args.bulk)]
        dataset_id = await _dataset(client, "bulk")
        started = time.perf_counter()
        await _upload(client, dataset_id, texts, args.clients)
        uploaded = time.perf_counter() - started
        await _wait_completed(plait, dataset_id, len(texts))
        indexed = time.perf_counter() - started
    finally:
        await client.aclose()
        await plait.close()
    return [
        {
            "bench": "knowledge_ingest",
            "measure": "bulk_upload",
            "texts": len(texts),
            "clients": args.clients,
            "model": args.bulk_model,
            "upload_seconds": round(uploaded, 1),
            "uploads_per_s": round(len(texts) / uploaded, 1),
            "all_indexed_seconds": round(indexed, 1),
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--documents", type=int, default=100, help="documents in the pipeline run")
    parser.add_argument("--paragraphs", type=int, default=10, help="paragraphs (segments) per document")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--bulk", type=int, default=30_000, help="one-line texts in the bulk upload (0 to skip)")
    parser.add_argument(
        "--bulk-model",
        choices=("local", "fake"),
        default="local",
        help="embedding model of the bulk upload: the offline local one, or fake vectors (Plait's own cost)",
    )
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="plait-ingest-") as tmp:
            results = [] if args.skip_pipeline else await pipeline(args, Path(tmp))
            if args.bulk:
                results += await bulk(args, Path(tmp))
        for line in results:
            print(json.dumps(line))

    asyncio.run(run())


if __name__ == "__main__":
    main()
