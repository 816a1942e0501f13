"""Liveness and readiness probes."""

from __future__ import annotations

import httpx


async def test_health_answers_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["pid"], int)
    assert body["version"]


async def test_ready_reports_database_and_schema(client: httpx.AsyncClient, database_url: str) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert body["schema_revision"]
