"""The composition root: settings in, a wired :class:`Plait` out.

This is the one place that reads settings and builds the database, stores and use-cases;
everything it builds receives what it needs as arguments. ``start`` also waits for the
database (bounded retries with backoff) and migrates it under the migration lock, so every
entry point (``plait serve``, the CLI commands, a worker) starts the same way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog

from plait import __version__
from plait.app.accounts import Accounts
from plait.app.active_requests import ActiveRequests
from plait.app.annotation_jobs import AnnotationJobs
from plait.app.annotation_reply import AnnotationReplies
from plait.app.annotations import Annotations
from plait.app.app_access import AppAccess
from plait.app.apps import Apps
from plait.app.chat_runs import ChatRuns
from plait.app.conversation_logs import ConversationLogs
from plait.app.conversation_names import ConversationNames
from plait.app.conversations import Conversations
from plait.app.dataset_metadata import DatasetMetadata
from plait.app.dataset_tags import DatasetTags
from plait.app.datasets import Datasets
from plait.app.end_users import EndUsers
from plait.app.engine_services import EngineServices, code_sandbox, egress_policy
from plait.app.environment_secrets import EnvironmentSecrets
from plait.app.feedback import Feedback
from plait.app.file_links import FileLinks
from plait.app.files import Uploads
from plait.app.indexing_estimate import IndexingEstimates
from plait.app.keys import Keys
from plait.app.knowledge_documents import KnowledgeDocuments
from plait.app.knowledge_indexing import KnowledgeIndexing
from plait.app.knowledge_retrieval import KnowledgeRetrieval
from plait.app.knowledge_segments import KnowledgeSegments
from plait.app.knowledge_uploads import KnowledgeUploads
from plait.app.model_credentials import ModelCredentials
from plait.app.model_providers import ModelProviders
from plait.app.model_resolver import BUILTIN_DEFAULTS, LOCAL_PROVIDER, ModelOverride, ModelResolver
from plait.app.retention import RunRetention
from plait.app.run_files import RunFiles
from plait.app.run_logs import RunLogs
from plait.app.run_records import RunRecorder
from plait.app.secret_box import SecretBox
from plait.app.speech import Speech
from plait.app.suggestions import SuggestedQuestions
from plait.app.tasks import RunningTasks
from plait.app.tool_catalog import ToolCatalog
from plait.app.tool_files import ToolFiles
from plait.app.tool_invoker import ToolInvokers, html_to_text
from plait.app.tool_providers import ToolProviders
from plait.app.workflow_logs import WorkflowLogs
from plait.app.workflow_runs import WorkflowRuns
from plait.app.workflow_tools import WorkflowTools
from plait.app.workspaces import Workspaces
from plait.egress import Egress
from plait.engine.runtime import RunLimits
from plait.errors import ServiceUnavailable
from plait.providers import registry as providers
from plait.providers.base import ChatModel
from plait.settings import Settings
from plait.storage.broker import MemoryRunBroker
from plait.storage.db import Database, migrate
from plait.storage.files import FileStore, open_file_store
from plait.storage.index import IndexStore, open_index_store
from plait.tools import ToolEnvironment, ToolRegistry

log = structlog.get_logger(__name__)

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def resolve_secret_key(settings: Settings) -> str:
    """``SECRET_KEY``, or (outside production) a random key kept in the data directory, so
    that a fresh ``make run`` is secure without the user having to invent one."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first; use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    log.info("secret_key.generated", path=str(path))
    return key


