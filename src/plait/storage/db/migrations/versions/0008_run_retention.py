"""Run log retention: an index on ``workflow_runs.finished_at``, so that finding the runs
that finished before a cutoff reads only those, however many runs there are.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.create_index(batch.f("ix_workflow_runs_finished_at"), ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_index(batch.f("ix_workflow_runs_finished_at"))
