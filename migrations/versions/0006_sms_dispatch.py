"""sms dispatch: recipients, opt-out register, slot runs, the outbox

Revision ID: 0006
Revises: 0005_tasks
Create Date: 2026-11-24 10:00:00

"""
from alembic import op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)

revision = '0006'
down_revision = '0005_tasks'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)


def upgrade():
    op.create_table(
        'sms_recipients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', _ts, nullable=False),
        sa.CheckConstraint("source IN ('csv', 'households', 'enterprises')", name=op.f('ck_sms_recipients_source')),
        sa.ForeignKeyConstraint(['sender_id'], ['sms_senders.id'], name=op.f('fk_sms_recipients_sender_id_sms_senders'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_recipients')),
        sa.UniqueConstraint('sender_id', 'phone', name='uq_sms_recipients_phone'),
    )
    op.create_table(
        'sms_opt_outs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('created_at', _ts, nullable=False),
        sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_sms_opt_outs_institution_id_institutions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_opt_outs')),
    )
    op.create_index('uq_sms_opt_outs_global', 'sms_opt_outs', ['phone'], unique=True,
                    sqlite_where=sa.text('institution_id IS NULL'),
                    postgresql_where=sa.text('institution_id IS NULL'))
    op.create_index('uq_sms_opt_outs_sender', 'sms_opt_outs', ['phone', 'institution_id'], unique=True,
                    sqlite_where=sa.text('institution_id IS NOT NULL'),
                    postgresql_where=sa.text('institution_id IS NOT NULL'))
    op.create_table(
        'sms_slot_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('slot_start', _ts, nullable=False),
        sa.Column('slot_end', _ts, nullable=False),
        sa.Column('opened_at', _ts, nullable=False),
        sa.Column('first_accepted_at', _ts, nullable=True),
        sa.Column('mandated_done_at', _ts, nullable=True),
        sa.Column('closed_at', _ts, nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['sms_campaigns.id'], name=op.f('fk_sms_slot_runs_campaign_id_sms_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sender_id'], ['sms_senders.id'], name=op.f('fk_sms_slot_runs_sender_id_sms_senders'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_slot_runs')),
        sa.UniqueConstraint('sender_id', 'slot_start', name='uq_sms_slot_runs_slot'),
    )
    op.create_index(op.f('ix_sms_slot_runs_campaign_id'), 'sms_slot_runs', ['campaign_id'], unique=False)
    op.create_table(
        'sms_messages',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=False),
        sa.Column('text_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', _ts, nullable=False),
        sa.Column('slot_start', _ts, nullable=False),
        sa.Column('slot_end', _ts, nullable=False),
        sa.Column('claimed_at', _ts, nullable=True),
        sa.Column('channel_id', sa.Integer(), nullable=True),
        sa.Column('gateway_id', sa.String(length=80), nullable=True),
        sa.Column('segments', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.Column('created_at', _ts, nullable=False),
        sa.Column('accepted_at', _ts, nullable=True),
        sa.Column('finished_at', _ts, nullable=True),
        sa.CheckConstraint("status IN ('waiting', 'queued', 'submitting', 'accepted', 'delivered', 'failed', 'expired', 'opted_out')", name=op.f('ck_sms_messages_status')),
        sa.CheckConstraint("kind IN ('mandated', 'custom')", name=op.f('ck_sms_messages_kind')),
        sa.ForeignKeyConstraint(['campaign_id'], ['sms_campaigns.id'], name=op.f('fk_sms_messages_campaign_id_sms_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sender_id'], ['sms_senders.id'], name=op.f('fk_sms_messages_sender_id_sms_senders'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['text_id'], ['sms_texts.id'], name=op.f('fk_sms_messages_text_id_sms_texts')),
        sa.ForeignKeyConstraint(['channel_id'], ['sms_channels.id'], name=op.f('fk_sms_messages_channel_id_sms_channels')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages')),
        sa.UniqueConstraint('campaign_id', 'sender_id', 'phone', 'text_id', name='uq_sms_messages_once'),
    )
    op.create_index('ix_sms_messages_claim', 'sms_messages', ['sender_id', 'status', 'next_attempt_at'], unique=False)
    op.create_index('ix_sms_messages_phone', 'sms_messages', ['campaign_id', 'phone'], unique=False)
    op.create_index('ix_sms_messages_gateway_id', 'sms_messages', ['gateway_id'], unique=False)


def downgrade():
    op.drop_table('sms_messages')
    op.drop_table('sms_slot_runs')
    op.drop_index('uq_sms_opt_outs_sender', table_name='sms_opt_outs')
    op.drop_index('uq_sms_opt_outs_global', table_name='sms_opt_outs')
    op.drop_table('sms_opt_outs')
    op.drop_table('sms_recipients')
