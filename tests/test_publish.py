"""Publishing an app, on SQLite and PostgreSQL.

Proves that publishing copies the draft into a new version row, moves
``apps.published_version_id`` to it and links exactly the datasets the configuration
references that exist in the app's workspace; that publishing again after a draft change
replaces those links; and that the whole publish is one transaction: when it fails after the
version row is inserted and the pointer moved, the previous version stays live with its
links, no version row and no ``app.published`` audit event are left behind, and an import
that publishes leaves no app at all.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.accounts import SetupResult
from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.tables import DRAFT_VERSION, App, AppVersion, AuditEvent, Dataset, Workspace

DSL_TEMPLATE = """\
version: "0.6.0"
kind: app
app:
  name: Knowledge flow
  mode: workflow
  description: Answers from the handbook
workflow:
  graph:
    nodes:
      - id: start
        type: custom
        data:
          type: start
          title: Start
          variables: []
      - id: retrieval
        type: custom
        data:
          type: knowledge-retrieval
          title: Handbook
          query_variable_selector: [start, query]
          retrieval_mode: multiple
          dataset_ids: {dataset_ids}
      - id: end
        type: custom
        data:
          type: end
          title: End
          outputs: []
    edges:
      - id: start-retrieval
        source: start
        target: retrieval
      - id: retrieval-end
        source: retrieval
        target: end
  features: {{}}
  environment_variables: []
  conversation_variables: []
"""


@dataclass(frozen=True)
class Scene:
    """The owner's workspace and the datasets around it (ids)."""

    workspace_id: str
    handbook: str  # datasets in the workspace
    faq: str
    policies: str
    foreign: str  # a dataset in another workspace
    unknown: str  # a well-formed id of no dataset


def workflow_dsl(dataset_ids: Iterable[str]) -> str:
    return DSL_TEMPLATE.format(dataset_ids="[" + ", ".join(f'"{value}"' for value in dataset_ids) + "]")


def with_dataset_ids(workflow: dict[str, Any], dataset_ids: list[str]) -> dict[str, Any]:
    """A copy of ``workflow`` whose knowledge-retrieval node reads ``dataset_ids``."""
    changed = copy.deepcopy(workflow)
    for node in changed["graph"]["nodes"]:
        if node["data"]["type"] == "knowledge-retrieval":
            node["data"]["dataset_ids"] = dataset_ids
    return changed


