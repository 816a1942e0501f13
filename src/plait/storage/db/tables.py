"""The schema of Plait's metadata database.

One declarative model per table. Ids are UUID strings (native ``uuid`` on PostgreSQL);
timestamps are UTC; JSON columns are JSONB on PostgreSQL. The migrations in
``migrations/versions`` create exactly this schema (a test compares them), plus what
SQLAlchemy models cannot express portably: GIN indexes and the audit log's append-only
triggers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from plait.ids import new_id
from plait.storage.db.types import JSONDocument, UTCDateTime, UUIDString, json_default, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("owner", "admin", "editor", "normal", "dataset_operator")
APP_MODES = ("chat", "agent-chat", "advanced-chat", "workflow", "completion")
WORKFLOW_RUN_STATUSES = ("running", "succeeded", "failed", "stopped", "partial-succeeded", "paused")
DRAFT_VERSION = "draft"

Id = UUIDString()


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SetupMarker(Base):
    """One row once the first workspace and its owner exist; the primary key makes a
    second, concurrent setup fail instead of creating a second owner."""

    __tablename__ = "plait_setup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    setup_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class Workspace(Timestamps, Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="normal")

    __table_args__ = (CheckConstraint(_in("status", ("normal", "archived")), name="status"),)


class Account(Timestamps, Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")
    interface_language: Mapped[str] = mapped_column(String(16), default="en-US")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    last_login_at: Mapped[datetime | None]
    last_login_ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (CheckConstraint(_in("status", ("active", "banned", "closed")), name="status"),)


class Membership(Base):
    __tablename__ = "memberships"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    invited_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("workspace_id", "account_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
    )


class AccountSession(Base):
    """A console login. Only the SHA-256 of the bearer token is stored."""

    __tablename__ = "account_sessions"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """Failed console logins, counted per email to rate-limit password guessing across
    every API replica (the database is the one thing they all share)."""

    __tablename__ = "login_failures"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index(None, "email", "created_at"),)


class App(Timestamps, Base):
    __tablename__ = "apps"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    icon_type: Mapped[str | None] = mapped_column(String(16))
    icon: Mapped[str | None] = mapped_column(String(255))
    icon_background: Mapped[str | None] = mapped_column(String(32))
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_site: Mapped[bool] = mapped_column(Boolean, default=True)
    enable_api: Mapped[bool] = mapped_column(Boolean, default=True)
    max_active_requests: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="normal")
    published_version_id: Mapped[str | None] = mapped_column(
        Id, ForeignKey("app_versions.id", use_alter=True, ondelete="SET NULL")
    )
    created_by: Mapped[str | None] = mapped_column(Id)
    updated_by: Mapped[str | None] = mapped_column(Id)

    __table_args__ = (
        CheckConstraint(_in("mode", APP_MODES), name="mode"),
        CheckConstraint("max_active_requests >= 0", name="max_active_requests"),
        Index(None, "workspace_id", "created_at"),
    )


class AppVersion(Base):
    """An app's configuration: one ``draft`` per app, plus one row per publish.

    ``workflow`` holds a workflow/advanced-chat app's DSL ``workflow`` section (graph,
    features, environment and conversation variables) as imported, unknown keys included;
    ``model_config`` holds the same for chat, agent-chat and completion apps.
    """

    __tablename__ = "app_versions"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    marked_name: Mapped[str] = mapped_column(String(255), default="")
    marked_comment: Mapped[str] = mapped_column(Text, default="")
    workflow: Mapped[dict[str, Any] | None]
    model_config_: Mapped[dict[str, Any] | None] = mapped_column("model_config")
    dsl_extra: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    created_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(None, "app_id", "created_at"),
        # At most one draft per app, enforced by the database on both backends.
        Index(
            "uq_app_versions_draft",
            "app_id",
            unique=True,
            sqlite_where=text("version = 'draft'"),
            postgresql_where=text("version = 'draft'"),
        ),
    )


INDEXING_TECHNIQUES = ("high_quality", "economy")
DOC_FORMS = ("text_model", "hierarchical_model", "qa_model")
# Dify's indexing states; ``display_status`` is derived from these plus enabled/archived.
INDEXING_STATUSES = (
    "waiting",
    "parsing",
    "cleaning",
    "splitting",
    "indexing",
    "completed",
    "error",
    "paused",
    "stopped",
)
# The states of a document whose indexing has not ended (a stopped process resumes these).
RUNNING_INDEXING_STATUSES = ("waiting", "parsing", "cleaning", "splitting", "indexing")
SEGMENT_STATUSES = ("waiting", "indexing", "completed", "error", "re_segment")
METADATA_TYPES = ("string", "number", "time")


class Dataset(Timestamps, Base):
    """A knowledge base. Its vectors and full text live in the knowledge index
    (``storage/index``), one collection per dataset; this row is the source of truth for
    what the collection should hold."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    permission: Mapped[str] = mapped_column(String(32), default="only_me")
    indexing_technique: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(Id)
    provider: Mapped[str] = mapped_column(String(16), default="vendor")
    data_source_type: Mapped[str | None] = mapped_column(String(32))
    embedding_model: Mapped[str | None] = mapped_column(String(255))
    embedding_model_provider: Mapped[str | None] = mapped_column(String(255))
    retrieval_model: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    doc_form: Mapped[str | None] = mapped_column(String(32))
    enable_api: Mapped[bool] = mapped_column(Boolean, default=True)
    built_in_field_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str | None] = mapped_column(Id)

    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        CheckConstraint(_in("permission", ("only_me", "all_team_members", "partial_members")), name="permission"),
        CheckConstraint(
            f"indexing_technique IS NULL OR {_in('indexing_technique', INDEXING_TECHNIQUES)}",
            name="indexing_technique",
        ),
        CheckConstraint(f"doc_form IS NULL OR {_in('doc_form', DOC_FORMS)}", name="doc_form"),
    )


