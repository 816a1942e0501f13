"""Knowledge bases (datasets): create, list, change and delete them, and the facts their
API shape needs (document counts, apps using them).

A dataset's embedding model is fixed by its first ``high_quality`` document: vectors from
two models cannot be searched together, so changing it later means re-indexing, which the
PATCH refuses while documents exist unless the model stays the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plait.app.annotations import NumberedPage, check_page
from plait.app.audit import Actor, record
from plait.errors import Conflict, Forbidden, InvalidInput, NotFound
from plait.ids import is_uuid
from plait.rag.retrieval_settings import parse_retrieval_model, to_dify
from plait.storage.db import Database
from plait.storage.db.tables import (
    INDEXING_TECHNIQUES,
    RUNNING_INDEXING_STATUSES,
    AppDatasetLink,
    Dataset,
    DatasetPermission,
    Document,
    Membership,
    Segment,
    TagBinding,
)
from plait.storage.index.base import IndexStore

MAX_NAME_LENGTH = 40  # Dify's limit on a dataset's name
MAX_DESCRIPTION_LENGTH = 400
PERMISSIONS = ("only_me", "all_team_members", "partial_members")
RUNNING_STATES = RUNNING_INDEXING_STATUSES

# The workspace's default embedding model (provider, model), for datasets that name none.
DefaultEmbedding = Callable[[str], Awaitable[tuple[str, str]]]


class DatasetNameDuplicate(Conflict):
    code = "dataset_name_duplicate"


class DatasetInUse(Conflict):
    code = "dataset_in_use"


def not_found() -> NotFound:
    return NotFound("Dataset not found.")


@dataclass(frozen=True)
class DatasetFacts:
    """Counts shown with a dataset, computed in one query per page."""

    document_count: int = 0
    available_document_count: int = 0
    word_count: int = 0
    app_count: int = 0
    tag_ids: tuple[str, ...] = ()
    partial_member_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Viewer:
    """A console account looking at a workspace's datasets. Owners and admins see them all;
    others see the team's, their own, and ``partial_members`` datasets that list them (as
    in Dify). A ``ds-`` key acts as the owner."""

    account_id: str
    role: str

    @property
    def sees_all(self) -> bool:
        return self.role in ("owner", "admin")


def _visible_to(viewer: Viewer) -> Any:
    listed = select(DatasetPermission.dataset_id).where(DatasetPermission.account_id == viewer.account_id)
    return or_(
        Dataset.permission == "all_team_members",
        Dataset.created_by == viewer.account_id,
        and_(Dataset.permission == "partial_members", Dataset.id.in_(listed)),
    )


def _name(raw: Any) -> str:
    name = str(raw or "").strip()
    if not name:
        raise InvalidInput("name is required", params="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"name must be at most {MAX_NAME_LENGTH} characters", params="name")
    return name


def _description(raw: Any) -> str:
    description = str(raw or "")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"description must be at most {MAX_DESCRIPTION_LENGTH} characters", params="description")
    return description


def _technique(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    if raw not in INDEXING_TECHNIQUES:
        raise InvalidInput("indexing_technique must be high_quality or economy", params="indexing_technique")
    return str(raw)


def _permission(raw: Any) -> str:
    if raw in (None, ""):
        return "only_me"
    if raw not in PERMISSIONS:
        raise InvalidInput(f"permission must be one of {', '.join(PERMISSIONS)}", params="permission")
    return str(raw)


def expand_provider(provider: str | None) -> str | None:
    """Dify's ``org/plugin/provider`` form; a bare ``openai`` expands as Dify does."""
    if not provider:
        return None
    return provider if "/" in provider else f"langgenius/{provider}/{provider}"


def retrieval_model_of(dataset: Dataset) -> dict[str, Any]:
    """The dataset's ``retrieval_model_dict``: its stored settings, with Dify's defaults."""
    return to_dify(parse_retrieval_model(dataset.retrieval_model))


