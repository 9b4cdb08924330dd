"""cases: categories, the escalation ladder on tasks of kind case, feedback, Open311 keys

Revision ID: 0016_cases
Revises: 0015_visits
Create Date: 2026-12-01 00:00:00

Expand only. New tables ``case_categories``, ``open311_keys``, ``case_feedback``. ``tasks`` gains
the ladder's columns (NULL or defaulted for tasks) and wider CHECKs (case statuses, intake
sources, a level); ``task_events`` the case steps' actions and columns; ``institutions`` the kind
``department``; ``areas`` an encrypted duty mobile; ``outreach_notices`` may address an area's
office about a case (event and institution become optional, ``reason`` longer).

On SQLite, ``tasks`` and ``areas`` carry SpatiaLite geometry and must not be rebuilt: columns are
added with ALTER TABLE (foreign keys declared on PostgreSQL only) and the widened CHECKs are
written into the stored table definitions (SQLite's documented procedure for constraint
changes existing rows satisfy), like 0011 did for place types.

"""
from alembic import op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0016_cases'
down_revision = '0015_visits'
branch_labels = None
depends_on = None



_ts = gridserve.db.UTCDateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _task_columns():
    return [
        sa.Column('category_id', sa.Integer(), nullable=True),
        sa.Column('level', sa.String(length=12), nullable=True),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('dispatch_due_at', _ts, nullable=True),
        sa.Column('level_started_at', _ts, nullable=True),
        sa.Column('level_due_at', _ts, nullable=True),
        sa.Column('paused_at', _ts, nullable=True),
        sa.Column('pause_reason', sa.Text(), nullable=False, server_default=''),
        sa.Column('paused_seconds', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('escalations', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('supervised_at', _ts, nullable=True),
        sa.Column('supervised_by', sa.Integer(), nullable=True),
        sa.Column('supervision_due_at', _ts, nullable=True),
        sa.Column('reporter_name', sa.String(length=100), nullable=False, server_default=''),
        sa.Column('reporter_phone_enc', sa.LargeBinary(), nullable=True),
        sa.Column('reporter_phone_hash', sa.String(length=64), nullable=True),
        sa.Column('callback_consent', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
        sa.Column('needs_verification', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('settled_at', _ts, nullable=True),
        sa.Column('verified_at', _ts, nullable=True),
        sa.Column('closed_level', sa.String(length=12), nullable=True),
        sa.Column('rating', sa.Integer(), nullable=True),
        sa.Column('rated_at', _ts, nullable=True),
        sa.Column('open311_key_id', sa.Integer(), nullable=True),
    ]


def _event_columns():
    return [
        sa.Column('from_level', sa.String(length=12), nullable=True),
        sa.Column('to_level', sa.String(length=12), nullable=True),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('attachments', _json, nullable=True),
    ]


# (table, column, referred table, ondelete): declared on PostgreSQL (SQLite cannot add them
# without rebuilding the table).
_PG_KEYS = [
    ('tasks', 'category_id', 'case_categories', None),
    ('tasks', 'department_id', 'institutions', None),
    ('tasks', 'supervised_by', 'users', None),
    ('tasks', 'duplicate_of_id', 'tasks', None),
    ('tasks', 'open311_key_id', 'open311_keys', None),
    ('task_events', 'department_id', 'institutions', None),
]

_OLD_ACTIONS = "'created', 'edited', 'assigned', 'status'"
_NEW_ACTIONS = _OLD_ACTIONS + (
    ", 'accept', 'settle', 'escalate', 'dispatch', 'return', 'verify', 'close', 'reopen',"
    " 'cancel', 'pause', 'resume', 'recategorise', 'supervise', 'merge', 'rate', 'feedback'"
)
# (table, constraint name, old condition, new condition): widened.
_CHECKS = [
    ('tasks', 'status', "status IN ('open', 'in_progress', 'done', 'cancelled')",
     "status IN ('open', 'in_progress', 'done', 'cancelled', 'accepted', 'settled', 'verified',"
     " 'closed')"),
    ('tasks', 'source', "source IN ('station', 'terminal')",
     "source IN ('station', 'terminal', 'walk_in', 'phone', 'open311')"),
    ('tasks', 'closed',
     "(status IN ('done', 'cancelled') AND closed_at IS NOT NULL)"
     " OR (status IN ('open', 'in_progress') AND closed_at IS NULL)",
     "(status IN ('done', 'cancelled', 'closed') AND closed_at IS NOT NULL)"
     " OR (status IN ('open', 'in_progress', 'accepted', 'settled', 'verified')"
     " AND closed_at IS NULL)"),
    ('task_events', 'action', f"action IN ({_OLD_ACTIONS})", f"action IN ({_NEW_ACTIONS})"),
    ('institutions', 'kind',
     "kind IN ('regulator', 'policy_bank', 'commercial_bank', 'credit_union', 'village_bank')",
     "kind IN ('regulator', 'policy_bank', 'commercial_bank', 'credit_union', 'village_bank',"
     " 'department')"),
    ('outreach_notices', 'reason', "reason IN ('changed', 'cancelled')",
     "reason IN ('changed', 'cancelled', 'case_escalated', 'case_dispatched',"
     " 'case_supervised', 'case_urgent')"),
]
# (table, constraint name, condition): new.
_NEW_CHECKS = [
    ('tasks', 'level', "level IS NULL OR level IN ('cell', 'community', 'street', 'district')"),
    ('outreach_notices', 'addressee',
     "(event_id IS NOT NULL AND institution_id IS NOT NULL AND task_id IS NULL)"
     " OR (task_id IS NOT NULL AND (area_id IS NOT NULL OR institution_id IS NOT NULL))"),
]


def _sqlite_sql(table):
    return op.get_bind().execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {'t': table}
    ).scalar()


def _sqlite_store(table, sql):
    bind = op.get_bind()
    version = bind.execute(sa.text('PRAGMA schema_version')).scalar()
    bind.execute(sa.text('PRAGMA writable_schema = ON'))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
        {'sql': sql, 't': table},
    )
    bind.execute(sa.text(f'PRAGMA schema_version = {int(version) + 1}'))
    bind.execute(sa.text('PRAGMA writable_schema = OFF'))


def _sqlite_rewrite(table, old, new):
    """Replace ``old`` by ``new`` in the stored definition of ``table`` (exactly once)."""
    sql = _sqlite_sql(table)
    if sql.count(old) != 1:
        raise RuntimeError(f'{table}: the stored definition does not hold {old!r} exactly once')
    _sqlite_store(table, sql.replace(old, new))


def _sqlite_add_check(table, constraint):
    """Append a table constraint to the stored definition of ``table``."""
    sql = _sqlite_sql(table).rstrip()
    if not sql.endswith(')'):
        raise RuntimeError(f'{table}: unexpected stored definition')
    _sqlite_store(table, sql[:-1].rstrip() + f', \n\t{constraint}\n)')


def upgrade():
    op.create_table('case_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('report_class', sa.String(length=16), nullable=False),
    sa.Column('start_level', sa.String(length=12), nullable=False),
    sa.Column('deadlines', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('to_street_at_once', sa.Boolean(), nullable=False),
    sa.Column('needs_verification', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("report_class IN ('must_attend', 'must_report', 'must_visit', 'everyday')", name=op.f('ck_case_categories_report_class')),
    sa.CheckConstraint("start_level IN ('cell', 'community', 'street', 'district')", name=op.f('ck_case_categories_start_level')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_case_categories_code'))
    )
    op.create_table('open311_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_open311_keys_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_open311_keys_key_hash'))
    )
    op.create_table('case_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sent_at', gridserve.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rated_at', gridserve.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rated_via', sa.String(length=8), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.CheckConstraint('rating IS NULL OR rating IN (1, 2, 3)', name=op.f('ck_case_feedback_rating')),
    sa.ForeignKeyConstraint(['message_id'], ['sms_messages.id'], name=op.f('fk_case_feedback_message_id_sms_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_case_feedback_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_feedback')),
    sa.UniqueConstraint('code', name=op.f('uq_case_feedback_code'))
    )

    op.create_index('ix_case_feedback_phone_sent', 'case_feedback', ['phone_hash', 'sent_at'], unique=False)
    op.create_index(op.f('ix_case_feedback_task_id'), 'case_feedback', ['task_id'], unique=False)

    pg = op.get_bind().dialect.name == 'postgresql'
    op.add_column('areas', sa.Column('duty_phone_enc', sa.LargeBinary(), nullable=True))

    for column in _task_columns():
        op.add_column('tasks', column)
    for name in ('category_id', 'department_id', 'duplicate_of_id', 'reporter_phone_hash'):
        op.create_index(op.f(f'ix_tasks_{name}'), 'tasks', [name], unique=False)
    op.create_index('ix_tasks_level_due', 'tasks', ['level_due_at'], unique=False)

    for column in _event_columns():
        op.add_column('task_events', column)

    if pg:
        for table, column, target, ondelete in _PG_KEYS:
            op.create_foreign_key(
                op.f(f'fk_{table}_{column}_{target}'), table, target, [column], ['id'],
                ondelete=ondelete,
            )
        op.add_column('outreach_notices', sa.Column('task_id', sa.Integer(), nullable=True))
        op.add_column('outreach_notices', sa.Column('area_id', sa.Integer(), nullable=True))
        op.alter_column('outreach_notices', 'event_id', existing_type=sa.Integer(), nullable=True)
        op.alter_column('outreach_notices', 'institution_id', existing_type=sa.Integer(), nullable=True)
        op.alter_column('outreach_notices', 'reason', existing_type=sa.String(length=12),
                        type_=sa.String(length=16), existing_nullable=False)
        op.create_foreign_key(op.f('fk_outreach_notices_task_id_tasks'), 'outreach_notices', 'tasks',
                              ['task_id'], ['id'], ondelete='CASCADE')
        op.create_foreign_key(op.f('fk_outreach_notices_area_id_areas'), 'outreach_notices', 'areas',
                              ['area_id'], ['id'])
        for table, name, old, new in _CHECKS:
            op.drop_constraint(op.f(f'ck_{table}_{name}'), table, type_='check')
            op.create_check_constraint(op.f(f'ck_{table}_{name}'), table, new)
        for table, name, check in _NEW_CHECKS:
            op.create_check_constraint(op.f(f'ck_{table}_{name}'), table, check)
    else:
        with op.batch_alter_table('outreach_notices') as batch:
            batch.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
            batch.add_column(sa.Column('area_id', sa.Integer(), nullable=True))
            batch.alter_column('event_id', existing_type=sa.Integer(), nullable=True)
            batch.alter_column('institution_id', existing_type=sa.Integer(), nullable=True)
            batch.alter_column('reason', existing_type=sa.String(length=12),
                               type_=sa.String(length=16), existing_nullable=False)
            batch.create_foreign_key(op.f('fk_outreach_notices_task_id_tasks'), 'tasks',
                                     ['task_id'], ['id'], ondelete='CASCADE')
            batch.create_foreign_key(op.f('fk_outreach_notices_area_id_areas'), 'areas',
                                     ['area_id'], ['id'])
            for table, name, old, new in _CHECKS:
                if table == 'outreach_notices':
                    batch.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
                    batch.create_check_constraint(op.f(f'ck_{table}_{name}'), new)
            for table, name, check in _NEW_CHECKS:
                if table == 'outreach_notices':
                    batch.create_check_constraint(op.f(f'ck_{table}_{name}'), check)
        for table, name, old, new in _CHECKS:
            if table != 'outreach_notices':
                _sqlite_rewrite(table, f'CONSTRAINT ck_{table}_{name} CHECK ({old})',
                                f'CONSTRAINT ck_{table}_{name} CHECK ({new})')
        for table, name, check in _NEW_CHECKS:
            if table != 'outreach_notices':
                _sqlite_add_check(table, f'CONSTRAINT ck_{table}_{name} CHECK ({check})')
    op.create_index(op.f('ix_outreach_notices_area_id'), 'outreach_notices', ['area_id'], unique=False)
    op.create_index(op.f('ix_outreach_notices_task_id'), 'outreach_notices', ['task_id'], unique=False)


def downgrade():
    bind = op.get_bind()
    pg = bind.dialect.name == 'postgresql'
    for table, condition in (
        ('tasks', "kind = 'case' AND (status NOT IN ('open', 'in_progress', 'done', 'cancelled')"
                  " OR source NOT IN ('station', 'terminal'))"),
        ('institutions', "kind = 'department'"),
        ('outreach_notices', 'task_id IS NOT NULL'),
    ):
        if bind.execute(sa.text(f'SELECT count(*) FROM {table} WHERE {condition}')).scalar():
            raise RuntimeError(f'{table} holds rows of the case ladder: remove them before downgrading')
    op.drop_index(op.f('ix_outreach_notices_task_id'), table_name='outreach_notices')
    op.drop_index(op.f('ix_outreach_notices_area_id'), table_name='outreach_notices')
    if pg:
        for table, name, _check in _NEW_CHECKS:
            op.drop_constraint(op.f(f'ck_{table}_{name}'), table, type_='check')
        for table, name, old, new in _CHECKS:
            op.drop_constraint(op.f(f'ck_{table}_{name}'), table, type_='check')
            op.create_check_constraint(op.f(f'ck_{table}_{name}'), table, old)
        for table, column, target, _ondelete in _PG_KEYS:
            op.drop_constraint(op.f(f'fk_{table}_{column}_{target}'), table, type_='foreignkey')
        op.drop_constraint(op.f('fk_outreach_notices_area_id_areas'), 'outreach_notices', type_='foreignkey')
        op.drop_constraint(op.f('fk_outreach_notices_task_id_tasks'), 'outreach_notices', type_='foreignkey')
        op.drop_column('outreach_notices', 'area_id')
        op.drop_column('outreach_notices', 'task_id')
        op.alter_column('outreach_notices', 'reason', existing_type=sa.String(length=16),
                        type_=sa.String(length=12), existing_nullable=False)
        op.alter_column('outreach_notices', 'institution_id', existing_type=sa.Integer(), nullable=False)
        op.alter_column('outreach_notices', 'event_id', existing_type=sa.Integer(), nullable=False)
    else:
        for table, name, check in _NEW_CHECKS:
            if table != 'outreach_notices':
                _sqlite_rewrite(table, f', \n\tCONSTRAINT ck_{table}_{name} CHECK ({check})', '')
        for table, name, old, new in _CHECKS:
            if table != 'outreach_notices':
                _sqlite_rewrite(table, f'CONSTRAINT ck_{table}_{name} CHECK ({new})',
                                f'CONSTRAINT ck_{table}_{name} CHECK ({old})')
        with op.batch_alter_table('outreach_notices') as batch:
            for table, name, _check in _NEW_CHECKS:
                if table == 'outreach_notices':
                    batch.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
            for table, name, old, new in _CHECKS:
                if table == 'outreach_notices':
                    batch.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
                    batch.create_check_constraint(op.f(f'ck_{table}_{name}'), old)
            batch.drop_constraint(op.f('fk_outreach_notices_area_id_areas'), type_='foreignkey')
            batch.drop_constraint(op.f('fk_outreach_notices_task_id_tasks'), type_='foreignkey')
            batch.drop_column('area_id')
            batch.drop_column('task_id')
            batch.alter_column('reason', existing_type=sa.String(length=16),
                               type_=sa.String(length=12), existing_nullable=False)
            batch.alter_column('institution_id', existing_type=sa.Integer(), nullable=False)
            batch.alter_column('event_id', existing_type=sa.Integer(), nullable=False)
    for column in reversed(_event_columns()):
        op.drop_column('task_events', column.name)
    op.drop_index('ix_tasks_level_due', table_name='tasks')
    for name in ('category_id', 'department_id', 'duplicate_of_id', 'reporter_phone_hash'):
        op.drop_index(op.f(f'ix_tasks_{name}'), table_name='tasks')
    for column in reversed(_task_columns()):
        op.drop_column('tasks', column.name)
    op.drop_column('areas', 'duty_phone_enc')
    op.drop_index(op.f('ix_case_feedback_task_id'), table_name='case_feedback')
    op.drop_index('ix_case_feedback_phone_sent', table_name='case_feedback')
    op.drop_table('case_feedback')
    op.drop_table('open311_keys')
    op.drop_table('case_categories')
