"""Annotations: curated answers, an app's annotation reply setting, the hits it answered,
and the background jobs that enable and disable it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _id(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Uuid(as_uuid=False), nullable=nullable)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "annotations",
        _id("id"),
        _id("workspace_id"),
        _id("app_id"),
        _id("conversation_id", nullable=True),
        _id("message_id", nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        _id("created_by_account_id", nullable=True),
        sa.Column("embedding", JSON, nullable=True),
        *_timestamps(),
        sa.CheckConstraint("hit_count >= 0", name=op.f("ck_annotations_hit_count")),
        _fk("annotations", "workspace_id", "workspaces", "CASCADE"),
        _fk("annotations", "app_id", "apps", "CASCADE"),
        _fk("annotations", "conversation_id", "conversations", "SET NULL"),
        _fk("annotations", "message_id", "messages", "SET NULL"),
        _fk("annotations", "created_by_account_id", "accounts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations") as batch:
        batch.create_index(batch.f("ix_annotations_app_id_created_at"), ["app_id", "created_at"], unique=False)
        batch.create_index(batch.f("ix_annotations_message_id"), ["message_id"], unique=False)

    op.create_table(
        "annotation_settings",
        _id("id"),
        _id("app_id"),
        sa.Column("score_threshold", sa.Float(), nullable=False),
        sa.Column("embedding_provider_name", sa.String(length=255), nullable=False),
        sa.Column("embedding_model_name", sa.String(length=255), nullable=False),
        _id("created_by_account_id", nullable=True),
        _id("updated_by_account_id", nullable=True),
        *_timestamps(),
        _fk("annotation_settings", "app_id", "apps", "CASCADE"),
        _fk("annotation_settings", "created_by_account_id", "accounts", "SET NULL"),
        _fk("annotation_settings", "updated_by_account_id", "accounts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_settings")),
        sa.UniqueConstraint("app_id", name=op.f("uq_annotation_settings_app_id")),
    )

    op.create_table(
        "annotation_hit_histories",
        _id("id"),
        _id("app_id"),
        _id("annotation_id"),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        _id("message_id", nullable=True),
        _id("end_user_id", nullable=True),
        _id("account_id", nullable=True),
        sa.Column("annotation_question", sa.Text(), nullable=False),
        sa.Column("annotation_answer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('api', 'console')", name=op.f("ck_annotation_hit_histories_source")),
        _fk("annotation_hit_histories", "app_id", "apps", "CASCADE"),
        _fk("annotation_hit_histories", "annotation_id", "annotations", "CASCADE"),
        _fk("annotation_hit_histories", "message_id", "messages", "SET NULL"),
        _fk("annotation_hit_histories", "end_user_id", "end_users", "SET NULL"),
        _fk("annotation_hit_histories", "account_id", "accounts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_hit_histories")),
    )
    with op.batch_alter_table("annotation_hit_histories") as batch:
        batch.create_index(
            batch.f("ix_annotation_hit_histories_annotation_id_created_at"),
            ["annotation_id", "created_at"],
            unique=False,
        )
        batch.create_index(
            batch.f("ix_annotation_hit_histories_app_id_created_at"), ["app_id", "created_at"], unique=False
        )

    op.create_table(
        "annotation_jobs",
        _id("id"),
        _id("app_id"),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_msg", sa.Text(), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("runner_id", sa.String(length=64), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        _id("created_by_account_id", nullable=True),
        *_timestamps(),
        sa.CheckConstraint("action IN ('enable', 'disable')", name=op.f("ck_annotation_jobs_action")),
        sa.CheckConstraint(
            "status IN ('waiting', 'processing', 'completed', 'error')", name=op.f("ck_annotation_jobs_status")
        ),
        _fk("annotation_jobs", "app_id", "apps", "CASCADE"),
        _fk("annotation_jobs", "created_by_account_id", "accounts", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_jobs")),
    )
    with op.batch_alter_table("annotation_jobs") as batch:
        batch.create_index(batch.f("ix_annotation_jobs_app_id_status"), ["app_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_table("annotation_jobs")
    op.drop_table("annotation_hit_histories")
    op.drop_table("annotation_settings")
    op.drop_table("annotations")
