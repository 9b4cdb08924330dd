"""assessment: scorecard templates, runs, scorecards, recommendations; the report archive

Revision ID: 0019_assessment
Revises: 0018_case_indexes
Create Date: 2026-12-01 01:32:40

Expand only.
- New tables: ``assessment_templates``, ``assessment_indicators``, ``assessment_runs``,
  ``assessment_scorecards``, ``assessment_scorecard_lines``, ``assessment_deductions``,
  ``assessment_recommendations``, ``report_archive``.
- ``jobs.kind`` gains ``assessment_run`` (SQLite: the stored table definition is rewritten,
  no table rebuild).
- ``households.work_units_complete``: every member's work unit known, derived from the
  (encrypted) members on write. Existing rows are derived here, with the data key ring of the
  configuration the migration runs under (``gridserve db upgrade`` runs inside the app, as
  for ``0010_phone_hashes``); offline (``--sql``) generation is refused.
"""
from alembic import context, op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0019_assessment'
down_revision = '0018_case_indexes'
branch_labels = None
depends_on = None

_OLD_KINDS = "kind IN ('grid_plan', 'place_import')"
_NEW_KINDS = "kind IN ('grid_plan', 'place_import', 'assessment_run')"
BATCH = 1000


def _sqlite_jobs_kind(old, new):
    """Rewrite the CHECK of ``jobs.kind`` in SQLite's stored table definition."""
    bind = op.get_bind()
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'")
    ).scalar()
    old, new = f'CONSTRAINT ck_jobs_kind CHECK ({old})', f'CONSTRAINT ck_jobs_kind CHECK ({new})'
    if sql.count(old) != 1:
        raise RuntimeError(f'jobs: the stored definition does not hold {old!r} exactly once')
    version = bind.execute(sa.text('PRAGMA schema_version')).scalar()
    bind.execute(sa.text('PRAGMA writable_schema = ON'))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'jobs'"),
        {'sql': sql.replace(old, new)},
    )
    bind.execute(sa.text(f'PRAGMA schema_version = {int(version) + 1}'))
    bind.execute(sa.text('PRAGMA writable_schema = OFF'))


def _set_jobs_kind(old, new):
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('ck_jobs_kind'), 'jobs', type_='check')
        op.create_check_constraint(op.f('ck_jobs_kind'), 'jobs', new)
    else:
        _sqlite_jobs_kind(old, new)


def _derive_work_units():
    """``work_units_complete`` of the existing households, from their decrypted members."""
    from gridserve.crypto import decrypt_json

    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text('SELECT id, members_enc FROM households WHERE id > :last'
                    ' AND members_enc IS NOT NULL ORDER BY id LIMIT :n'),
            {'last': last, 'n': BATCH},
        ).all()
        if not rows:
            return
        done = [
            {'id': row.id}
            for row in rows
            if (members := decrypt_json(row.members_enc) or [])
            and all((m.get('work_unit') or '').strip() for m in members)
        ]
        if done:
            bind.execute(
                sa.text('UPDATE households SET work_units_complete = true WHERE id = :id'), done
            )
        last = rows[-1].id