@pytest.fixture
async def scene(plait: Plait) -> Scene:
    owner: SetupResult = await plait.accounts.setup(
        email="publisher@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    async with plait.db.transaction() as session:
        other = Workspace(name="Someone else's")
        session.add(other)
        await session.flush()
        datasets = {
            name: Dataset(workspace_id=owner.workspace_id, name=name) for name in ("handbook", "faq", "policies")
        }
        foreign = Dataset(workspace_id=other.id, name="handbook")
        session.add_all([*datasets.values(), foreign])
    return Scene(
        workspace_id=owner.workspace_id,
        handbook=datasets["handbook"].id,
        faq=datasets["faq"].id,
        policies=datasets["policies"].id,
        foreign=foreign.id,
        unknown=str(uuid.uuid4()),
    )


async def import_app(plait: Plait, scene: Scene, dataset_ids: Iterable[str]) -> str:
    result = await plait.apps.import_dsl(scene.workspace_id, CLI, workflow_dsl(dataset_ids))
    assert result.published_version_id is None
    return result.app_id


async def read_app(plait: Plait, app_id: str) -> App:
    async with plait.db.reader() as session:
        app = await session.get(App, app_id)
    assert app is not None
    return app


async def read_draft(plait: Plait, app_id: str) -> AppVersion:
    async with plait.db.reader() as session:
        statement = select(AppVersion).where(AppVersion.app_id == app_id, AppVersion.version == DRAFT_VERSION)
        return (await session.execute(statement)).scalar_one()


async def change_draft_datasets(plait: Plait, app_id: str, dataset_ids: list[str]) -> dict[str, Any]:
    async with plait.db.transaction() as session:
        statement = select(AppVersion).where(AppVersion.app_id == app_id, AppVersion.version == DRAFT_VERSION)
        draft = (await session.execute(statement)).scalar_one()
        assert draft.workflow is not None
        draft.workflow = with_dataset_ids(draft.workflow, dataset_ids)
        return draft.workflow


async def count_versions(plait: Plait, app_id: str) -> int:
    async with plait.db.reader() as session:
        count = await session.scalar(select(func.count()).select_from(AppVersion).where(AppVersion.app_id == app_id))
    return int(count or 0)


async def count_audit(plait: Plait, action: str, app_id: str | None = None) -> int:
    statement = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if app_id is not None:
        statement = statement.where(AuditEvent.target_id == app_id)
    async with plait.db.reader() as session:
        count = await session.scalar(statement)
    return int(count or 0)


async def test_publish_moves_the_pointer_to_a_new_copy_of_the_draft(plait: Plait, scene: Scene) -> None:
    app_id = await import_app(plait, scene, [scene.handbook])
    assert (await read_app(plait, app_id)).published_version_id is None
    assert await plait.apps.published_version(scene.workspace_id, app_id) is None

    version = await plait.apps.publish(scene.workspace_id, CLI, app_id, marked_name="v1")

    draft = await read_draft(plait, app_id)
    assert (await read_app(plait, app_id)).published_version_id == version.id
    assert version.id != draft.id
    assert version.version != DRAFT_VERSION
    assert version.marked_name == "v1"
    live = await plait.apps.published_version(scene.workspace_id, app_id)
    assert live is not None
    assert live.id == version.id
    assert live.workflow == draft.workflow
    assert live.model_config_ == draft.model_config_
    assert live.dsl_extra == draft.dsl_extra
    assert await count_versions(plait, app_id) == 2  # the draft and the published copy
    assert await count_audit(plait, "app.published", app_id) == 1


async def test_publish_links_exactly_the_referenced_datasets_of_the_workspace(plait: Plait, scene: Scene) -> None:
    referenced = [scene.handbook, scene.faq, scene.unknown, scene.foreign, "not-a-uuid"]
    app_id = await import_app(plait, scene, referenced)
    assert await plait.apps.dataset_links(scene.workspace_id, app_id) == []

    await plait.apps.publish(scene.workspace_id, CLI, app_id)

    # The unknown id, the other workspace's dataset and the malformed id are ignored; the
    # unreferenced ``policies`` dataset of the same workspace is not linked either.
    assert await plait.apps.dataset_links(scene.workspace_id, app_id) == sorted([scene.handbook, scene.faq])


async def test_publish_links_a_dataset_referenced_by_its_id_in_upper_case(plait: Plait, scene: Scene) -> None:
    """UUIDs are case-insensitive, and ``is_uuid`` accepts the upper-case form, so the
    dataset must be linked on both databases."""
    app_id = await import_app(plait, scene, [scene.handbook.upper()])

    await plait.apps.publish(scene.workspace_id, CLI, app_id)

    assert await plait.apps.dataset_links(scene.workspace_id, app_id) == [scene.handbook]


async def test_import_with_publish_publishes_and_links(plait: Plait, scene: Scene) -> None:
    result = await plait.apps.import_dsl(
        scene.workspace_id, CLI, workflow_dsl([scene.policies, scene.unknown]), publish=True
    )

    assert result.published_version_id is not None
    assert (await read_app(plait, result.app_id)).published_version_id == result.published_version_id
    assert await plait.apps.dataset_links(scene.workspace_id, result.app_id) == [scene.policies]


async def test_republish_after_a_draft_change_replaces_the_links(plait: Plait, scene: Scene) -> None:
    app_id = await import_app(plait, scene, [scene.handbook, scene.faq])
    first = await plait.apps.publish(scene.workspace_id, CLI, app_id)
    new_workflow = await change_draft_datasets(plait, app_id, [scene.faq, scene.policies])

    second = await plait.apps.publish(scene.workspace_id, CLI, app_id)

    assert second.id != first.id
    assert (await read_app(plait, app_id)).published_version_id == second.id
    live = await plait.apps.published_version(scene.workspace_id, app_id)
    assert live is not None
    assert live.workflow == new_workflow
    assert await plait.apps.dataset_links(scene.workspace_id, app_id) == sorted([scene.faq, scene.policies])
    assert await count_versions(plait, app_id) == 3  # draft, first and second publish


def fail_link_replacement(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Make ``replace_dataset_links`` fail after doing its work. Returns, per call, the
    ``published_version_id`` the failing transaction itself saw at that moment."""
    original = apps_repo.replace_dataset_links
    seen_pointers: list[str | None] = []

    async def replace_then_fail(session: AsyncSession, app_id: str, dataset_ids: Iterable[str]) -> None:
        await original(session, app_id, dataset_ids)
        pointer = await session.scalar(select(App.published_version_id).where(App.id == app_id))
        seen_pointers.append(pointer)
        raise RuntimeError("injected failure after the links were replaced")

    monkeypatch.setattr(apps_repo, "replace_dataset_links", replace_then_fail)
    return seen_pointers


async def test_failed_publish_leaves_the_previous_version_live(
    plait: Plait, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id = await import_app(plait, scene, [scene.handbook, scene.faq])
    previous = await plait.apps.publish(scene.workspace_id, CLI, app_id)
    previous_workflow = previous.workflow
    await change_draft_datasets(plait, app_id, [scene.policies])
    versions_before = await count_versions(plait, app_id)
    seen_pointers = fail_link_replacement(monkeypatch)

    with pytest.raises(RuntimeError, match="injected failure"):
        await plait.apps.publish(scene.workspace_id, CLI, app_id)

    # Inside the failed transaction the pointer had already moved to a new version row...
    assert len(seen_pointers) == 1
    assert seen_pointers[0] not in (None, previous.id)
    # ...and none of it survived the rollback.
    assert (await read_app(plait, app_id)).published_version_id == previous.id
    live = await plait.apps.published_version(scene.workspace_id, app_id)
    assert live is not None
    assert live.id == previous.id
    assert live.workflow == previous_workflow
    assert await count_versions(plait, app_id) == versions_before
    async with plait.db.reader() as session:
        assert await session.get(AppVersion, seen_pointers[0]) is None
    assert await plait.apps.dataset_links(scene.workspace_id, app_id) == sorted([scene.handbook, scene.faq])
    assert await count_audit(plait, "app.published", app_id) == 1  # the first, successful publish only


async def test_failed_publish_during_import_leaves_no_app(
    plait: Plait, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_pointers = fail_link_replacement(monkeypatch)

    with pytest.raises(RuntimeError, match="injected failure"):
        await plait.apps.import_dsl(scene.workspace_id, CLI, workflow_dsl([scene.handbook]), publish=True)

    assert len(seen_pointers) == 1
    assert seen_pointers[0] is not None
    assert await plait.apps.in_workspace(scene.workspace_id) == []
    async with plait.db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(AppVersion)) == 0
    assert await count_audit(plait, "app.imported") == 0
    assert await count_audit(plait, "app.published") == 0
