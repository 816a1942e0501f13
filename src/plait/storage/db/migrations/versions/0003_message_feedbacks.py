"""Message feedback: likes and dislikes of answers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_feedbacks",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("app_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("message_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("from_source", sa.String(length=16), nullable=False),
        sa.Column("from_end_user_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("from_account_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating IN ('like', 'dislike')", name=op.f("ck_message_feedbacks_rating")),
        sa.CheckConstraint("from_source IN ('user', 'admin')", name=op.f("ck_message_feedbacks_from_source")),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_message_feedbacks_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_feedbacks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_feedbacks_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["from_end_user_id"],
            ["end_users.id"],
            name=op.f("fk_message_feedbacks_from_end_user_id_end_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_message_feedbacks_from_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_feedbacks")),
        sa.UniqueConstraint("message_id", "from_source", name=op.f("uq_message_feedbacks_message_id_from_source")),
    )
    with op.batch_alter_table("message_feedbacks") as batch:
        batch.create_index(batch.f("ix_message_feedbacks_app_id_created_at"), ["app_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("message_feedbacks")
