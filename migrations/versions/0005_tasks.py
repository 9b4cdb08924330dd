"""tasks and cases: work given to a worker, problems reported from the field, their history

Revision ID: 0005_tasks
Revises: 0004
Create Date: 2026-11-25 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

import gridserve.db  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '0005_tasks'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_geospatial_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('cell_id', sa.Integer(), nullable=True),
    sa.Column('cell_code', sa.String(length=40), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('assigned_worker_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('due_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('closed_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('task', 'case')", name=op.f('ck_tasks_kind')),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'done', 'cancelled')", name=op.f('ck_tasks_status')),
    sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f('ck_tasks_priority')),
    sa.CheckConstraint("source IN ('station', 'terminal')", name=op.f('ck_tasks_source')),
    sa.CheckConstraint("(status IN ('done', 'cancelled') AND closed_at IS NOT NULL) OR (status IN ('open', 'in_progress') AND closed_at IS NULL)", name=op.f('ck_tasks_closed')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_tasks_area_id_areas')),
    sa.ForeignKeyConstraint(['assigned_worker_id'], ['workers.id'], name=op.f('fk_tasks_assigned_worker_id_workers')),
    sa.ForeignKeyConstraint(['cell_id'], ['grid_cells.id'], name=op.f('fk_tasks_cell_id_grid_cells'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_tasks_created_by_users')),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_tasks_place_id_places')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    op.create_geospatial_index('idx_tasks_geom', 'tasks', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_tasks_area_id'), 'tasks', ['area_id'], unique=False)
    op.create_index(op.f('ix_tasks_change_seq'), 'tasks', ['change_seq'], unique=False)
    op.create_index(op.f('ix_tasks_place_id'), 'tasks', ['place_id'], unique=False)
    op.create_index('ix_tasks_worker_status', 'tasks', ['assigned_worker_id', 'status'], unique=False)
    op.create_table('task_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('from_worker_id', sa.Integer(), nullable=True),
    sa.Column('to_worker_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.Column('at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('created', 'edited', 'assigned', 'status')", name=op.f('ck_task_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_task_events_actor_id_users')),
    sa.ForeignKeyConstraint(['from_worker_id'], ['workers.id'], name=op.f('fk_task_events_from_worker_id_workers')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_events_task_id_tasks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_worker_id'], ['workers.id'], name=op.f('fk_task_events_to_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_events'))
    )
    op.create_index('ix_task_events_from_worker_seq', 'task_events', ['from_worker_id', 'change_seq'], unique=False)
    op.create_index(op.f('ix_task_events_task_id'), 'task_events', ['task_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_task_events_task_id'), table_name='task_events')
    op.drop_index('ix_task_events_from_worker_seq', table_name='task_events')
    op.drop_table('task_events')
    op.drop_index('ix_tasks_worker_status', table_name='tasks')
    op.drop_index(op.f('ix_tasks_place_id'), table_name='tasks')
    op.drop_index(op.f('ix_tasks_change_seq'), table_name='tasks')
    op.drop_index(op.f('ix_tasks_area_id'), table_name='tasks')
    op.drop_geospatial_index('idx_tasks_geom', table_name='tasks', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('tasks')
