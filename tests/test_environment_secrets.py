"""Secret environment variables are sealed at rest, open only for runs and for exports
that ask for secrets, and keep their value when the console sends them back hidden."""

from __future__ import annotations

from typing import Any

import httpx
import yaml
from sqlalchemy import select

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import AppVersion

from .api.test_service_workflows import publish

SECRET = "sk-live-5f0c7e1d2a9b"


def app_with_secret() -> dict[str, Any]:
    return {
        "version": "0.3.0",
        "kind": "app",
        "app": {"name": "Secretive", "mode": "workflow"},
        "workflow": {
            "environment_variables": [
                {"name": "API_KEY", "value_type": "secret", "value": SECRET, "id": "v1"},
                {"name": "REGION", "value_type": "string", "value": "eu", "id": "v2"},
            ],
            "conversation_variables": [],
            "graph": {
                "nodes": [
                    {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
                    {
                        "id": "show",
                        "data": {
                            "type": "template-transform",
                            "title": "Show",
                            "template": "{{ key }}@{{ region }}",
                            "variables": [
                                {"variable": "key", "value_selector": ["env", "API_KEY"]},
                                {"variable": "region", "value_selector": ["env", "REGION"]},
                            ],
                        },
                    },
                    {
                        "id": "end",
                        "data": {
                            "type": "end",
                            "title": "End",
                            "outputs": [{"variable": "out", "value_selector": ["show", "output"]}],
                        },
                    },
                ],
                "edges": [{"source": "start", "target": "show"}, {"source": "show", "target": "end"}],
            },
        },
    }


async def stored_values(plait: Plait, app_id: str) -> list[str]:
    async with plait.db.reader() as session:
        versions = (await session.execute(select(AppVersion).where(AppVersion.app_id == app_id))).scalars().all()
    return [
        var["value"]
        for version in versions
        for var in (version.workflow or {}).get("environment_variables", [])
        if var["name"] == "API_KEY"
    ]


async def test_secrets_are_sealed_at_rest_and_open_for_runs(plait: Plait, client: httpx.AsyncClient) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, app_with_secret(), setup.workspace_id)
    values = await stored_values(plait, app.app_id)
    assert len(values) == 2  # the draft and the published version
    assert all(value.startswith("plait:v1:") and SECRET not in value for value in values)

    run = await client.post("/v1/workflows/run", headers=app.auth, json={"inputs": {}, "user": "u"})
    assert run.json()["data"]["outputs"] == {"out": f"{SECRET}@eu"}

    plain = yaml.safe_load(await plait.apps.export_dsl(setup.workspace_id, app.app_id))
    assert plain["workflow"]["environment_variables"][0]["value"] == ""
    full = yaml.safe_load(await plait.apps.export_dsl(setup.workspace_id, app.app_id, include_secrets=True))
    assert full["workflow"]["environment_variables"][0]["value"] == SECRET


async def test_a_hidden_secret_sent_back_keeps_its_value(plait: Plait, client: httpx.AsyncClient) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, app_with_secret(), setup.workspace_id)
    edited = app_with_secret()["workflow"]
    edited["environment_variables"][0]["value"] = "[__HIDDEN__]"
    edited["environment_variables"][1]["value"] = "us"
    await plait.apps.save_draft(setup.workspace_id, CLI, app.app_id, edited)
    await plait.apps.publish(setup.workspace_id, CLI, app.app_id)
    run = await client.post("/v1/workflows/run", headers=app.auth, json={"inputs": {}, "user": "u"})
    assert run.json()["data"]["outputs"] == {"out": f"{SECRET}@us"}


async def test_a_sealed_value_does_not_open_in_another_app(plait: Plait) -> None:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    first = await publish(plait, app_with_secret(), setup.workspace_id)
    stolen = (await stored_values(plait, first.app_id))[0]
    copied = app_with_secret()
    copied["workflow"]["environment_variables"][0]["value"] = stolen
    second = await publish(plait, copied, setup.workspace_id)
    result = await plait.apps.export_dsl(setup.workspace_id, second.app_id, include_secrets=True)
    # The copied ciphertext is kept as it is (sealed values are not re-sealed) and cannot be read.
    assert SECRET not in result
