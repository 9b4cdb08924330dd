"""case deadlines: an index for the deadline job's supervision scan

Revision ID: 0017_deadlines
Revises: 0016_cases
Create Date: 2026-12-01 00:10:00

Expand only. ``tasks.supervision_due_at`` gets an index (``ix_tasks_supervision_due``): the
``case-deadlines`` job looks every minute for supervised cases past their supervision due time,
which without it is a scan of every task.

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017_deadlines'
down_revision = '0016_cases'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_tasks_supervision_due', 'tasks', ['supervision_due_at'], unique=False)


def downgrade():
    op.drop_index('ix_tasks_supervision_due', table_name='tasks')