@dataclass
class Plait:
    settings: Settings
    db: Database
    secret_key: str
    accounts: Accounts
    apps: Apps
    keys: Keys
    workspaces: Workspaces
    recorder: RunRecorder
    workflow_runs: WorkflowRuns
    chat_runs: ChatRuns
    conversations: Conversations
    conversation_names: ConversationNames
    suggested_questions: SuggestedQuestions
    feedback: Feedback
    active_requests: ActiveRequests
    uploads: Uploads
    app_access: AppAccess
    workflow_logs: WorkflowLogs
    annotations: Annotations
    annotation_replies: AnnotationReplies
    annotation_jobs: AnnotationJobs
    speech: Speech
    conversation_logs: ConversationLogs
    run_logs: RunLogs
    models: ModelResolver
    model_providers: ModelProviders
    tools: ToolInvokers
    tool_providers: ToolProviders
    workflow_tools: WorkflowTools
    tool_catalog: ToolCatalog
    egress: Egress
    index: IndexStore
    datasets: Datasets
    documents: KnowledgeDocuments
    segments: KnowledgeSegments
    indexing: KnowledgeIndexing
    retrieval: KnowledgeRetrieval
    dataset_tags: DatasetTags
    dataset_metadata: DatasetMetadata
    file_links: FileLinks
    knowledge_uploads: KnowledgeUploads
    indexing_estimates: IndexingEstimates
    retention: RunRetention
    version: str = __version__

    async def check_ready(self) -> str | None:
        """Raise :class:`ServiceUnavailable` unless the database is reachable and migrated;
        return the schema revision."""
        await self.db.ping()
        try:
            async with asyncio.timeout(self.db.connect_timeout_seconds):
                current = await migrate.current_revision(self.db)
        except Exception as error:  # the database went away between the two queries
            raise ServiceUnavailable(f"database unreachable: {type(error).__name__}") from error
        head = migrate.head_revision()
        if current != head:
            raise ServiceUnavailable(
                f"database schema is at {current or 'nothing'}, expected {head}; run `plait db upgrade`"
            )
        return current

    async def close(self) -> None:
        await self.retention.close()
        await self.indexing.close()
        await self.conversation_names.close()
        await self.annotation_jobs.close()
        await self.recorder.close()
        await self.models.aclose()
        await self.egress.aclose()
        await self.index.close()
        await self.db.dispose()


def build(settings: Settings) -> Plait:
    """Wire Plait without touching the database."""
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    db = Database(
        settings.database_url,
        pool_size=settings.database.pool_size,
        sqlite_busy_timeout_ms=settings.database.sqlite_busy_timeout_ms,
    )
    recorder = RunRecorder(db)
    secret_key = resolve_secret_key(settings)
    egress = Egress(egress_policy(settings.egress))
    credentials = ModelCredentials(db, providers.installed, SecretBox(secret_key, "provider-credentials"))
    models = ModelResolver(
        providers.installed,
        credentials,
        egress,
        override=ModelOverride.parse(settings.models.override, providers.installed),
        builtin_credentials={LOCAL_PROVIDER: settings.local_models.provider_credentials()},
        cache_seconds=settings.models.credentials_cache_seconds,
    )
    embedding_model_for = models.embedding_model
    file_store = open_file_store(settings.storage, settings.data_dir)
    run_files = RunFiles(db, file_store, egress, max_bytes=settings.uploads.max_mb * 1024 * 1024)
    tool_registry = ToolRegistry.from_entry_points(ToolEnvironment(http=egress, html_to_text=html_to_text))
    tool_providers = ToolProviders(db, SecretBox(secret_key, "tool-credentials"), egress)
    workflow_tools = WorkflowTools(db)
    tools = ToolInvokers(
        tool_registry,
        tool_providers,
        workflow_tools,
        ToolFiles(db, file_store, max_bytes=settings.uploads.max_mb * 1024 * 1024),
    )
    index = open_index_store(
        settings.vector.store, root=Path(settings.data_dir) / "knowledge", url=settings.pgvector_url
    )
    knowledge = knowledge_parts(settings, db, file_store, index, egress, models, credentials)
    services = EngineServices(
        egress, code_sandbox(settings.code), models, files=run_files, tools=tools, retrieval=knowledge.retrieval
    )
    end_users = EndUsers(db)
    environment_secrets = EnvironmentSecrets(SecretBox(secret_key, "environment-secrets"))
    workflow_runs = WorkflowRuns(
        db,
        end_users,
        recorder,
        services,
        RunLimits(),
        RunningTasks(),
        files=run_files,
        secrets=environment_secrets,
        broker=MemoryRunBroker(),
    )
    workflow_tools.runs = workflow_runs  # workflows called as tools run the way every workflow runs
    annotation_replies = AnnotationReplies(db, embedding_model_for)
    app_access = AppAccess(db, cache_seconds=settings.server.api_key_cache_seconds)
    apps = Apps(db, environment_secrets, on_changed=app_access.forget_app)
    conversation_names = ConversationNames(db, models, apps)
    return Plait(
        settings=settings,
        db=db,
        secret_key=secret_key,
        accounts=Accounts(db, settings.auth),
        apps=apps,
        keys=Keys(db, on_revoked=app_access.forget_key),
        workspaces=Workspaces(db),
        recorder=recorder,
        workflow_runs=workflow_runs,
        chat_runs=ChatRuns(
            db,
            workflow_runs,
            recorder,
            services,
            RunLimits(),
            annotation_replies=annotation_replies,
            names=conversation_names,
        ),
        conversations=Conversations(db, conversation_names),
        conversation_names=conversation_names,
        suggested_questions=SuggestedQuestions(db, models, apps),
        feedback=Feedback(db),
        app_access=app_access,
        uploads=Uploads(
            db,
            file_store,
            end_users,
            max_bytes=settings.uploads.max_mb * 1024 * 1024,
        ),
        active_requests=ActiveRequests(
            default_limit=settings.apps.default_active_requests, max_limit=settings.apps.max_active_requests
        ),
        workflow_logs=WorkflowLogs(db),
        annotations=Annotations(db, embedding_model_for),
        annotation_replies=annotation_replies,
        annotation_jobs=AnnotationJobs(db, embedding_model_for),
        speech=Speech(db),
        conversation_logs=ConversationLogs(db),
        run_logs=RunLogs(db),
        models=models,
        model_providers=ModelProviders(credentials, models),
        tools=tools,
        tool_providers=tool_providers,
        workflow_tools=workflow_tools,
        tool_catalog=ToolCatalog(tool_registry, tool_providers, workflow_tools),
        egress=egress,
        index=index,
        datasets=knowledge.datasets,
        documents=knowledge.documents,
        segments=knowledge.segments,
        indexing=knowledge.indexing,
        retrieval=knowledge.retrieval,
        dataset_tags=DatasetTags(db),
        dataset_metadata=DatasetMetadata(db),
        file_links=FileLinks(
            secret_key,
            base_url=settings.file_links.files_url,
            ttl_seconds=settings.file_links.access_timeout_seconds,
        ),
        knowledge_uploads=knowledge.uploads,
        indexing_estimates=knowledge.estimates,
        retention=RunRetention(
            db,
            days=settings.retention.run_days,
            batch_size=settings.retention.batch_size,
            interval_seconds=settings.retention.interval_seconds,
        ),
    )


