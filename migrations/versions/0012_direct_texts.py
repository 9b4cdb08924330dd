"""direct texts: the outbox carries texts outside a campaign (change notices, reminders)

Revision ID: 0012_direct_texts
Revises: 0011_outreach
Create Date: 2026-11-30 20:30:00

``sms_messages`` gains the kind ``direct``: no campaign, sender, text or slot (those columns
become nullable, and a CHECK keeps them required for campaign kinds), a ``purpose`` key unique
per number, and the channel it goes out on (required for ``direct``). ``sms_messages`` has no
geometry, so SQLite's batch rebuild is safe (nor has ``outreach_notices``, which gains the key
that makes one notice per participant and change).

"""
from alembic import op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '0012_direct_texts'
down_revision = '0011_outreach'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)
_CAMPAIGN_FIELDS = (
    "kind = 'direct' OR (campaign_id IS NOT NULL AND sender_id IS NOT NULL"
    " AND text_id IS NOT NULL AND slot_start IS NOT NULL AND slot_end IS NOT NULL)"
)
_DIRECT_FIELDS = "kind <> 'direct' OR (purpose IS NOT NULL AND channel_id IS NOT NULL)"
_NULLABLE = (
    ('campaign_id', sa.Integer()),
    ('sender_id', sa.Integer()),
    ('text_id', sa.Integer()),
    ('slot_start', _ts),
    ('slot_end', _ts),
)


def upgrade():
    with op.batch_alter_table('sms_messages') as batch:
        batch.add_column(sa.Column('purpose', sa.String(length=120), nullable=True))
        for name, type_ in _NULLABLE:
            batch.alter_column(name, existing_type=type_, nullable=True)
        batch.drop_constraint(op.f('ck_sms_messages_kind'), type_='check')
        batch.create_check_constraint(
            op.f('ck_sms_messages_kind'), "kind IN ('mandated', 'custom', 'direct')"
        )
        batch.create_check_constraint(op.f('ck_sms_messages_campaign_fields'), _CAMPAIGN_FIELDS)
        batch.create_check_constraint(op.f('ck_sms_messages_direct_fields'), _DIRECT_FIELDS)
        batch.create_unique_constraint('uq_sms_messages_purpose', ['purpose', 'phone_hash'])
    with op.batch_alter_table('outreach_notices') as batch:
        batch.create_unique_constraint(
            'uq_outreach_notices_once', ['event_id', 'institution_id', 'event_version', 'reason']
        )
    op.create_index(
        'ix_sms_messages_direct',
        'sms_messages',
        ['channel_id', 'kind', 'status', 'next_attempt_at'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_sms_messages_direct', table_name='sms_messages')
    with op.batch_alter_table('outreach_notices') as batch:
        batch.drop_constraint('uq_outreach_notices_once', type_='unique')
    # Texts outside a campaign have no place in the older outbox: they go with the downgrade.
    op.execute(sa.text("DELETE FROM sms_messages WHERE kind = 'direct'"))
    with op.batch_alter_table('sms_messages') as batch:
        batch.drop_constraint('uq_sms_messages_purpose', type_='unique')
        batch.drop_constraint(op.f('ck_sms_messages_direct_fields'), type_='check')
        batch.drop_constraint(op.f('ck_sms_messages_campaign_fields'), type_='check')
        batch.drop_constraint(op.f('ck_sms_messages_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_sms_messages_kind'), "kind IN ('mandated', 'custom')")
        for name, type_ in _NULLABLE:
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.drop_column('purpose')
