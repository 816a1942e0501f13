"""``STORAGE_TYPE=s3``: a file uploaded through the Service API lands in the bucket, not the
data directory, and its preview reads the same bytes back from there."""

from __future__ import annotations

import boto3

from plait.app.audit import CLI

from ..conformance.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from ..conftest import StartPlait
from .test_service_workflows import WORKFLOW_APP, publish

UPLOAD = "/v1/files/upload"


async def test_uploads_round_trip_through_the_bucket(start_plait: StartPlait, s3: S3Server) -> None:
    bucket = s3.create_bucket()
    plait, http = await start_plait(
        STORAGE_TYPE="s3",
        S3_ENDPOINT=s3.endpoint,
        S3_BUCKET_NAME=bucket,
        S3_ACCESS_KEY=ACCESS_KEY,
        S3_SECRET_KEY=SECRET_KEY,
        S3_REGION=REGION,
        S3_ADDRESS_STYLE="path",
    )
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, WORKFLOW_APP, setup.workspace_id)
    data = bytes(range(256)) * 64
    files = {"file": ("table.bin", data, "application/octet-stream")}
    response = await http.post(UPLOAD, headers=app.auth, files=files, data={"user": "alice"})
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(data)

    preview = await http.get(response.json()["preview_url"], headers=app.auth)
    assert preview.status_code == 200, preview.text
    assert preview.content == data

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    try:
        stored = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert len(stored) == 1, stored
        assert client.get_object(Bucket=bucket, Key=stored[0])["Body"].read() == data
    finally:
        client.close()
    assert not (plait.settings.data_dir / "files").exists()