class Datasets:
    def __init__(self, db: Database, index: IndexStore, default_embedding: DefaultEmbedding) -> None:
        self._db = db
        self._index = index
        self._default_embedding = default_embedding

    async def get(self, workspace_id: str, dataset_id: str, *, viewer: Viewer | None = None) -> Dataset:
        """The workspace's dataset; with ``viewer``, 403 unless that account may see it."""
        if not is_uuid(dataset_id):
            raise not_found()
        async with self._db.reader() as session:
            dataset = await session.get(Dataset, dataset_id)
            if dataset is None or dataset.workspace_id != workspace_id:
                raise not_found()
            if viewer is not None and not viewer.sees_all:
                visible = await session.execute(select(Dataset.id).where(Dataset.id == dataset_id, _visible_to(viewer)))
                if visible.scalar_one_or_none() is None:
                    raise Forbidden("You do not have permission to access this dataset.")
        return dataset

    async def for_api(self, workspace_id: str, dataset_id: str) -> Dataset:
        """The dataset as the Knowledge API may use it: in the key's workspace, API enabled."""
        dataset = await self.get(workspace_id, dataset_id)
        if not dataset.enable_api:
            raise Forbidden("Dataset api access is not enabled.")
        return dataset

    async def create(self, workspace_id: str, actor: Actor, body: Mapping[str, Any]) -> Dataset:
        name = _name(body.get("name"))
        technique = _technique(body.get("indexing_technique"))
        retrieval = body.get("retrieval_model")
        if retrieval is not None:
            to_dify(parse_retrieval_model(retrieval))  # validate before storing
        provider = str(body.get("provider") or "vendor")
        if provider not in ("vendor", "external"):
            raise InvalidInput("provider must be vendor or external", params="provider")
        if provider == "external":
            raise InvalidInput("external knowledge bases are not supported by Plait yet", params="provider")
        embedding_provider = expand_provider(body.get("embedding_model_provider"))
        embedding_model = body.get("embedding_model") or None
        if technique == "high_quality" and not embedding_model:
            embedding_provider, embedding_model = await self._default_embedding(workspace_id)
        dataset = Dataset(
            workspace_id=workspace_id,
            name=name,
            description=_description(body.get("description")),
            permission=_permission(body.get("permission")),
            indexing_technique=technique,
            provider=provider,
            embedding_model=embedding_model,
            embedding_model_provider=embedding_provider,
            retrieval_model=retrieval,
            created_by=actor.account_id,
            updated_by=actor.account_id,
        )
        try:
            async with self._db.transaction() as session:
                await self._check_name_free(session, workspace_id, name)
                session.add(dataset)
                await session.flush()
                if dataset.permission == "partial_members":
                    await _set_members(session, dataset, body.get("partial_member_list"), actor)
                record(
                    session,
                    actor,
                    "dataset.create",
                    workspace_id=workspace_id,
                    target_type="dataset",
                    target_id=dataset.id,
                )
        except IntegrityError:  # a concurrent create of the same name
            raise DatasetNameDuplicate("Dataset name already exists.") from None
        return dataset

    @staticmethod
    async def _check_name_free(
        session: AsyncSession, workspace_id: str, name: str, *, except_id: str | None = None
    ) -> None:
        statement = select(Dataset.id).where(Dataset.workspace_id == workspace_id, Dataset.name == name)
        existing = (await session.execute(statement)).scalar_one_or_none()
        if existing is not None and existing != except_id:
            raise DatasetNameDuplicate("Dataset name already exists.")

    async def page(
        self,
        workspace_id: str,
        *,
        page: int,
        limit: int,
        keyword: str | None = None,
        tag_ids: Sequence[str] = (),
        ids: Sequence[str] | None = None,
        viewer: Viewer | None = None,
    ) -> NumberedPage[Dataset]:
        check_page(page, limit)
        conditions: list[Any] = [Dataset.workspace_id == workspace_id]
        if viewer is not None and not viewer.sees_all:
            conditions.append(_visible_to(viewer))
        if keyword:
            conditions.append(Dataset.name.icontains(keyword, autoescape=True))
        if ids is not None:
            conditions.append(Dataset.id.in_([i for i in ids if is_uuid(i)]))
        if tag_ids:
            tagged = select(TagBinding.target_id).where(TagBinding.tag_id.in_([t for t in tag_ids if is_uuid(t)]))
            conditions.append(Dataset.id.in_(tagged))
        async with self._db.reader() as session:
            total = (await session.execute(select(func.count()).select_from(Dataset).where(*conditions))).scalar_one()
            rows = await session.execute(
                select(Dataset)
                .where(*conditions)
                .order_by(Dataset.created_at.desc(), Dataset.id.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
            items = list(rows.scalars())
        return NumberedPage(items, int(total), page, limit)

    async def facts(self, datasets: Sequence[Dataset]) -> dict[str, DatasetFacts]:
        ids = [d.id for d in datasets]
        if not ids:
            return {}
        async with self._db.reader() as session:
            documents = await session.execute(
                select(
                    Document.dataset_id,
                    func.count(),
                    func.sum(Document.word_count),
                    func.count().filter(
                        Document.indexing_status == "completed",
                        Document.enabled.is_(True),
                        Document.archived.is_(False),
                    ),
                )
                .where(Document.dataset_id.in_(ids))
                .group_by(Document.dataset_id)
            )
            by_dataset = {row[0]: (int(row[1]), int(row[2] or 0), int(row[3])) for row in documents}
            apps = await session.execute(
                select(AppDatasetLink.dataset_id, func.count())
                .where(AppDatasetLink.dataset_id.in_(ids))
                .group_by(AppDatasetLink.dataset_id)
            )
            app_counts = {row[0]: int(row[1]) for row in apps}
            bindings = await session.execute(
                select(TagBinding.target_id, TagBinding.tag_id).where(TagBinding.target_id.in_(ids))
            )
            tags: dict[str, list[str]] = {}
            for target_id, tag_id in bindings:
                tags.setdefault(target_id, []).append(tag_id)
            permitted = await session.execute(
                select(DatasetPermission.dataset_id, DatasetPermission.account_id).where(
                    DatasetPermission.dataset_id.in_(ids)
                )
            )
            members: dict[str, list[str]] = {}
            for dataset_id, account_id in permitted:
                members.setdefault(dataset_id, []).append(account_id)
        result = {}
        for dataset_id in ids:
            count, words, available = by_dataset.get(dataset_id, (0, 0, 0))
            result[dataset_id] = DatasetFacts(
                document_count=count,
                available_document_count=available,
                word_count=words,
                app_count=app_counts.get(dataset_id, 0),
                tag_ids=tuple(tags.get(dataset_id, ())),
                partial_member_ids=tuple(sorted(members.get(dataset_id, ()))),
            )
        return result

    async def update(self, workspace_id: str, actor: Actor, dataset_id: str, body: Mapping[str, Any]) -> Dataset:
        """PATCH: only the fields given change."""
        async with self._db.transaction() as session:
            dataset = await session.get(Dataset, dataset_id) if is_uuid(dataset_id) else None
            if dataset is None or dataset.workspace_id != workspace_id:
                raise not_found()
            if "name" in body:
                name = _name(body["name"])
                await self._check_name_free(session, workspace_id, name, except_id=dataset.id)
                dataset.name = name
            if "description" in body:
                dataset.description = _description(body["description"])
            if "permission" in body:
                dataset.permission = _permission(body["permission"])
            if "partial_member_list" in body or "permission" in body:
                await _set_members(session, dataset, body.get("partial_member_list"), actor)
            if "retrieval_model" in body:
                to_dify(parse_retrieval_model(body["retrieval_model"]))
                dataset.retrieval_model = body["retrieval_model"]
            has_documents = bool(
                (await session.execute(select(func.count()).where(Document.dataset_id == dataset.id))).scalar_one()
            )
            if "indexing_technique" in body:
                technique = _technique(body["indexing_technique"])
                if technique != dataset.indexing_technique and has_documents:
                    raise InvalidInput(
                        "indexing_technique cannot change while the dataset has documents", params="indexing_technique"
                    )
                dataset.indexing_technique = technique
            if "embedding_model" in body or "embedding_model_provider" in body:
                model = body.get("embedding_model", dataset.embedding_model) or None
                provider = expand_provider(body.get("embedding_model_provider", dataset.embedding_model_provider))
                if has_documents and (model, provider) != (dataset.embedding_model, dataset.embedding_model_provider):
                    raise InvalidInput(
                        "the embedding model cannot change while the dataset has documents", params="embedding_model"
                    )
                dataset.embedding_model, dataset.embedding_model_provider = model, provider
            if dataset.indexing_technique == "high_quality" and not dataset.embedding_model:
                dataset.embedding_model_provider, dataset.embedding_model = await self._default_embedding(workspace_id)
            dataset.updated_by = actor.account_id
            record(
                session, actor, "dataset.update", workspace_id=workspace_id, target_type="dataset", target_id=dataset.id
            )
        return dataset

    async def fix_technique(self, session: AsyncSession, dataset: Dataset, body: Mapping[str, Any]) -> None:
        """The first document decides what an undecided dataset is (Dify: ``indexing_technique``
        is required for the first document, later documents inherit it)."""
        technique = _technique(body.get("indexing_technique"))
        if dataset.indexing_technique is None:
            if technique is None:
                raise InvalidInput("indexing_technique is required for the first document", params="indexing_technique")
            dataset.indexing_technique = technique
        if dataset.indexing_technique == "high_quality" and not dataset.embedding_model:
            model = body.get("embedding_model") or None
            provider = expand_provider(body.get("embedding_model_provider"))
            if model is None:
                provider, model = await self._default_embedding(dataset.workspace_id)
            dataset.embedding_model, dataset.embedding_model_provider = model, provider
        if body.get("retrieval_model") is not None and dataset.retrieval_model is None:
            to_dify(parse_retrieval_model(body["retrieval_model"]))
            dataset.retrieval_model = body["retrieval_model"]

    async def delete(self, workspace_id: str, actor: Actor, dataset_id: str) -> None:
        """Refused while apps use the dataset or documents are being indexed (409)."""
        async with self._db.transaction() as session:
            dataset = await session.get(Dataset, dataset_id) if is_uuid(dataset_id) else None
            if dataset is None or dataset.workspace_id != workspace_id:
                raise not_found()
            in_use = (
                await session.execute(select(func.count()).where(AppDatasetLink.dataset_id == dataset.id))
            ).scalar_one()
            if in_use:
                raise DatasetInUse("The dataset is being used by some apps. Please remove the dataset from the apps.")
            indexing = (
                await session.execute(
                    select(func.count()).where(
                        Document.dataset_id == dataset.id, Document.indexing_status.in_(RUNNING_STATES)
                    )
                )
            ).scalar_one()
            if indexing:
                raise DatasetInUse("The dataset is still being indexed; try again when indexing has finished.")
            await session.execute(delete(TagBinding).where(TagBinding.target_id == dataset.id))
            await session.delete(dataset)
            record(
                session, actor, "dataset.delete", workspace_id=workspace_id, target_type="dataset", target_id=dataset_id
            )
        await self._index.drop(dataset_id)

    async def segment_count(self, dataset_id: str) -> int:
        async with self._db.reader() as session:
            statement = select(func.count()).select_from(Segment).where(Segment.dataset_id == dataset_id)
            return int((await session.execute(statement)).scalar_one())


def _member_ids(raw: Any) -> list[str]:
    """Dify's ``partial_member_list``: ``[{"user_id": ...}]`` (plain ids are accepted too)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput("partial_member_list must be a list", params="partial_member_list")
    ids = []
    for item in raw:
        member = item.get("user_id") if isinstance(item, Mapping) else item
        if not isinstance(member, str) or not is_uuid(member):
            raise InvalidInput("partial_member_list holds an invalid user id", params="partial_member_list")
        ids.append(member)
    return list(dict.fromkeys(ids))


async def _set_members(session: AsyncSession, dataset: Dataset, raw: Any, actor: Actor) -> None:
    """Replace who may see a ``partial_members`` dataset; other permissions keep no list."""
    await session.execute(delete(DatasetPermission).where(DatasetPermission.dataset_id == dataset.id))
    if dataset.permission != "partial_members":
        return
    wanted = _member_ids(raw)
    if actor.account_id and actor.account_id not in wanted:
        wanted.append(actor.account_id)  # the creator keeps access, as in Dify
    if not wanted:
        return
    found = await session.execute(
        select(Membership.account_id).where(
            Membership.workspace_id == dataset.workspace_id, Membership.account_id.in_(wanted)
        )
    )
    members = set(found.scalars())
    if missing := [m for m in wanted if m not in members]:
        raise InvalidInput(f"not members of this workspace: {', '.join(missing)}", params="partial_member_list")
    session.add_all(
        DatasetPermission(workspace_id=dataset.workspace_id, dataset_id=dataset.id, account_id=m) for m in wanted
    )
