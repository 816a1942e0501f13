"""Files through the Knowledge API: every supported format, made by the tests, indexes and is
found; every kind of unreadable file (encrypted, corrupt, empty, too large, another type
behind the extension, a scan with no text) ends its own document in ``error`` with the
reason, and the documents uploaded beside it are indexed as usual."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest

from plait.app.bootstrap import Plait
from plait.app.file_links import FileLinks, LinkExpired

from ..conftest import StartPlait
from ..rag.builders import encrypted_pdf, image_only_pdf, pdf, presentation, word, workbook
from .knowledge import KnowledgeKey, create_dataset, knowledge_key, wait_indexed

WORD = "zephyrine"  # an unusual word each readable file holds, for full-text search
FULL_TEXT = {
    "search_method": "full_text_search",
    "reranking_enable": False,
    "top_k": 10,
    "score_threshold_enabled": False,
}


def readable_files() -> dict[str, tuple[bytes, str]]:
    sentence = f"The {WORD} policy covers travel."
    return {
        "notes.txt": (sentence.encode(), "text/plain"),
        "notes.md": (f"# Title\n\n{sentence}".encode(), "text/markdown"),
        "page.html": (f"<html><body><p>{sentence}</p></body></html>".encode(), "text/html"),
        "table.csv": (f"topic,text\npolicy,{sentence}\n".encode(), "text/csv"),
        "data.json": (json.dumps({"policy": sentence}).encode(), "application/json"),
        "report.pdf": (pdf([sentence]), "application/pdf"),
        "letter.docx": (word(lambda d: d.add_paragraph(sentence)), "application/octet-stream"),
        "sheet.xlsx": (workbook({"Policies": [["text"], [sentence]]}), "application/octet-stream"),
        "slides.pptx": (presentation([("Policy", sentence)]), "application/octet-stream"),
    }


def unreadable_files() -> dict[str, tuple[bytes, str]]:
    return {
        "locked.pdf": (encrypted_pdf(pdf(["secret"]), user_password="pw"), "password"),
        "broken.docx": (b"PK\x03\x04 this is no zip archive", "damaged"),
        "empty.txt": (b"", "empty"),
        "disguised.pdf": (b"<html><body>not a pdf</body></html>", "not a PDF"),
        "scan.pdf": (image_only_pdf(), "No text"),
    }


@pytest.fixture
async def key(plait: Plait) -> KnowledgeKey:
    return await knowledge_key(plait)


async def _upload(client: httpx.AsyncClient, key: KnowledgeKey, dataset_id: str, name: str, content: bytes) -> str:
    response = await client.post(
        f"/v1/datasets/{dataset_id}/document/create-by-file",
        headers=key.auth,
        data={"data": json.dumps({"indexing_technique": "high_quality", "process_rule": {"mode": "automatic"}})},
        files={"file": (name, content, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    batch: str = response.json()["batch"]
    return batch


async def test_every_format_indexes_and_bad_files_fail_alone(
    client: httpx.AsyncClient, plait: Plait, key: KnowledgeKey
) -> None:
    dataset_id = await create_dataset(client, key)
    batches = {}
    for name, (content, _mime) in readable_files().items():
        batches[name] = await _upload(client, key, dataset_id, name, content)
    for name, (content, _reason) in unreadable_files().items():
        batches[name] = await _upload(client, key, dataset_id, name, content)

    states = {name: (await wait_indexed(client, key, dataset_id, batch))[-1] for name, batch in batches.items()}
    for name in readable_files():
        assert states[name]["indexing_status"] == "completed", (name, states[name])
    for name, (_content, reason) in unreadable_files().items():
        assert states[name]["indexing_status"] == "error", (name, states[name])
        assert name in states[name]["error"], states[name]
        assert reason.lower() in states[name]["error"].lower(), states[name]

    found = await client.post(
        f"/v1/datasets/{dataset_id}/retrieve", headers=key.auth, json={"query": WORD, "retrieval_model": FULL_TEXT}
    )
    names = {record["segment"]["document"]["name"] for record in found.json()["records"]}
    assert names == set(readable_files())


async def test_too_large_files_are_refused_before_anything_is_stored(start_plait: StartPlait) -> None:
    plait, client = await start_plait(UPLOAD_FILE_SIZE_LIMIT="1")
    key = await knowledge_key(plait)
    dataset_id = await create_dataset(client, key)
    limit = plait.documents.max_file_bytes
    response = await client.post(
        f"/v1/datasets/{dataset_id}/document/create-by-file",
        headers=key.auth,
        data={"data": json.dumps({"indexing_technique": "economy"})},
        files={"file": ("big.txt", b"a" * (limit + 1), "text/plain")},
    )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "file_too_large"
    listed = (await client.get(f"/v1/datasets/{dataset_id}/documents", headers=key.auth)).json()
    assert listed["total"] == 0


async def test_documents_download_through_signed_links(
    client: httpx.AsyncClient, plait: Plait, key: KnowledgeKey
) -> None:
    dataset_id = await create_dataset(client, key)
    first = await _upload(client, key, dataset_id, "notes.txt", b"first file")
    second = await _upload(client, key, dataset_id, "notes.txt", b"second file")
    documents = (await client.get(f"/v1/datasets/{dataset_id}/documents", headers=key.auth)).json()["data"]
    assert len(documents) == 2
    assert first != second
    document_id = documents[-1]["id"]  # the first one added

    link = await client.get(f"/v1/datasets/{dataset_id}/documents/{document_id}/download", headers=key.auth)
    assert link.status_code == 200, link.text
    url = link.json()["url"]
    assert url.startswith("/files/")
    assert "sign=" in url
    fetched = await client.get(url)  # no key: the link is the credential
    assert fetched.status_code == 200
    assert fetched.content == b"first file"
    assert "notes.txt" in fetched.headers["content-disposition"]

    tampered = await client.get(url.replace("sign=", "sign=x"))
    assert tampered.status_code == 403
    assert tampered.json()["code"] == "file_access_denied"
    other_file = url.replace(url.split("/")[2], "01a23000-0000-7000-8000-000000000000")
    assert (await client.get(other_file)).status_code == 403

    archive = await client.post(
        f"/v1/datasets/{dataset_id}/documents/download-zip",
        headers=key.auth,
        json={"document_ids": [d["id"] for d in documents]},
    )
    assert archive.status_code == 200, archive.text
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        contents = {name: bundle.read(name) for name in bundle.namelist()}
    assert sorted(contents.values()) == [b"first file", b"second file"]
    assert set(contents) == {"notes.txt", "notes (2).txt"}


def test_file_links_expire() -> None:
    links = FileLinks("a-secret-key-for-tests", ttl_seconds=300)
    url = links.url("f1", now=1_000_000)
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    links.check("f1", timestamp=query["timestamp"], nonce=query["nonce"], sign=query["sign"], now=1_000_299)
    with pytest.raises(LinkExpired):
        links.check("f1", timestamp=query["timestamp"], nonce=query["nonce"], sign=query["sign"], now=1_000_301)
    with pytest.raises(LinkExpired):
        links.check("f2", timestamp=query["timestamp"], nonce=query["nonce"], sign=query["sign"], now=1_000_001)
    other = FileLinks("another-secret-key", ttl_seconds=300)
    with pytest.raises(LinkExpired):
        other.check("f1", timestamp=query["timestamp"], nonce=query["nonce"], sign=query["sign"], now=1_000_001)