class DatasetPermission(Base):
    """A member who may see a ``partial_members`` dataset (besides its creator, owners and admins)."""

    __tablename__ = "dataset_permissions"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("dataset_id", "account_id"),)


class ProcessRule(Base):
    """A chunking rule as given (Dify's ``{mode, rules}``); documents point at the one they
    were split with, so re-indexing one document reproduces its segments."""

    __tablename__ = "dataset_process_rules"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    created_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Timestamps, Base):
    """One source (a file, a text, a page) of a dataset and where its indexing stands.

    The source is always a stored file (``data_source_info.upload_file_id``): text given
    through the API is stored as a ``.txt`` upload first, as Dify does, so a job resumed
    after a crash reads exactly what was sent."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    data_source_type: Mapped[str] = mapped_column(String(32), default="upload_file")
    data_source_info: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    process_rule_id: Mapped[str | None] = mapped_column(Id, ForeignKey("dataset_process_rules.id", ondelete="SET NULL"))
    batch: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    created_from: Mapped[str] = mapped_column(String(16), default="api")
    created_by: Mapped[str | None] = mapped_column(Id)
    doc_form: Mapped[str] = mapped_column(String(32), default="text_model")
    doc_language: Mapped[str | None] = mapped_column(String(64))
    indexing_status: Mapped[str] = mapped_column(String(16), default="waiting")
    processing_started_at: Mapped[datetime | None]
    parsing_completed_at: Mapped[datetime | None]
    cleaning_completed_at: Mapped[datetime | None]
    splitting_completed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    indexing_latency: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None]
    disabled_by: Mapped[str | None] = mapped_column(Id)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None]
    archived_by: Mapped[str | None] = mapped_column(Id)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    doc_metadata: Mapped[dict[str, Any]] = mapped_column(default=json_default)

    __table_args__ = (
        CheckConstraint(_in("indexing_status", INDEXING_STATUSES), name="indexing_status"),
        CheckConstraint(_in("doc_form", DOC_FORMS), name="doc_form"),
        UniqueConstraint("dataset_id", "position"),
        Index(None, "dataset_id", "created_at"),
        Index(None, "indexing_status"),
        Index(None, "dataset_id", "batch"),
    )


class Segment(Timestamps, Base):
    """A chunk of a document. ``index_node_id`` names its entry in the knowledge index
    (equal to ``id``); in parent-child datasets the entries are its child chunks."""

    __tablename__ = "document_segments"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(Id, ForeignKey("documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    index_node_id: Mapped[str | None] = mapped_column(String(64))
    index_node_hash: Mapped[str | None] = mapped_column(String(64))
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None]
    disabled_by: Mapped[str | None] = mapped_column(Id)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    created_by: Mapped[str | None] = mapped_column(Id)
    indexing_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    stopped_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", SEGMENT_STATUSES), name="status"),
        UniqueConstraint("document_id", "position"),
        Index(None, "dataset_id", "status"),
    )


class ChildChunk(Timestamps, Base):
    """A child chunk of a parent-child segment: the unit that is searched; a hit returns
    its parent with the matched children."""

    __tablename__ = "child_chunks"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(Id, ForeignKey("documents.id", ondelete="CASCADE"))
    segment_id: Mapped[str] = mapped_column(Id, ForeignKey("document_segments.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    index_node_id: Mapped[str | None] = mapped_column(String(64))
    index_node_hash: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16), default="automatic")
    created_by: Mapped[str | None] = mapped_column(Id)
    indexing_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_in("type", ("automatic", "customized")), name="type"),
        UniqueConstraint("segment_id", "position"),
        Index(None, "document_id"),
    )


class DatasetMetadataField(Base):
    """A metadata field of a dataset; documents hold its values in ``doc_metadata`` by name."""

    __tablename__ = "dataset_metadata"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_in("type", METADATA_TYPES), name="type"),
        UniqueConstraint("dataset_id", "name"),
    )


class Tag(Base):
    """A workspace's tag for knowledge bases (``knowledge``) or apps (``app``)."""

    __tablename__ = "tags"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("type", ("knowledge", "app")), name="type"),
        UniqueConstraint("workspace_id", "type", "name"),
    )


