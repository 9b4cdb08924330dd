"""personal data at rest: worker and contact phones encrypted; SMS numbers encrypted + keyed hash

Revision ID: 0010_phone_hashes
Revises: 0006
Create Date: 2026-12-01 10:00:00

Existing plaintext numbers are moved in this revision, with the data key ring of the
configuration the migration runs under (``gridserve db upgrade`` always runs inside the app, so
``GRIDSERVE_DATA_KEYS`` is there; the development key in ``instance/data_key`` too). Run it with
the same ``GRIDSERVE_DATA_KEYS`` as the service. Offline (``--sql``) generation is refused: the
data step needs the keys. Downgrading decrypts back into plaintext columns.

- ``workers.phone`` and ``institution_contacts.phone`` → ``phone_enc`` (Fernet).
- ``sms_recipients``, ``sms_opt_outs``, ``sms_messages``: ``phone`` → ``phone_enc`` (Fernet) and
  ``phone_hash`` (HMAC-SHA256 under a key derived from the newest data key, see
  ``gridserve.services.sms_numbers``); the unique keys and the look-up index move to
  ``phone_hash``. ``phone_hash_keys`` records which data key the hashes were made with.
"""
from alembic import context, op
import sqlalchemy as sa

import gridserve.db  # noqa: F401  (UTCDateTime)

revision = '0010_phone_hashes'
down_revision = '0009_calendars'
branch_labels = None
depends_on = None

_ts = gridserve.db.UTCDateTime(timezone=True)
BATCH = 1000


class _Keys:
    """The configuration's key ring, used directly (no app state beyond the config)."""

    def __init__(self):
        from cryptography.fernet import Fernet, MultiFernet

        from gridserve.config import settings
        from gridserve.crypto import derive_lookup_key, lookup_key_id

        if context.is_offline_mode():
            raise RuntimeError(
                "0010_phone_hashes encrypts existing phone numbers: run it online "
                "(gridserve db upgrade), not with --sql"
            )
        keys = list(settings().data_keys)
        if not keys:
            raise RuntimeError("0010_phone_hashes needs GRIDSERVE_DATA_KEYS to encrypt phones")
        self.ring = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        self.lookup_key = derive_lookup_key(keys[0])
        self.key_id = lookup_key_id(self.lookup_key)

    def encrypt(self, value):
        return None if value in (None, "") else self.ring.encrypt(value.encode("utf-8"))

    def decrypt(self, token):
        return None if token is None else self.ring.decrypt(bytes(token)).decode("utf-8")

    def hash(self, value):
        from gridserve.crypto import lookup_hash

        return lookup_hash(value, self.lookup_key)