@dataclass(frozen=True)
class _Knowledge:
    datasets: Datasets
    documents: KnowledgeDocuments
    segments: KnowledgeSegments
    indexing: KnowledgeIndexing
    retrieval: KnowledgeRetrieval
    uploads: KnowledgeUploads
    estimates: IndexingEstimates


def knowledge_parts(
    settings: Settings,
    db: Database,
    file_store: FileStore,
    index: IndexStore,
    egress: Egress,
    models: ModelResolver,
    credentials: ModelCredentials,
) -> _Knowledge:
    async def default_embedding(workspace_id: str) -> tuple[str, str]:
        for default in await credentials.defaults(workspace_id):
            if default.model_type == "text-embedding":
                return default.provider, default.model_name
        return BUILTIN_DEFAULTS["text-embedding"]

    async def chat_model_for(workspace_id: str) -> ChatModel:
        return await models.for_workspace(workspace_id).chat({})

    knowledge = settings.knowledge
    indexing = KnowledgeIndexing(
        db,
        file_store,
        index,
        egress,
        embedding_for=models.embedding_model,
        chat_model_for=chat_model_for,
        concurrency=knowledge.indexing_concurrency,
        embed_batch_size=knowledge.embedding_batch_size,
        embed_concurrency=knowledge.embedding_concurrency,
        max_url_bytes=settings.uploads.max_mb * 1024 * 1024,
    )
    datasets = Datasets(db, index, default_embedding)
    documents = KnowledgeDocuments(
        db,
        datasets,
        file_store,
        index,
        enqueue=indexing.enqueue,
        max_file_bytes=settings.uploads.max_mb * 1024 * 1024,
        max_tokens_limit=knowledge.max_segmentation_tokens,
    )
    segments = KnowledgeSegments(db, datasets, index, embedder=indexing.embedder)
    uploads = KnowledgeUploads(db, file_store, documents)
    estimates = IndexingEstimates(
        uploads, chat_model_for=chat_model_for, max_tokens_limit=knowledge.max_segmentation_tokens
    )
    retrieval = KnowledgeRetrieval(db, index, models)
    return _Knowledge(datasets, documents, segments, indexing, retrieval, uploads, estimates)


async def start(settings: Settings, *, migrate_now: bool | None = None, background: bool = True) -> Plait:
    """Build Plait, wait for its database and bring the schema up to date. ``background``
    starts the periodic work of a serving process (run log retention, when configured);
    one-shot commands leave it off."""
    plait = build(settings)
    try:
        await plait.db.wait_until_reachable(
            attempts=settings.database.connect_attempts,
            backoff_max_seconds=settings.database.connect_backoff_max_seconds,
        )
        if settings.database.migrate_on_start if migrate_now is None else migrate_now:
            await migrate.upgrade(plait.db)
            # The schema is current: jobs a stopped process left behind can be marked failed.
            await plait.annotation_jobs.recover()
            await plait.indexing.recover()
        plait.recorder.start()
        if background:
            plait.retention.start()
    except BaseException:
        await plait.close()
        raise
    return plait