class TagBinding(Base):
    __tablename__ = "tag_bindings"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    tag_id: Mapped[str] = mapped_column(Id, ForeignKey("tags.id", ondelete="CASCADE"))
    target_id: Mapped[str] = mapped_column(Id, index=True)
    created_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("tag_id", "target_id"),)


class AppDatasetLink(Base):
    """Which datasets the live (published) configuration of an app reads; replaced in the
    same transaction as the publish that changes it."""

    __tablename__ = "app_dataset_links"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    dataset_id: Mapped[str] = mapped_column(Id, ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("app_id", "dataset_id"),)


class ApiKey(Base):
    """An ``app-`` key (one app) or a ``ds-`` key (a workspace's knowledge API).

    The key itself is shown once at creation; only its SHA-256 and a short hint
    (prefix and last four characters) are kept.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str | None] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("kind", ("app", "dataset")), name="kind"),
        CheckConstraint("(kind = 'app') = (app_id IS NOT NULL)", name="app_key_has_app"),
        Index(None, "workspace_id", "kind"),
    )


class EndUser(Timestamps, Base):
    """A caller's end user, identified by the opaque ``user`` string, scoped per app."""

    __tablename__ = "end_users"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32), default="service-api")
    external_user_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("app_id", "type", "session_id"),)


