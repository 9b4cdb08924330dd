"""working-day calendars the operator loads (versioned), and the days opened SMS slots used

Revision ID: 0009_calendars
Revises: 0006
Create Date: 2026-11-30 18:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import gridserve.db  # noqa: F401  (UTCDateTime)

revision = '0009_calendars'
down_revision = '0007_login_throttle'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)


def upgrade():
    op.create_table(
        'work_calendars',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('holidays', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('workdays', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('created_at', _ts, nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_work_calendars_created_by_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_work_calendars')),
        sa.UniqueConstraint('country', 'year', 'version', name='uq_work_calendars_version'),
    )
    op.create_table(
        'sms_campaign_days',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('working', sa.Boolean(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['sms_campaigns.id'], name=op.f('fk_sms_campaign_days_campaign_id_sms_campaigns'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', 'day', name=op.f('pk_sms_campaign_days')),
    )


def downgrade():
    op.drop_table('sms_campaign_days')
    op.drop_table('work_calendars')