def _rewrite(table, source, targets, convert):
    """For every row with ``source`` set: ``targets`` = ``convert(value)`` (a tuple), in batches."""
    bind = op.get_bind()
    t = sa.table(table, sa.column('id', sa.Integer), sa.column(source), *(sa.column(c) for c in targets))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(t.c.id, t.c[source])
            .where(t.c.id > last, t.c[source].is_not(None))
            .order_by(t.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        values = []
        for row_id, value in rows:
            out = convert(value)
            values.append({'b_id': row_id, **{f'b_{c}': v for c, v in zip(targets, out)}})
        bind.execute(
            t.update().where(t.c.id == sa.bindparam('b_id')).values(
                {c: sa.bindparam(f'b_{c}') for c in targets}
            ),
            values,
        )


def _drop_plain_column(table, column):
    """Drop a column no constraint uses (native on SQLite ≥ 3.35: no table rebuild, so the
    tables that reference this one are not disturbed)."""
    op.drop_column(table, column)


def upgrade():
    keys = _Keys()
    op.create_table(
        'phone_hash_keys',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('set_at', _ts, nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_phone_hash_keys_single_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_hash_keys')),
    )

    # Worker and contact phones: encrypted, the plaintext column goes.
    for table in ('workers', 'institution_contacts'):
        op.add_column(table, sa.Column('phone_enc', sa.LargeBinary(), nullable=True))
        _rewrite(table, 'phone', ('phone_enc',), lambda v: (keys.encrypt(v.strip() or None),))
        _drop_plain_column(table, 'phone')

    # SMS numbers: encrypted + keyed hash; the unique keys move to the hash.
    for table in ('sms_recipients', 'sms_opt_outs', 'sms_messages'):
        op.add_column(table, sa.Column('phone_enc', sa.LargeBinary(), nullable=True))
        op.add_column(table, sa.Column('phone_hash', sa.String(length=64), nullable=True))
        _rewrite(table, 'phone', ('phone_enc', 'phone_hash'), lambda v: (keys.encrypt(v), keys.hash(v)))

    op.drop_index('uq_sms_opt_outs_sender', table_name='sms_opt_outs')
    op.drop_index('uq_sms_opt_outs_global', table_name='sms_opt_outs')
    op.drop_index('ix_sms_messages_phone', table_name='sms_messages')
    with op.batch_alter_table('sms_recipients') as batch:
        batch.drop_constraint('uq_sms_recipients_phone', type_='unique')
        batch.drop_column('phone')
        batch.alter_column('phone_enc', existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column('phone_hash', existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint('uq_sms_recipients_phone', ['sender_id', 'phone_hash'])
    with op.batch_alter_table('sms_opt_outs') as batch:
        batch.drop_column('phone')
        batch.alter_column('phone_enc', existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column('phone_hash', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('sms_messages') as batch:
        batch.drop_constraint('uq_sms_messages_once', type_='unique')
        batch.drop_column('phone')
        batch.alter_column('phone_enc', existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column('phone_hash', existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(
            'uq_sms_messages_once', ['campaign_id', 'sender_id', 'phone_hash', 'text_id']
        )
    op.create_index('uq_sms_opt_outs_global', 'sms_opt_outs', ['phone_hash'], unique=True,
                    sqlite_where=sa.text('institution_id IS NULL'),
                    postgresql_where=sa.text('institution_id IS NULL'))
    op.create_index('uq_sms_opt_outs_sender', 'sms_opt_outs', ['phone_hash', 'institution_id'], unique=True,
                    sqlite_where=sa.text('institution_id IS NOT NULL'),
                    postgresql_where=sa.text('institution_id IS NOT NULL'))
    op.create_index('ix_sms_messages_phone', 'sms_messages', ['campaign_id', 'phone_hash'], unique=False)

    keys_table = sa.table('phone_hash_keys', sa.column('id'), sa.column('key_id'), sa.column('set_at', _ts))
    op.get_bind().execute(
        keys_table.insert().values(id=1, key_id=keys.key_id, set_at=gridserve.db.utcnow())
    )


def downgrade():
    keys = _Keys()
    op.drop_index('ix_sms_messages_phone', table_name='sms_messages')
    op.drop_index('uq_sms_opt_outs_sender', table_name='sms_opt_outs')
    op.drop_index('uq_sms_opt_outs_global', table_name='sms_opt_outs')
    for table in ('sms_recipients', 'sms_opt_outs', 'sms_messages'):
        op.add_column(table, sa.Column('phone', sa.String(length=20), nullable=True))
        _rewrite(table, 'phone_enc', ('phone',), lambda v: (keys.decrypt(v),))
    with op.batch_alter_table('sms_recipients') as batch:
        batch.drop_constraint('uq_sms_recipients_phone', type_='unique')
        batch.drop_column('phone_hash')
        batch.drop_column('phone_enc')
        batch.alter_column('phone', existing_type=sa.String(length=20), nullable=False)
        batch.create_unique_constraint('uq_sms_recipients_phone', ['sender_id', 'phone'])
    with op.batch_alter_table('sms_opt_outs') as batch:
        batch.drop_column('phone_hash')
        batch.drop_column('phone_enc')
        batch.alter_column('phone', existing_type=sa.String(length=20), nullable=False)
    with op.batch_alter_table('sms_messages') as batch:
        batch.drop_constraint('uq_sms_messages_once', type_='unique')
        batch.drop_column('phone_hash')
        batch.drop_column('phone_enc')
        batch.alter_column('phone', existing_type=sa.String(length=20), nullable=False)
        batch.create_unique_constraint(
            'uq_sms_messages_once', ['campaign_id', 'sender_id', 'phone', 'text_id']
        )
    op.create_index('uq_sms_opt_outs_global', 'sms_opt_outs', ['phone'], unique=True,
                    sqlite_where=sa.text('institution_id IS NULL'),
                    postgresql_where=sa.text('institution_id IS NULL'))
    op.create_index('uq_sms_opt_outs_sender', 'sms_opt_outs', ['phone', 'institution_id'], unique=True,
                    sqlite_where=sa.text('institution_id IS NOT NULL'),
                    postgresql_where=sa.text('institution_id IS NOT NULL'))
    op.create_index('ix_sms_messages_phone', 'sms_messages', ['campaign_id', 'phone'], unique=False)

    for table in ('workers', 'institution_contacts'):
        op.add_column(table, sa.Column('phone', sa.String(length=32), nullable=True))
        _rewrite(table, 'phone_enc', ('phone',), lambda v: (keys.decrypt(v),))
        _drop_plain_column(table, 'phone_enc')
    op.drop_table('phone_hash_keys')