class Conversation(Timestamps, Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    app_version_id: Mapped[str | None] = mapped_column(Id, ForeignKey("app_versions.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255), default="")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    introduction: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="normal")
    from_source: Mapped[str] = mapped_column(String(16))
    from_end_user_id: Mapped[str | None] = mapped_column(Id, ForeignKey("end_users.id", ondelete="SET NULL"))
    from_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    dialogue_count: Mapped[int] = mapped_column(Integer, default=0)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        CheckConstraint(_in("from_source", ("api", "console")), name="from_source"),
        Index(None, "app_id", "from_end_user_id", "updated_at"),
    )


class ConversationVariable(Timestamps, Base):
    """A chatflow's conversation variable, as it stands in one conversation."""

    __tablename__ = "conversation_variables"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    value_type: Mapped[str] = mapped_column(String(32), default="string")
    value: Mapped[dict[str, Any]] = mapped_column(default=json_default)  # {"value": ...}
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("conversation_id", "name"),)


class Message(Timestamps, Base):
    """One turn. ``message_metadata`` carries the accounting Dify reports (model, token
    counts, latency, prices as decimal strings, retriever resources) and is GIN-indexed on
    PostgreSQL for the statistics queries."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    parent_message_id: Mapped[str | None] = mapped_column(Id)
    query: Mapped[str] = mapped_column(Text, default="")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    answer: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="normal")
    error: Mapped[str | None] = mapped_column(Text)
    message_metadata: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    from_source: Mapped[str] = mapped_column(String(16))
    from_end_user_id: Mapped[str | None] = mapped_column(Id, ForeignKey("end_users.id", ondelete="SET NULL"))
    from_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    workflow_run_id: Mapped[str | None] = mapped_column(Id)

    __table_args__ = (
        CheckConstraint(_in("status", ("normal", "error")), name="status"),
        Index(None, "conversation_id", "created_at"),
        Index(None, "app_id", "created_at"),
    )


class MessageFeedback(Timestamps, Base):
    """A like or dislike of an answer, by the end user (or an account, from the console)."""

    __tablename__ = "message_feedbacks"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(Id, ForeignKey("messages.id", ondelete="CASCADE"))
    rating: Mapped[str] = mapped_column(String(16))
    content: Mapped[str | None] = mapped_column(Text)
    from_source: Mapped[str] = mapped_column(String(16))
    from_end_user_id: Mapped[str | None] = mapped_column(Id, ForeignKey("end_users.id", ondelete="SET NULL"))
    from_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("message_id", "from_source"),
        CheckConstraint(_in("rating", ("like", "dislike")), name="rating"),
        CheckConstraint(_in("from_source", ("user", "admin")), name="from_source"),
        Index(None, "app_id", "created_at"),
    )


class WorkflowRun(Base):
    __tablename__ = "workflow_runs"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    app_version_id: Mapped[str | None] = mapped_column(Id, ForeignKey("app_versions.id", ondelete="SET NULL"))
    version: Mapped[str] = mapped_column(String(64))
    triggered_from: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="running")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    outputs: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    exceptions_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_role: Mapped[str] = mapped_column(String(16))
    created_by_end_user_id: Mapped[str | None] = mapped_column(Id, ForeignKey("end_users.id", ondelete="SET NULL"))
    created_by_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    conversation_id: Mapped[str | None] = mapped_column(Id)
    message_id: Mapped[str | None] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", WORKFLOW_RUN_STATUSES), name="status"),
        CheckConstraint(_in("created_by_role", ("account", "end_user")), name="created_by_role"),
        Index(None, "app_id", "created_at"),
        Index(None, "status", "created_at"),
        Index(None, "finished_at"),  # retention finds expired runs through it
    )


class NodeExecution(Base):
    __tablename__ = "node_executions"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    workflow_run_id: Mapped[str] = mapped_column(Id, ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(255))
    node_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255), default="")
    index: Mapped[int] = mapped_column(Integer)
    predecessor_node_id: Mapped[str | None] = mapped_column(String(255))
    inputs: Mapped[dict[str, Any] | None]
    process_data: Mapped[dict[str, Any] | None]
    outputs: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(32), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    elapsed_time: Mapped[float] = mapped_column(Float, default=0.0)
    execution_metadata: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "workflow_run_id", "index"),)


class UploadFile(Base):
    """A file uploaded through the API or console; the bytes live in the file store."""

    __tablename__ = "upload_files"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    storage_key: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    extension: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    created_by_role: Mapped[str] = mapped_column(String(16))
    created_by_end_user_id: Mapped[str | None] = mapped_column(Id, ForeignKey("end_users.id", ondelete="SET NULL"))
    created_by_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("created_by_role", ("account", "end_user")), name="created_by_role"),
        Index(None, "workspace_id", "created_at"),
    )


class AuditEvent(Base):
    """Who changed what. Append-only: the migrations install triggers that refuse UPDATE
    and DELETE on this table, so not even a bug in Plait can rewrite history."""

    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str | None] = mapped_column(Id)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("actor_type", ("account", "api_key", "cli", "system")), name="actor_type"),
        Index(None, "workspace_id", "created_at"),
    )


ANNOTATION_JOB_STATUSES = ("waiting", "processing", "completed", "error")


class Annotation(Timestamps, Base):
    """A curated answer to a question. With annotation reply on, a chat turn whose query is
    close enough to ``question`` is answered with ``answer`` and no model call.

    ``embedding`` is the question's vector as the model named in it made it:
    ``{"provider", "model", "question", "vector"}``; a changed question or another model
    shows it stale, and the enable job recomputes it."""

    __tablename__ = "annotations"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(Id, ForeignKey("conversations.id", ondelete="SET NULL"))
    message_id: Mapped[str | None] = mapped_column(Id, ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    embedding: Mapped[dict[str, Any] | None]

    __table_args__ = (
        CheckConstraint("hit_count >= 0", name="hit_count"),
        Index(None, "app_id", "created_at"),
    )


class AnnotationSetting(Timestamps, Base):
    """An app's annotation reply, present while it is on: the embedding model and the least
    similarity a query needs to get an annotation's answer."""

    __tablename__ = "annotation_settings"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    score_threshold: Mapped[float] = mapped_column(Float)
    embedding_provider_name: Mapped[str] = mapped_column(String(255))
    embedding_model_name: Mapped[str] = mapped_column(String(255))
    created_by_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_by_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))


