"""Migrations build the schema from an empty database, on both backends, and go back down."""

from __future__ import annotations

import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from gridserve.app import create_app
from gridserve.extensions import db
from tests.databases import make_settings

OUR_TABLES = {
    "areas",
    "institutions",
    "institution_aliases",
    "institution_contacts",
    "users",
    "api_tokens",
    "login_throttle",
    "audit_log",
}


@pytest.fixture
def empty_database(databases):
    """A database of its own with nothing in it (PostGIS installed on PostgreSQL)."""
    name = f"mig_{uuid.uuid4().hex[:8]}"
    try:
        yield databases.create(name)
    finally:
        databases.drop(name)


def test_upgrade_from_empty_then_down_and_up_again(empty_database, tmp_path):
    app = create_app(make_settings(empty_database, str(tmp_path)))
    with app.app_context():
        upgrade()
        inspector = inspect(db.engine)
        assert OUR_TABLES <= set(inspector.get_table_names())
        if db.engine.dialect.name == "postgresql":
            indexes = {i["name"] for i in inspector.get_indexes("areas")}
            assert "idx_areas_geom" in indexes  # GiST on the geometry
        else:
            row = db.session.execute(
                text(
                    "SELECT spatial_index_enabled FROM geometry_columns "
                    "WHERE f_table_name = 'areas'"
                )
            ).scalar()
            assert row == 1  # SpatiaLite R*Tree index
        db.session.remove()
        downgrade(revision="base")
        assert not OUR_TABLES & set(inspect(db.engine).get_table_names())
        upgrade()
        assert OUR_TABLES <= set(inspect(db.engine).get_table_names())
        db.session.remove()
        db.engine.dispose()


