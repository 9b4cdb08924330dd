"""outreach: programmes, publicity events, rosters, plans, reports, notices, calendar feeds; place type square

Revision ID: 0011_outreach
Revises: 0010_phone_hashes
Create Date: 2026-11-30 20:06:45

Place types gain ``square`` (the launch's central square). On SQLite the widened CHECK is
written into the stored table definition (SQLite's documented procedure for constraint changes
that leave existing rows valid), because rebuilding the SpatiaLite ``places`` table would lose
its geometry registration.

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

import gridserve.db  # noqa: F401  (UTCDateTime)

# revision identifiers, used by Alembic.
revision = '0011_outreach'
down_revision = '0010_phone_hashes'
branch_labels = None
depends_on = None


_OLD_TYPES = (
    "'household', 'enterprise', 'compound', 'courtyard', 'market', 'shop', 'school', "
    "'hospital', 'station', 'office'"
)
_NEW_TYPES = _OLD_TYPES + ", 'square'"


def _place_types(old, new):
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f('ck_places_type'), 'places', type_='check')
        op.create_check_constraint(op.f('ck_places_type'), 'places', f"type IN ({new})")
        return
    if new == _OLD_TYPES:
        square = bind.execute(sa.text("SELECT count(*) FROM places WHERE type = 'square'"))
        if square.scalar():
            raise RuntimeError("places of type 'square' exist: re-type them before downgrading")
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'places'")
    ).scalar()
    if f"type IN ({old})" not in sql:
        raise RuntimeError("places.type CHECK is not the one this migration knows")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'places'"),
        {"sql": sql.replace(f"type IN ({old})", f"type IN ({new})")},
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade():
    _place_types(_OLD_TYPES, _NEW_TYPES)
    op.create_table('outreach_programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('plan_due_on', sa.Date(), nullable=True),
    sa.Column('report_due_on', sa.Date(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('publicity', 'visits', 'other')", name=op.f('ck_outreach_programmes_kind')),
    sa.CheckConstraint('end_date >= start_date', name=op.f('ck_outreach_programmes_dates')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_outreach_programmes_area_id_areas')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_outreach_programmes_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organiser_id'], ['institutions.id'], name=op.f('fk_outreach_programmes_organiser_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_programmes')),
    sa.UniqueConstraint('code', name=op.f('uq_outreach_programmes_code'))
    )
    op.create_index(op.f('ix_outreach_programmes_area_id'), 'outreach_programmes', ['area_id'], unique=False)
    op.create_table('outreach_calendar_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('programme_id', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_calendar_feeds_institution_id_institutions')),
    sa.ForeignKeyConstraint(['programme_id'], ['outreach_programmes.id'], name=op.f('fk_outreach_calendar_feeds_programme_id_outreach_programmes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outreach_calendar_feeds_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_calendar_feeds')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_outreach_calendar_feeds_token_hash'))
    )
    op.create_index(op.f('ix_outreach_calendar_feeds_user_id'), 'outreach_calendar_feeds', ['user_id'], unique=False)
    op.create_table('outreach_programme_campaigns',
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['sms_campaigns.id'], name=op.f('fk_outreach_programme_campaigns_campaign_id_sms_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['outreach_programmes.id'], name=op.f('fk_outreach_programme_campaigns_programme_id_outreach_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('programme_id', 'campaign_id', name=op.f('pk_outreach_programme_campaigns'))
    )
    op.create_table('outreach_programme_institutions',
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_programme_institutions_institution_id_institutions')),
    sa.ForeignKeyConstraint(['programme_id'], ['outreach_programmes.id'], name=op.f('fk_outreach_programme_institutions_programme_id_outreach_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('programme_id', 'institution_id', name=op.f('pk_outreach_programme_institutions'))
    )
    op.create_geospatial_table('outreach_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('venue_confirmed', sa.Boolean(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('booth', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('invited', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_changed_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('launch', 'site', 'compound', 'other')", name=op.f('ck_outreach_events_kind')),
    sa.CheckConstraint("status IN ('draft', 'planned', 'approved', 'held', 'reported', 'cancelled')", name=op.f('ck_outreach_events_status')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_outreach_events_span')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_outreach_events_area_id_areas')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_outreach_events_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['host_id'], ['institutions.id'], name=op.f('fk_outreach_events_host_id_institutions')),
    sa.ForeignKeyConstraint(['lead_id'], ['institutions.id'], name=op.f('fk_outreach_events_lead_id_institutions')),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_outreach_events_place_id_places')),
    sa.ForeignKeyConstraint(['programme_id'], ['outreach_programmes.id'], name=op.f('fk_outreach_events_programme_id_outreach_programmes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_events'))
    )
    op.create_geospatial_index('idx_outreach_events_geom', 'outreach_events', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_outreach_events_area_id'), 'outreach_events', ['area_id'], unique=False)
    op.create_index(op.f('ix_outreach_events_change_seq'), 'outreach_events', ['change_seq'], unique=False)
    op.create_index(op.f('ix_outreach_events_place_id'), 'outreach_events', ['place_id'], unique=False)
    op.create_index('ix_outreach_events_programme_start', 'outreach_events', ['programme_id', 'starts_at'], unique=False)
    op.create_index('ix_outreach_events_status_end', 'outreach_events', ['status', 'ends_at'], unique=False)
    op.create_table('outreach_event_co_organisers',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outreach_events.id'], name=op.f('fk_outreach_event_co_organisers_event_id_outreach_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_event_co_organisers_institution_id_institutions')),
    sa.PrimaryKeyConstraint('event_id', 'institution_id', name=op.f('pk_outreach_event_co_organisers'))
    )
    op.create_table('outreach_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=12), nullable=False),
    sa.Column('event_version', sa.Integer(), nullable=False),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('texted', sa.Integer(), nullable=False),
    sa.Column('undeliverable', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.Column('reminded_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("reason IN ('changed', 'cancelled')", name=op.f('ck_outreach_notices_reason')),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['users.id'], name=op.f('fk_outreach_notices_acknowledged_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_outreach_notices_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['outreach_events.id'], name=op.f('fk_outreach_notices_event_id_outreach_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_notices_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_notices'))
    )
    op.create_index(op.f('ix_outreach_notices_event_id'), 'outreach_notices', ['event_id'], unique=False)
    op.create_index('ix_outreach_notices_institution_ack', 'outreach_notices', ['institution_id', 'acknowledged_at'], unique=False)
    op.create_table('outreach_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('submitted_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('submitted', 'approved', 'returned')", name=op.f('ck_outreach_plans_status')),
    sa.ForeignKeyConstraint(['event_id'], ['outreach_events.id'], name=op.f('fk_outreach_plans_event_id_outreach_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_plans_institution_id_institutions')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['users.id'], name=op.f('fk_outreach_plans_reviewed_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submitted_by'], ['users.id'], name=op.f('fk_outreach_plans_submitted_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_plans')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outreach_plans_event_id'))
    )
    op.create_table('outreach_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('participants', sa.Integer(), nullable=False),
    sa.Column('materials', sa.Integer(), nullable=False),
    sa.Column('consultations', sa.Integer(), nullable=False),
    sa.Column('photos', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('submitted_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('participants >= 0 AND materials >= 0 AND consultations >= 0', name=op.f('ck_outreach_reports_counts')),
    sa.ForeignKeyConstraint(['event_id'], ['outreach_events.id'], name=op.f('fk_outreach_reports_event_id_outreach_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_reports_institution_id_institutions')),
    sa.ForeignKeyConstraint(['submitted_by'], ['users.id'], name=op.f('fk_outreach_reports_submitted_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_reports')),
    sa.UniqueConstraint('event_id', 'institution_id', name='uq_outreach_reports_event_institution')
    )
    op.create_index(op.f('ix_outreach_reports_event_id'), 'outreach_reports', ['event_id'], unique=False)
    op.create_table('outreach_teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('boards', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('boards >= 0', name=op.f('ck_outreach_teams_boards')),
    sa.ForeignKeyConstraint(['event_id'], ['outreach_events.id'], name=op.f('fk_outreach_teams_event_id_outreach_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_outreach_teams_institution_id_institutions')),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_outreach_teams_updated_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_teams')),
    sa.UniqueConstraint('event_id', 'institution_id', name='uq_outreach_teams_event_institution')
    )
    op.create_table('outreach_team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('duty', sa.String(length=100), nullable=False),
    sa.Column('phone_enc', sa.LargeBinary(), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['outreach_teams.id'], name=op.f('fk_outreach_team_members_team_id_outreach_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_team_members'))
    )
    op.create_index(op.f('ix_outreach_team_members_phone_hash'), 'outreach_team_members', ['phone_hash'], unique=False)
    op.create_index(op.f('ix_outreach_team_members_team_id'), 'outreach_team_members', ['team_id'], unique=False)
    with op.batch_alter_table('attachments') as batch:
        batch.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_attachments_user_id_users'), 'users', ['user_id'], ['id'], ondelete='SET NULL')
        batch.create_foreign_key(op.f('fk_attachments_event_id_outreach_events'), 'outreach_events', ['event_id'], ['id'], ondelete='SET NULL')
        batch.create_index(op.f('ix_attachments_event_id'), ['event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('attachments') as batch:
        batch.drop_index(op.f('ix_attachments_event_id'))
        batch.drop_constraint(op.f('fk_attachments_event_id_outreach_events'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_attachments_user_id_users'), type_='foreignkey')
        batch.drop_column('event_id')
        batch.drop_column('user_id')
    op.drop_index(op.f('ix_outreach_team_members_team_id'), table_name='outreach_team_members')
    op.drop_index(op.f('ix_outreach_team_members_phone_hash'), table_name='outreach_team_members')
    op.drop_table('outreach_team_members')
    op.drop_table('outreach_teams')
    op.drop_index(op.f('ix_outreach_reports_event_id'), table_name='outreach_reports')
    op.drop_table('outreach_reports')
    op.drop_table('outreach_plans')
    op.drop_index('ix_outreach_notices_institution_ack', table_name='outreach_notices')
    op.drop_index(op.f('ix_outreach_notices_event_id'), table_name='outreach_notices')
    op.drop_table('outreach_notices')
    op.drop_table('outreach_event_co_organisers')
    op.drop_index('ix_outreach_events_status_end', table_name='outreach_events')
    op.drop_index('ix_outreach_events_programme_start', table_name='outreach_events')
    op.drop_index(op.f('ix_outreach_events_place_id'), table_name='outreach_events')
    op.drop_index(op.f('ix_outreach_events_change_seq'), table_name='outreach_events')
    op.drop_index(op.f('ix_outreach_events_area_id'), table_name='outreach_events')
    op.drop_geospatial_index('idx_outreach_events_geom', table_name='outreach_events', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('outreach_events')
    op.drop_table('outreach_programme_institutions')
    op.drop_table('outreach_programme_campaigns')
    op.drop_index(op.f('ix_outreach_calendar_feeds_user_id'), table_name='outreach_calendar_feeds')
    op.drop_table('outreach_calendar_feeds')
    op.drop_index(op.f('ix_outreach_programmes_area_id'), table_name='outreach_programmes')
    op.drop_table('outreach_programmes')
    _place_types(_NEW_TYPES, _OLD_TYPES)