class AnnotationHit(Base):
    """One query answered from an annotation: what was asked, how similar it was, which
    message got the answer and who asked. The annotation's question and answer are copied,
    as they stood then."""

    __tablename__ = "annotation_hit_histories"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    annotation_id: Mapped[str] = mapped_column(Id, ForeignKey("annotations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    message_id: Mapped[str | None] = mapped_column(Id, ForeignKey("messages.id", ondelete="SET NULL"))
    end_user_id: Mapped[str | None] = mapped_column(Id, ForeignKey("end_users.id", ondelete="SET NULL"))
    account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))
    annotation_question: Mapped[str] = mapped_column(Text)
    annotation_answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("source", ("api", "console")), name="source"),
        Index(None, "annotation_id", "created_at"),
        Index(None, "app_id", "created_at"),
    )


class AnnotationJob(Timestamps, Base):
    """A background enable or disable of an app's annotation reply. ``runner_id`` names the
    process running it and ``heartbeat_at`` says it is still alive; a job whose runner
    stopped beating is marked ``error`` instead of staying ``processing`` for ever."""

    __tablename__ = "annotation_jobs"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    error_msg: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    runner_id: Mapped[str] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_account_id: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(_in("action", ("enable", "disable")), name="action"),
        CheckConstraint(_in("status", ANNOTATION_JOB_STATUSES), name="status"),
        Index(None, "app_id", "status"),
    )


MODEL_TYPES = ("llm", "text-embedding", "rerank")


class ProviderCredential(Timestamps, Base):
    """A workspace's credentials for a model provider (``model_name`` empty) or for one of
    its custom models (a self-hosted server's model, an Azure deployment). ``config`` holds
    the credential form's values with every secret field sealed (``app/secret_box.py``)."""

    __tablename__ = "provider_credentials"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64))
    model_type: Mapped[str] = mapped_column(String(32), default="")
    model_name: Mapped[str] = mapped_column(String(255), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    created_by: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("workspace_id", "provider", "model_type", "model_name"),
        CheckConstraint(_in("model_type", ("", *MODEL_TYPES)), name="model_type"),
    )


class DefaultModel(Timestamps, Base):
    """The model a workspace uses for a model type when an app names none."""

    __tablename__ = "default_models"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    model_type: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        UniqueConstraint("workspace_id", "model_type"),
        CheckConstraint(_in("model_type", MODEL_TYPES), name="model_type"),
    )


TOOL_PROVIDER_TYPES = ("api", "mcp")


class CustomToolProvider(Timestamps, Base):
    """A workspace's own tool provider: an OpenAPI document (``api``) or an MCP server
    (``mcp``). ``config`` holds the provider's form; every credential and header value (and
    an MCP server's URL, whose query may carry a token) is sealed (``app/secret_box.py``).
    ``server_identifier`` names an MCP server in DSL files (Dify's ``provider_id``)."""

    __tablename__ = "tool_providers"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider_type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    server_identifier: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    created_by: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("workspace_id", "provider_type", "name"),
        UniqueConstraint("workspace_id", "server_identifier"),
        CheckConstraint(_in("provider_type", TOOL_PROVIDER_TYPES), name="provider_type"),
    )


class WorkflowToolProvider(Timestamps, Base):
    """A published workflow app offered as a tool under ``name`` (one registration per app).
    ``config`` holds the icon, the parameters' descriptions, the privacy policy and labels."""

    __tablename__ = "workflow_tools"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(Id, ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(Id, ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=json_default)
    created_by: Mapped[str | None] = mapped_column(Id, ForeignKey("accounts.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("workspace_id", "name"), UniqueConstraint("app_id"))
