"""File upload and preview through the Service API, with Dify's error codes."""

from __future__ import annotations

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait

from ..conftest import StartPlait
from .test_service_workflows import WORKFLOW_APP, Published, assert_envelope, publish

UPLOAD = "/v1/files/upload"


@pytest.fixture
async def app(plait: Plait) -> Published:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, WORKFLOW_APP, setup.workspace_id)


async def test_upload_and_preview(client: httpx.AsyncClient, app: Published, plait: Plait) -> None:
    files = {"file": ("notes.txt", b"remember the milk", "text/plain")}
    response = await client.post(UPLOAD, headers=app.auth, files=files, data={"user": "alice"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["size"], body["extension"], body["mime_type"]) == ("notes.txt", 17, "txt", "text/plain")
    assert body["tenant_id"] == app.workspace_id
    preview = await client.get(body["preview_url"], headers=app.auth)
    assert preview.content == b"remember the milk"
    assert preview.headers["content-type"].startswith("text/plain")
    download = await client.get(body["preview_url"], headers=app.auth, params={"as_attachment": "true"})
    assert download.headers["content-disposition"] == 'attachment; filename="notes.txt"'
    stored = list((plait.settings.data_dir / "files" / "uploads").rglob("*.txt"))
    assert [path.read_bytes() for path in stored] == [b"remember the milk"]


async def test_upload_errors(client: httpx.AsyncClient, app: Published) -> None:
    headers = app.auth
    assert_envelope(
        await client.post(UPLOAD, headers=headers, data={"user": "a"}, files={"other": ("x.txt", b"x")}),
        400,
        "no_file_uploaded",
    )
    two = [("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
    assert_envelope(await client.post(UPLOAD, headers=headers, data={"user": "a"}, files=two), 400, "too_many_files")
    one = {"file": ("a.txt", b"a", "text/plain")}
    missing_user = await client.post(UPLOAD, headers=headers, files=one)
    assert assert_envelope(missing_user, 400, "invalid_param")["message"] == "Arg user must be provided."
    executable = {"file": ("setup.exe", b"MZ", "application/octet-stream")}
    assert_envelope(
        await client.post(UPLOAD, headers=headers, data={"user": "a"}, files=executable), 400, "invalid_param"
    )


async def test_too_large_uploads_are_refused(start_plait: StartPlait) -> None:
    plait, http = await start_plait(UPLOAD_FILE_SIZE_LIMIT="1")
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, WORKFLOW_APP, setup.workspace_id)
    big = {"file": ("big.bin", b"x" * (1024 * 1024 + 1), "application/octet-stream")}
    response = await http.post(UPLOAD, headers=app.auth, data={"user": "a"}, files=big)
    assert_envelope(response, 413, "file_too_large")


async def test_another_apps_files_are_not_found(client: httpx.AsyncClient, app: Published, plait: Plait) -> None:
    uploaded = (
        await client.post(
            UPLOAD, headers=app.auth, data={"user": "a"}, files={"file": ("a.txt", b"secret", "text/plain")}
        )
    ).json()
    other = await publish(plait, WORKFLOW_APP, app.workspace_id)
    assert_envelope(await client.get(uploaded["preview_url"], headers=other.auth), 404, "file_not_found")
    assert_envelope(await client.get("/v1/files/nope/preview", headers=app.auth), 404, "file_not_found")
