"""sms rate buckets: one token bucket per channel and one for the platform, shared by processes

Revision ID: 0020_sms_rate_buckets
Revises: 0019_assessment
Create Date: 2026-12-01 04:30:00

Expand only. New table ``sms_rate_buckets`` (key ``channel:<id>`` or ``platform``, tokens in
carrier segments, the database clock's stamp of the last take): on PostgreSQL every dispatcher
process takes its tokens from these rows, so the channel rates and the platform cap hold for all
of them together (:mod:`gridserve.services.sms.rates`). The rows are created on first use and
hold nothing that must survive: a dropped or emptied table costs at most one second's burst.
SQLite (one scheduler) keeps its buckets in the process; the table is created there too, so the
schema is the same on both backends.

"""
from alembic import op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '0020_sms_rate_buckets'
down_revision = '0019_assessment'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sms_rate_buckets',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('stamp', gridserve.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_sms_rate_buckets')),
    )


def downgrade():
    op.drop_table('sms_rate_buckets')
