"""Files given to runs through the Service API: uploads (only the uploader's own), lists of
files, remote URLs through the egress, ``sys.files``, and the document-extractor node
turning them into text — or failing with the parser's reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait

from ..conftest import StartPlait
from ..rag.builders import encrypted_pdf, pdf, word
from .test_service_workflows import Published, assert_envelope, publish

UPLOAD = "/v1/files/upload"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def extractor_app(file_type: str) -> dict[str, Any]:
    return {
        "version": "0.3.0",
        "kind": "app",
        "app": {"name": "Extractor", "mode": "workflow"},
        "workflow": {
            "graph": {
                "nodes": [
                    {
                        "id": "start",
                        "data": {
                            "type": "start",
                            "title": "Start",
                            "variables": [
                                {
                                    "variable": "doc",
                                    "type": file_type,
                                    "required": True,
                                    "allowed_file_types": ["document"],
                                    "allowed_file_upload_methods": ["local_file", "remote_url"],
                                }
                            ],
                        },
                    },
                    {
                        "id": "extract",
                        "data": {
                            "type": "document-extractor",
                            "title": "Extract",
                            "variable_selector": ["start", "doc"],
                        },
                    },
                    {
                        "id": "end",
                        "data": {
                            "type": "end",
                            "title": "End",
                            "outputs": [
                                {"variable": "text", "value_selector": ["extract", "text"]},
                                {"variable": "files", "value_selector": ["sys", "files"]},
                            ],
                        },
                    },
                ],
                "edges": [{"source": "start", "target": "extract"}, {"source": "extract", "target": "end"}],
            }
        },
    }


async def _published(plait: Plait, file_type: str) -> Published:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, extractor_app(file_type), setup.workspace_id)


@pytest.fixture
async def single(plait: Plait) -> Published:
    return await _published(plait, "file")


async def upload(client: httpx.AsyncClient, app: Published, user: str, name: str, content: bytes, mime: str) -> str:
    response = await client.post(UPLOAD, headers=app.auth, files={"file": (name, content, mime)}, data={"user": user})
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


def local(file_id: str) -> dict[str, str]:
    return {"type": "document", "transfer_method": "local_file", "upload_file_id": file_id}


async def run(client: httpx.AsyncClient, app: Published, user: str, inputs: dict[str, Any], **body: Any) -> Any:
    return await client.post("/v1/workflows/run", headers=app.auth, json={"inputs": inputs, "user": user, **body})


async def test_an_uploaded_document_becomes_text(client: httpx.AsyncClient, single: Published) -> None:
    content = word(lambda d: (d.add_heading("Leave policy", 1), d.add_paragraph("Everyone gets 25 days.")))
    file_id = await upload(client, single, "alice", "policy.docx", content, DOCX)
    response = await run(client, single, "alice", {"doc": local(file_id)})
    data = response.json()["data"]
    assert data["status"] == "succeeded", data["error"]
    assert "Leave policy" in data["outputs"]["text"]
    assert "25 days" in data["outputs"]["text"]
    assert data["outputs"]["files"] == []


async def test_another_users_upload_is_not_found(client: httpx.AsyncClient, single: Published) -> None:
    file_id = await upload(client, single, "alice", "policy.docx", word(), DOCX)
    assert_envelope(await run(client, single, "bob", {"doc": local(file_id)}), 404, "file_not_found")


async def test_bad_file_inputs_are_refused_before_running(client: httpx.AsyncClient, single: Published) -> None:
    assert_envelope(await run(client, single, "alice", {"doc": "not a file"}), 400, "invalid_param")
    bad_method = {"type": "document", "transfer_method": "carrier_pigeon"}
    assert_envelope(await run(client, single, "alice", {"doc": bad_method}), 400, "invalid_param")
    picture = await upload(client, single, "alice", "cat.png", b"\x89PNG\r\n\x1a\n", "image/png")
    image = {"type": "image", "transfer_method": "local_file", "upload_file_id": picture}
    refused = assert_envelope(await run(client, single, "alice", {"doc": image}), 400, "invalid_param")
    assert "does not take files of type image" in refused["message"]


async def test_an_encrypted_pdf_fails_the_run_with_the_reason(client: httpx.AsyncClient, single: Published) -> None:
    locked = encrypted_pdf(pdf(["secret"]), user_password="pw")
    file_id = await upload(client, single, "alice", "locked.pdf", locked, "application/pdf")
    data = (await run(client, single, "alice", {"doc": local(file_id)})).json()["data"]
    assert data["status"] == "failed"
    assert "locked.pdf is encrypted" in data["error"]


async def test_a_list_of_files_gives_a_list_of_texts(client: httpx.AsyncClient, plait: Plait) -> None:
    app = await _published(plait, "file-list")
    first = await upload(client, app, "alice", "a.pdf", pdf(["First page of A"]), "application/pdf")
    second = await upload(client, app, "alice", "b.txt", "第二个文件".encode(), "text/plain")
    files = [local(first), local(second)]
    legacy = [{"type": "image", "transfer_method": "remote_url", "url": "https://example.com/cat.png"}]
    data = (await run(client, app, "alice", {"doc": files}, files=legacy)).json()["data"]
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["text"] == ["First page of A", "第二个文件"]
    sys_files = data["outputs"]["files"]
    assert [(f["type"], f["transfer_method"], f["filename"]) for f in sys_files] == [("image", "remote_url", "cat.png")]


@pytest.fixture
async def page_server() -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"Remote notes: the office opens at nine."
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/notes.txt"
    server.close()
    await server.wait_closed()


async def test_a_remote_file_is_fetched_through_the_egress(start_plait: StartPlait, page_server: str) -> None:
    plait, http = await start_plait(PLAIT_EGRESS_ALLOW_LOOPBACK="true")
    app = await _published(plait, "file")
    remote = {"type": "document", "transfer_method": "remote_url", "url": page_server}
    data = (await run(http, app, "alice", {"doc": remote})).json()["data"]
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["text"] == "Remote notes: the office opens at nine."


async def test_a_remote_file_on_a_refused_address_fails_the_run(
    client: httpx.AsyncClient, single: Published, page_server: str
) -> None:
    remote = {"type": "document", "transfer_method": "remote_url", "url": page_server}
    data = (await run(client, single, "alice", {"doc": remote})).json()["data"]
    assert data["status"] == "failed"
    assert "cannot be fetched" in data["error"]