def upgrade():
    op.create_table('report_archive',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('built_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('monthly', 'daily')", name=op.f('ck_report_archive_kind')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_report_archive_area_id_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_archive')),
    sa.UniqueConstraint('kind', 'area_id', 'period_start', name='uq_report_archive_period')
    )
    op.create_index(op.f('ix_report_archive_area_id'), 'report_archive', ['area_id'], unique=False)
    op.create_table('assessment_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('target_kind', sa.String(length=12), nullable=False),
    sa.Column('assessor_role', sa.String(length=24), nullable=False),
    sa.Column('bands', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('deductions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('disqualify_after', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("target_kind IN ('worker', 'station', 'institution')", name=op.f('ck_assessment_templates_target_kind')),
    sa.CheckConstraint('disqualify_after IS NULL OR disqualify_after > 0', name=op.f('ck_assessment_templates_disqualify_after')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_assessment_templates_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_templates')),
    sa.UniqueConstraint('code', name=op.f('uq_assessment_templates_code'))
    )
    op.create_table('assessment_indicators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('group', sa.String(length=60), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=True),
    sa.Column('scoring', sa.String(length=10), nullable=False),
    sa.Column('invert', sa.Boolean(), nullable=False),
    sa.Column('target', sa.Float(), nullable=True),
    sa.Column('factor', sa.Float(), nullable=False),
    sa.Column('scale', sa.Float(), nullable=False),
    sa.Column('cap', sa.Float(), nullable=False),
    sa.Column('min_count', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint("(source = 'computed' AND metric IS NOT NULL AND scoring <> 'entered') OR (source = 'entered' AND metric IS NULL AND scoring = 'entered')", name=op.f('ck_assessment_indicators_source_metric')),
    sa.CheckConstraint("scoring IN ('share', 'target', 'relative', 'entered')", name=op.f('ck_assessment_indicators_scoring')),
    sa.CheckConstraint("source IN ('computed', 'entered')", name=op.f('ck_assessment_indicators_source')),
    sa.CheckConstraint('cap >= 1', name=op.f('ck_assessment_indicators_cap')),
    sa.CheckConstraint('min_count >= 0', name=op.f('ck_assessment_indicators_min_count')),
    sa.CheckConstraint('weight > 0 AND weight <= 100', name=op.f('ck_assessment_indicators_weight')),
    sa.ForeignKeyConstraint(['template_id'], ['assessment_templates.id'], name=op.f('fk_assessment_indicators_template_id_assessment_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_indicators')),
    sa.UniqueConstraint('template_id', 'code', name='uq_assessment_indicators_code')
    )
    op.create_index(op.f('ix_assessment_indicators_template_id'), 'assessment_indicators', ['template_id'], unique=False)
    op.create_table('assessment_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('template_snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('error', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('computed_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('computing', 'computed', 'published', 'failed')", name=op.f('ck_assessment_runs_status')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_assessment_runs_period')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_assessment_runs_version')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_assessment_runs_area_id_areas')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_assessment_runs_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_assessment_runs_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['published_by'], ['users.id'], name=op.f('fk_assessment_runs_published_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['supersedes_id'], ['assessment_runs.id'], name=op.f('fk_assessment_runs_supersedes_id_assessment_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['assessment_templates.id'], name=op.f('fk_assessment_runs_template_id_assessment_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_runs')),
    sa.UniqueConstraint('template_id', 'period', 'area_id', 'version', name='uq_assessment_runs_version')
    )
    op.create_index(op.f('ix_assessment_runs_area_id'), 'assessment_runs', ['area_id'], unique=False)
    op.create_index(op.f('ix_assessment_runs_template_id'), 'assessment_runs', ['template_id'], unique=False)
    op.create_table('assessment_scorecards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('target_kind', sa.String(length=12), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('target_name', sa.String(length=120), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=True),
    sa.Column('total', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('grade', sa.String(length=10), nullable=True),
    sa.Column('rated_weight', sa.Integer(), nullable=False),
    sa.Column('deducted', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('disqualified', sa.Boolean(), nullable=False),
    sa.Column('computed_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("grade IS NULL OR grade IN ('excellent', 'good', 'pass', 'fail')", name=op.f('ck_assessment_scorecards_grade')),
    sa.CheckConstraint("target_kind IN ('worker', 'station', 'institution')", name=op.f('ck_assessment_scorecards_target_kind')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_assessment_scorecards_area_id_areas')),
    sa.ForeignKeyConstraint(['run_id'], ['assessment_runs.id'], name=op.f('fk_assessment_scorecards_run_id_assessment_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_scorecards')),
    sa.UniqueConstraint('run_id', 'target_id', name='uq_assessment_scorecards_target')
    )
    op.create_index(op.f('ix_assessment_scorecards_area_id'), 'assessment_scorecards', ['area_id'], unique=False)
    op.create_index('ix_assessment_scorecards_target', 'assessment_scorecards', ['target_kind', 'target_id'], unique=False)
    op.create_table('assessment_deductions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scorecard_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('points', sa.Numeric(precision=6, scale=2), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_assessment_deductions_points')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_assessment_deductions_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scorecard_id'], ['assessment_scorecards.id'], name=op.f('fk_assessment_deductions_scorecard_id_assessment_scorecards'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_deductions'))
    )
    op.create_index(op.f('ix_assessment_deductions_scorecard_id'), 'assessment_deductions', ['scorecard_id'], unique=False)
    op.create_table('assessment_recommendations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scorecard_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'confirmed', 'overturned')", name=op.f('ck_assessment_recommendations_status')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_assessment_recommendations_area_id_areas')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_assessment_recommendations_decided_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['assessment_runs.id'], name=op.f('fk_assessment_recommendations_run_id_assessment_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scorecard_id'], ['assessment_scorecards.id'], name=op.f('fk_assessment_recommendations_scorecard_id_assessment_scorecards'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_assessment_recommendations_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_recommendations')),
    sa.UniqueConstraint('scorecard_id', name=op.f('uq_assessment_recommendations_scorecard_id'))
    )
    op.create_index(op.f('ix_assessment_recommendations_area_id'), 'assessment_recommendations', ['area_id'], unique=False)
    op.create_index(op.f('ix_assessment_recommendations_run_id'), 'assessment_recommendations', ['run_id'], unique=False)
    op.create_index(op.f('ix_assessment_recommendations_worker_id'), 'assessment_recommendations', ['worker_id'], unique=False)
    op.create_table('assessment_scorecard_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scorecard_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('score', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('capped', sa.Boolean(), nullable=False),
    sa.Column('rated', sa.Boolean(), nullable=False),
    sa.Column('entered_value', sa.Float(), nullable=True),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('entered_by', sa.Integer(), nullable=True),
    sa.Column('entered_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['entered_by'], ['users.id'], name=op.f('fk_assessment_scorecard_lines_entered_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scorecard_id'], ['assessment_scorecards.id'], name=op.f('fk_assessment_scorecard_lines_scorecard_id_assessment_scorecards'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_scorecard_lines')),
    sa.UniqueConstraint('scorecard_id', 'code', name='uq_assessment_scorecard_lines_code')
    )
    op.add_column('households', sa.Column('work_units_complete', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    _set_jobs_kind(_OLD_KINDS, _NEW_KINDS)
    if context.is_offline_mode():
        raise RuntimeError('0019_assessment derives household columns with the data keys: run it online')
    _derive_work_units()


def downgrade():
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM jobs WHERE kind = 'assessment_run'")).scalar():
        raise RuntimeError('jobs holds assessment runs: remove them before downgrading')
    _set_jobs_kind(_NEW_KINDS, _OLD_KINDS)
    with op.batch_alter_table('households') as batch:
        batch.drop_column('work_units_complete')
    op.drop_table('assessment_scorecard_lines')
    op.drop_index(op.f('ix_assessment_recommendations_worker_id'), table_name='assessment_recommendations')
    op.drop_index(op.f('ix_assessment_recommendations_run_id'), table_name='assessment_recommendations')
    op.drop_index(op.f('ix_assessment_recommendations_area_id'), table_name='assessment_recommendations')
    op.drop_table('assessment_recommendations')
    op.drop_index(op.f('ix_assessment_deductions_scorecard_id'), table_name='assessment_deductions')
    op.drop_table('assessment_deductions')
    op.drop_index('ix_assessment_scorecards_target', table_name='assessment_scorecards')
    op.drop_index(op.f('ix_assessment_scorecards_area_id'), table_name='assessment_scorecards')
    op.drop_table('assessment_scorecards')
    op.drop_index(op.f('ix_assessment_runs_template_id'), table_name='assessment_runs')
    op.drop_index(op.f('ix_assessment_runs_area_id'), table_name='assessment_runs')
    op.drop_table('assessment_runs')
    op.drop_index(op.f('ix_assessment_indicators_template_id'), table_name='assessment_indicators')
    op.drop_table('assessment_indicators')
    op.drop_table('assessment_templates')
    op.drop_index(op.f('ix_report_archive_area_id'), table_name='report_archive')
    op.drop_table('report_archive')