def test_phone_numbers_stored_in_clear_are_encrypted_and_hashed_by_0010(empty_database, tmp_path):
    """Rows written before 0010_phone_hashes keep their numbers, now encrypted (and hashed for
    SMS numbers); a look-up, the unique keys and an opt-out still find them; down restores."""
    import datetime as dt

    import sqlalchemy as sa

    from gridserve import audit, crypto
    from gridserve.db import UTCDateTime, transaction
    from gridserve.scope import OPERATOR
    from gridserve.services.accounts import institutions
    from gridserve.services.sms import numbers as sms_numbers
    from tests.conftest import TEST_ACTOR

    app = create_app(make_settings(empty_database, str(tmp_path)))
    now = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    ts = UTCDateTime()

    def table(name, *cols):
        return sa.table(
            name, *(c if isinstance(c, sa.ColumnClause) else sa.column(c) for c in cols)
        )

    with app.app_context(), audit.acting_as(TEST_ACTOR):
        upgrade(revision="0006")
        with transaction():
            # The area as the 0006 schema holds it (today's model has columns added since).
            db.session.execute(
                table("areas", "id", "code", "name", "level", "path",
                      sa.column("created_at", ts), sa.column("updated_at", ts)).insert(),
                {"id": 1, "code": "D1", "name": "区", "level": "district", "path": "/1/",
                 "created_at": now, "updated_at": now},
            )  # fmt: skip
            area_id = 1
            bank = institutions.create_institution(
                OPERATOR,
                {"code": "B1", "name": "银行一", "short_name": "一行", "level": "city",
                 "kind": "commercial_bank", "aliases": []},
            )  # fmt: skip
            bank_id = bank.id
        stamps = {"created_at": now, "updated_at": now}
        rows = [
            (table("workers", "id", "area_id", "full_name", "employment", "status",
                   "personnel_file", "phone", sa.column("created_at", ts),
                   sa.column("updated_at", ts)),
             {"id": 1, "area_id": area_id, "full_name": "甲", "employment": "full_time",
              "status": "active", "personnel_file": "{}", "phone": "13800001111", **stamps}),
            (table("institution_contacts", "id", "institution_id", "name", "phone",
                   sa.column("created_at", ts), sa.column("updated_at", ts)),
             {"id": 1, "institution_id": bank_id, "name": "联系人", "phone": "13700002222",
              **stamps}),
            (table("sms_campaigns", "id", "code", "name", "area_id",
                   sa.column("start_date", sa.Date), sa.column("end_date", sa.Date),
                   "slot_days", "window_start", "window_end",
                   "working_days_only", "rounds", "rotate_each_round", "policy", "leading_group",
                   sa.column("created_at", ts), sa.column("updated_at", ts)),
             {"id": 1, "code": "C1", "name": "活动", "area_id": area_id,
              "start_date": now.date(), "end_date": now.date(), "slot_days": 1,
              "window_start": "08:00", "window_end": "21:00", "working_days_only": False,
              "rounds": 1, "rotate_each_round": False, "policy": "shift", "leading_group": "",
              **stamps}),
            (table("sms_senders", "id", "campaign_id", "institution_id", "position"),
             {"id": 1, "campaign_id": 1, "institution_id": bank_id, "position": 1}),
            (table("sms_texts", "id", "campaign_id", "body", "status", "locked", "version",
                   sa.column("created_at", ts), sa.column("updated_at", ts)),
             {"id": 1, "campaign_id": 1, "body": "文", "status": "approved", "locked": True,
              "version": 1, **stamps}),
            (table("sms_recipients", "id", "sender_id", "phone", "source",
                   sa.column("created_at", ts)),
             {"id": 1, "sender_id": 1, "phone": "+8613900000001", "source": "csv",
              "created_at": now}),
            (table("sms_opt_outs", "id", "phone", "institution_id", "source",
                   sa.column("created_at", ts)),
             {"id": 1, "phone": "+8613900000001", "institution_id": None, "source": "api",
              "created_at": now}),
            (table("sms_messages", "id", "campaign_id", "sender_id", "text_id", "kind", "phone",
                   "body", "status", "attempts", sa.column("next_attempt_at", ts),
                   sa.column("slot_start", ts), sa.column("slot_end", ts),
                   sa.column("created_at", ts)),
             {"id": 1, "campaign_id": 1, "sender_id": 1, "text_id": 1, "kind": "mandated",
              "phone": "+8613900000001", "body": "文", "status": "queued", "attempts": 0,
              "next_attempt_at": now, "slot_start": now, "slot_end": now, "created_at": now}),
        ]  # fmt: skip
        with transaction():
            for t, values in rows:
                db.session.execute(t.insert().values(**values))

        upgrade(revision="0010_phone_hashes")
        db.session.remove()
        names = (
            "workers",
            "institution_contacts",
            "sms_recipients",
            "sms_opt_outs",
            "sms_messages",
        )
        for name in names:
            columns = {c["name"] for c in inspect(db.engine).get_columns(name)}
            assert "phone" not in columns and "phone_enc" in columns
        hasher = sms_numbers.hasher()
        expected_hash = hasher("+8613900000001")
        for name, clear in (("workers", "13800001111"), ("institution_contacts", "13700002222")):
            (enc,) = db.session.execute(text(f"SELECT phone_enc FROM {name}")).scalars()
            assert clear.encode() not in bytes(enc) and crypto.decrypt(enc) == clear
        for name in ("sms_recipients", "sms_opt_outs", "sms_messages"):
            ((enc, digest),) = db.session.execute(text(f"SELECT phone_enc, phone_hash FROM {name}"))
            assert crypto.decrypt(enc) == "+8613900000001" and digest == expected_hash
        # The moved numbers still work with the services: a duplicate, an opt-out.
        recipients = sa.table(
            "sms_recipients", sa.column("sender_id"), sa.column("phone_enc"),
            sa.column("phone_hash"), sa.column("source"), sa.column("created_at", ts),
        )  # fmt: skip
        from gridserve.db import insert_for

        added = db.session.execute(
            insert_for(recipients)
            .values(sender_id=1, source="csv", created_at=now, **hasher.stored("+8613900000001"))
            .on_conflict_do_nothing()
            .returning(recipients.c.sender_id)
        ).all()
        assert added == []  # the unique key on the hash found the migrated row
        opted = db.session.execute(
            text("SELECT count(*) FROM sms_opt_outs WHERE phone_hash = :h"), {"h": expected_hash}
        ).scalar()
        assert opted == 1
        db.session.rollback()
        db.session.remove()

        downgrade(revision="0006")
        for name, clear in (
            ("workers", "13800001111"),
            ("institution_contacts", "13700002222"),
            ("sms_recipients", "+8613900000001"),
            ("sms_opt_outs", "+8613900000001"),
            ("sms_messages", "+8613900000001"),
        ):
            assert db.session.execute(text(f"SELECT phone FROM {name}")).scalars().all() == [clear]
        db.session.remove()
        db.engine.dispose()
