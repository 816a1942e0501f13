"""Knowledge bases: datasets' settings, process rules, documents with their indexing
state, segments and child chunks, metadata fields, and tags.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("type IN ('knowledge', 'app')", name=op.f("ck_tags_type")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_tags_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("workspace_id", "type", "name", name=op.f("uq_tags_workspace_id_type_name")),
    )
    op.create_table(
        "dataset_metadata",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("type IN ('string', 'number', 'time')", name=op.f("ck_dataset_metadata_type")),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_metadata_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_dataset_metadata_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_metadata")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_dataset_metadata_dataset_id_name")),
    )
    op.create_table(
        "dataset_process_rules",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_process_rules_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_process_rules")),
    )
    op.create_index(op.f("ix_dataset_process_rules_dataset_id"), "dataset_process_rules", ["dataset_id"], unique=False)
    op.create_table(
        "tag_bindings",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("tag_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("target_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_tag_bindings_tag_id_tags"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_tag_bindings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_bindings")),
        sa.UniqueConstraint("tag_id", "target_id", name=op.f("uq_tag_bindings_tag_id_target_id")),
    )
    op.create_index(op.f("ix_tag_bindings_target_id"), "tag_bindings", ["target_id"], unique=False)
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data_source_type", sa.String(length=32), nullable=False),
        sa.Column("data_source_info", JSON, nullable=False),
        sa.Column("process_rule_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_from", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("doc_form", sa.String(length=32), nullable=False),
        sa.Column("doc_language", sa.String(length=64), nullable=True),
        sa.Column("indexing_status", sa.String(length=16), nullable=False),
        sa.Column("processing_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parsing_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleaning_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("splitting_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("indexing_latency", sa.Float(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("doc_metadata", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "doc_form IN ('text_model', 'hierarchical_model', 'qa_model')", name=op.f("ck_documents_doc_form")
        ),
        sa.CheckConstraint(
            "indexing_status IN ('waiting', 'parsing', 'cleaning', 'splitting', 'indexing', 'completed', 'error', 'paused', 'stopped')",
            name=op.f("ck_documents_indexing_status"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_documents_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["process_rule_id"],
            ["dataset_process_rules.id"],
            name=op.f("fk_documents_process_rule_id_dataset_process_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_documents_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("dataset_id", "position", name=op.f("uq_documents_dataset_id_position")),
    )
    op.create_index(op.f("ix_documents_dataset_id_batch"), "documents", ["dataset_id", "batch"], unique=False)
    op.create_index(op.f("ix_documents_dataset_id_created_at"), "documents", ["dataset_id", "created_at"], unique=False)
    op.create_index(op.f("ix_documents_indexing_status"), "documents", ["indexing_status"], unique=False)
    op.create_table(
        "document_segments",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("document_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("index_node_id", sa.String(length=64), nullable=True),
        sa.Column("index_node_hash", sa.String(length=64), nullable=True),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("indexing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('waiting', 'indexing', 'completed', 'error', 're_segment')",
            name=op.f("ck_document_segments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_document_segments_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_segments_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_document_segments_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_segments")),
        sa.UniqueConstraint("document_id", "position", name=op.f("uq_document_segments_document_id_position")),
    )
    op.create_index(
        op.f("ix_document_segments_dataset_id_status"), "document_segments", ["dataset_id", "status"], unique=False
    )
    op.create_table(
        "child_chunks",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("document_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("segment_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("index_node_id", sa.String(length=64), nullable=True),
        sa.Column("index_node_hash", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("indexing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("type IN ('automatic', 'customized')", name=op.f("ck_child_chunks_type")),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_child_chunks_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_child_chunks_document_id_documents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["document_segments.id"],
            name=op.f("fk_child_chunks_segment_id_document_segments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_child_chunks_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_child_chunks")),
        sa.UniqueConstraint("segment_id", "position", name=op.f("uq_child_chunks_segment_id_position")),
    )
    op.create_index(op.f("ix_child_chunks_document_id"), "child_chunks", ["document_id"], unique=False)
    op.create_table(
        "dataset_permissions",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("workspace_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dataset_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("account_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_dataset_permissions_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_permissions_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_dataset_permissions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_permissions")),
        sa.UniqueConstraint("dataset_id", "account_id", name=op.f("uq_dataset_permissions_dataset_id_account_id")),
    )
    op.create_index(op.f("ix_dataset_permissions_account_id"), "dataset_permissions", ["account_id"], unique=False)
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("provider", sa.String(length=16), nullable=False, server_default="vendor"))
        batch.add_column(sa.Column("data_source_type", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("embedding_model", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("embedding_model_provider", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("retrieval_model", JSON, nullable=True))
        batch.add_column(sa.Column("doc_form", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("enable_api", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("built_in_field_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("updated_by", sa.Uuid(as_uuid=False), nullable=True))
        batch.create_check_constraint(
            op.f("ck_datasets_indexing_technique"),
            "indexing_technique IS NULL OR indexing_technique IN ('high_quality', 'economy')",
        )
        batch.create_check_constraint(
            op.f("ck_datasets_doc_form"),
            "doc_form IS NULL OR doc_form IN ('text_model', 'hierarchical_model', 'qa_model')",
        )


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_constraint("doc_form", type_="check")
        batch.drop_constraint("indexing_technique", type_="check")
        batch.drop_column("updated_by")
        batch.drop_column("built_in_field_enabled")
        batch.drop_column("enable_api")
        batch.drop_column("doc_form")
        batch.drop_column("retrieval_model")
        batch.drop_column("embedding_model_provider")
        batch.drop_column("embedding_model")
        batch.drop_column("data_source_type")
        batch.drop_column("provider")

    op.drop_index(op.f("ix_child_chunks_document_id"), table_name="child_chunks")
    op.drop_table("child_chunks")
    op.drop_index(op.f("ix_document_segments_dataset_id_status"), table_name="document_segments")
    op.drop_table("document_segments")
    op.drop_index(op.f("ix_documents_indexing_status"), table_name="documents")
    op.drop_index(op.f("ix_documents_dataset_id_created_at"), table_name="documents")
    op.drop_index(op.f("ix_documents_dataset_id_batch"), table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_tag_bindings_target_id"), table_name="tag_bindings")
    op.drop_table("tag_bindings")
    op.drop_index(op.f("ix_dataset_process_rules_dataset_id"), table_name="dataset_process_rules")
    op.drop_table("dataset_process_rules")
    op.drop_table("dataset_metadata")
    op.drop_table("tags")
    op.drop_index(op.f("ix_dataset_permissions_account_id"), table_name="dataset_permissions")
    op.drop_table("dataset_permissions")
