"""jobs: long operations to poll; tasks gain the client's UUID (cases reported offline)

Revision ID: 0013_jobs
Revises: 0012_direct_texts
Create Date: 2026-11-30 21:00:00

``jobs`` holds a long operation sent with ``Prefer: respond-async`` (grid plans, place imports):
status, progress, the requester, params, the result or the error, and a lease (``claimed_by``,
``lease_until``) for workers that claim jobs. ``tasks`` gains ``uuid`` (unique: a case reported
from a terminal is stored once), ``content_hash`` (a retry or a different record under that
UUID), ``attachments``, ``observed_at`` and ``accuracy_m``. ``tasks`` has a geometry: its new
columns are added in place (no batch rebuild on SQLite, which would lose the SpatiaLite
registration), and the UUID's uniqueness is a unique index there.

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import gridserve.db  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '0013_jobs'
down_revision = '0012_direct_texts'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TASK_COLUMNS = ('accuracy_m', 'observed_at', 'attachments', 'content_hash', 'uuid')


def upgrade():
    op.create_table('jobs',
    sa.Column('id', _id, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.String(length=200), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=True),
    sa.Column('params', _json, nullable=False),
    sa.Column('payload', _json, nullable=True),
    sa.Column('result_url', sa.String(length=200), nullable=True),
    sa.Column('result', _json, nullable=True),
    sa.Column('error', _json, nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('lease_until', _ts, nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', _ts, nullable=False),
    sa.Column('started_at', _ts, nullable=True),
    sa.Column('finished_at', _ts, nullable=True),
    sa.Column('updated_at', _ts, nullable=False),
    sa.CheckConstraint("kind IN ('grid_plan', 'place_import')", name=op.f('ck_jobs_kind')),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f('ck_jobs_status')),
    sa.CheckConstraint('progress >= 0 AND progress <= 1', name=op.f('ck_jobs_progress')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_jobs_area_id_areas'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_jobs_requested_by_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index('ix_jobs_status_created', 'jobs', ['status', 'created_at'], unique=False)
    op.create_index(op.f('ix_jobs_requested_by'), 'jobs', ['requested_by'], unique=False)

    op.add_column('tasks', sa.Column('uuid', sa.String(length=36), nullable=True))
    op.add_column('tasks', sa.Column('content_hash', sa.String(length=64), nullable=True))
    op.add_column('tasks', sa.Column('attachments', _json, nullable=True))
    op.add_column('tasks', sa.Column('observed_at', _ts, nullable=True))
    op.add_column('tasks', sa.Column('accuracy_m', sa.Float(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.create_unique_constraint(op.f('uq_tasks_uuid'), 'tasks', ['uuid'])
    else:
        op.create_index('uq_tasks_uuid', 'tasks', ['uuid'], unique=True)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('uq_tasks_uuid'), 'tasks', type_='unique')
    else:
        op.drop_index('uq_tasks_uuid', table_name='tasks')
    for column in _TASK_COLUMNS:
        op.drop_column('tasks', column)
    op.drop_index(op.f('ix_jobs_requested_by'), table_name='jobs')
    op.drop_index('ix_jobs_status_created', table_name='jobs')
    op.drop_table('jobs')
