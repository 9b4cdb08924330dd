"""login throttle per (username, address) and per address, with a growing lock

Revision ID: 0007_login_throttle
Revises: 0006
Create Date: 2026-12-01 10:00:00

The table holds only the failures of the current window, so it is rebuilt
empty rather than migrated: at worst a throttle in force is lifted once.
"""
from alembic import op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)

revision = '0007_login_throttle'
down_revision = '0006'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)


def upgrade():
    op.drop_table('login_throttle')
    op.create_table(
        'login_throttle',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', _ts, nullable=False),
        sa.Column('locked_until', _ts, nullable=True),
        sa.PrimaryKeyConstraint('username', 'address', name=op.f('pk_login_throttle')),
    )


def downgrade():
    op.drop_table('login_throttle')
    op.create_table(
        'login_throttle',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', _ts, nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle')),
    )
