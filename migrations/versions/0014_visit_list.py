"""visit list: programme dates for visits and the list of enterprises

Revision ID: 0014_visit_list
Revises: 0013_jobs
Create Date: 2026-11-30 22:30:00

``outreach_programmes`` gains ``list_due_on``, ``visits_from``, ``visits_to`` and
``summary_due_on`` (added in place). ``outreach_enterprises`` is the visit list: one row per
programme and unified social credit code, linked to a register place of type enterprise.

"""
from alembic import op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '0014_visit_list'
down_revision = '0013_jobs'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)
_DATES = ('list_due_on', 'visits_from', 'visits_to', 'summary_due_on')


def upgrade():
    for column in _DATES:
        op.add_column('outreach_programmes', sa.Column(column, sa.Date(), nullable=True))
    op.create_table('outreach_enterprises',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('industry', sa.String(length=100), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('visitor_user_id', sa.Integer(), nullable=True),
    sa.Column('visitor_is_cell', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', _ts, nullable=False),
    sa.Column('updated_at', _ts, nullable=False),
    sa.CheckConstraint("status IN ('listed', 'visited', 'closed')", name=op.f('ck_outreach_enterprises_status')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_outreach_enterprises_area_id_areas')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_enterprises_institution_id_institutions')),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_outreach_enterprises_place_id_places')),
    sa.ForeignKeyConstraint(['programme_id'], ['outreach_programmes.id'], name=op.f('fk_outreach_enterprises_programme_id_outreach_programmes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visitor_user_id'], ['users.id'], name=op.f('fk_outreach_enterprises_visitor_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_enterprises')),
    sa.UniqueConstraint('programme_id', 'credit_code', name='uq_outreach_enterprises_code')
    )
    op.create_index(op.f('ix_outreach_enterprises_place_id'), 'outreach_enterprises', ['place_id'], unique=False)
    op.create_index(op.f('ix_outreach_enterprises_area_id'), 'outreach_enterprises', ['area_id'], unique=False)
    op.create_index('ix_outreach_enterprises_programme_inst', 'outreach_enterprises', ['programme_id', 'institution_id'], unique=False)


def downgrade():
    op.drop_index('ix_outreach_enterprises_programme_inst', table_name='outreach_enterprises')
    op.drop_index(op.f('ix_outreach_enterprises_area_id'), table_name='outreach_enterprises')
    op.drop_index(op.f('ix_outreach_enterprises_place_id'), table_name='outreach_enterprises')
    op.drop_table('outreach_enterprises')
    for column in reversed(_DATES):
        op.drop_column('outreach_programmes', column)
