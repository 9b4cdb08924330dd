"""case indexes: the case list's filters and order in one index

Revision ID: 0018_case_indexes
Revises: 0017_deadlines
Create Date: 2026-12-01 00:10:00

Expand only. ``ix_tasks_case_list`` on ``tasks (kind, status, level, created_at, id, area_id)``:
the case list (``GET /api/v1/tasks?kind=case&status=&level=``) read in its default order
(``-created_at``, then ``-id``) by an index scan backwards, its scope (``area_id``) checked and
its COUNT answered from the index alone. Without it a street's list over 100,000 cases read
every case of the street and sorted them for each page (bench/case_list.py).

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018_case_indexes'
down_revision = '0017_deadlines'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_tasks_case_list',
        'tasks',
        ['kind', 'status', 'level', 'created_at', 'id', 'area_id'],
    )


def downgrade():
    op.drop_index('ix_tasks_case_list', table_name='tasks')
