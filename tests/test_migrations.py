"""Migrations build the schema from an empty database, on both backends, and go back down."""

from __future__ import annotations

import ast
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

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


# --- expand, then contract ----------------------------------------------------------------------
# The rule (migrations/README.md): a revision's upgrade adds (tables, nullable or defaulted
# columns, indexes) and may move data, but drops or renames nothing the release before it still
# uses, because that release keeps serving while the revision runs (tests/ops/test_upgrade.py).
# A drop or a rename (a "contract") is allowed only in a revision that declares it, at module
# level, with the revision of the release whose code stopped using it (an earlier revision):
#     CONTRACTS = {"table.column": "0021_x", "old_table": "0021_x"}

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"

# Contracts written before the rule (issue 16), each exactly what it drops, with its reason.
GRANDFATHERED = {
    "0007_login_throttle": (
        {"login_throttle"},
        "rebuilt with the (username, address) key: it holds only the current window's failures, "
        "so at worst a throttle in force is lifted once; written before the rule",
    ),
    "0010_phone_hashes": (
        {
            "workers.phone",
            "institution_contacts.phone",
            "sms_recipients.phone",
            "sms_opt_outs.phone",
            "sms_messages.phone",
        },
        "plaintext numbers moved into encrypted columns and the clear copy removed at once (a "
        "personal-data fix that must not leave the numbers behind); written before the rule",
    ),
}

_SQL = re.compile(
    r"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?\"?(?P<alter>\w+)\"?\s+"
    r"(?:DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?\"?(?P<dropcol>\w+)|"
    r"RENAME\s+(?:COLUMN\s+)?\"?(?P<renamed>\w+)\"?\s+TO)"
    r"|\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?\"?(?P<droptable>\w+)",
    re.IGNORECASE,
)


_KEPT = ("revision", "down_revision", "CONTRACTS")


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    contracts: dict[str, str]
    contracted: frozenset[str]  # what its upgrade drops or renames: "table" or "table.column"


def _literal(node: ast.AST) -> str | None:
    """A string the code spells out (an f-string's literal parts joined by '?')."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "?" for v in node.values)
    return None


def contractions(source: str) -> set[str]:
    """What a revision's upgrade drops or renames: ``table`` or ``table.column``.

    Follows ``upgrade`` into the module's own functions (arguments bound at the call), loops
    over literal tuples, and ``with op.batch_alter_table(...) as b`` blocks; "?" stands for a
    name it cannot read (so a computed target is still found, and must be declared).
    """
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: set[str] = set()
    Env = dict[str, set[str]]

    def values(node: ast.AST | None, env: Env) -> set[str]:
        if node is None:
            return {"?"}
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        text_ = _literal(node)
        return {text_} if text_ is not None else {"?"}

    def arg(call: ast.Call, index: int, name: str, env: Env) -> set[str]:
        if len(call.args) > index:
            return values(call.args[index], env)
        given = next((kw.value for kw in call.keywords if kw.arg == name), None)
        return values(given, env)

    def dotted(tables: set[str], columns: set[str]) -> set[str]:
        return {f"{t}.{c}" for t in tables for c in columns}

    def call(node: ast.Call, env: Env, batch: Env, stack: tuple[str, ...]) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in functions and func.id not in stack:
            if func.id == "downgrade":
                return
            params = [a.arg for a in functions[func.id].args.args]
            bound = {p: values(v, env) for p, v in zip(params, node.args, strict=False)}
            bound |= {kw.arg: values(kw.value, env) for kw in node.keywords if kw.arg}
            for stmt in functions[func.id].body:
                visit(stmt, bound, {}, (*stack, func.id))
            return
        if not isinstance(func, ast.Attribute):
            return
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        table = batch.get(owner) if owner else None
        shift = 0 if table is not None else 1  # a batch op has no table argument
        if table is None:
            table = arg(node, 0, "table_name", env)
        if func.attr in ("drop_column", "drop_geospatial_column"):
            found.update(dotted(table, arg(node, shift, "column_name", env)))
        elif func.attr in ("drop_table", "drop_geospatial_table"):
            found.update(table)
        elif func.attr == "rename_table":
            found.update(arg(node, 0, "old_table_name", env))
        elif func.attr == "alter_column" and any(
            kw.arg == "new_column_name" for kw in node.keywords
        ):
            found.update(dotted(table, arg(node, shift, "column_name", env)))

    def visit(node: ast.AST, env: Env, batch: Env, stack: tuple[str, ...]) -> None:
        if isinstance(node, ast.With):
            inner = dict(batch)
            for item in node.items:
                expr = item.context_expr
                if (
                    isinstance(expr, ast.Call)
                    and getattr(expr.func, "attr", "") == "batch_alter_table"
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    inner[item.optional_vars.id] = arg(expr, 0, "table_name", env)
                visit(expr, env, batch, stack)
            for stmt in node.body:
                visit(stmt, env, inner, stack)
            return
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
        ):
            inner_env = {**env, node.target.id: {_literal(e) or "?" for e in node.iter.elts}}
            for stmt in [*node.body, *node.orelse]:
                visit(stmt, inner_env, batch, stack)
            return
        if isinstance(node, ast.Call):
            call(node, env, batch, stack)
        if isinstance(node, ast.Constant | ast.JoinedStr):
            for m in _SQL.finditer(_literal(node) or ""):
                if m["droptable"]:
                    found.add(m["droptable"])
                else:
                    found.add(f"{m['alter']}.{m['dropcol'] or m['renamed']}")
            return
        for child in ast.iter_child_nodes(node):
            visit(child, env, batch, stack)

    if "upgrade" in functions:
        for stmt in functions["upgrade"].body:
            visit(stmt, {}, {}, ("upgrade",))
    return found


def _revisions() -> dict[str, Revision]:
    made: dict[str, Revision] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        values: dict[str, object] = {}
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id in (
                        "revision",
                        "down_revision",
                        "CONTRACTS",
                    ):
                        values[t.id] = ast.literal_eval(node.value)
        rev = Revision(
            revision=str(values["revision"]),
            down_revision=values.get("down_revision"),  # type: ignore[arg-type]
            contracts=dict(values.get("CONTRACTS") or {}),  # type: ignore[arg-type]
            contracted=frozenset(contractions(source)),
        )
        made[rev.revision] = rev
    return made


def _ancestors(revisions: dict[str, Revision], revision: str) -> set[str]:
    out: set[str] = set()
    todo = [revisions[revision].down_revision]
    while todo:
        down = todo.pop()
        for r in down if isinstance(down, tuple | list) else [down]:
            if r and r not in out:
                out.add(r)
                todo.append(revisions[r].down_revision)
    return out


def contract_problems(
    revisions: dict[str, Revision], grandfathered: dict[str, tuple[set[str], str]]
) -> list[str]:
    """Every drop or rename not declared with an earlier revision (the rule's breaches)."""
    problems = []
    for rev in revisions.values():
        if rev.revision in grandfathered:
            # Exactly what it contracts, so the exemption cannot grow unseen.
            if set(rev.contracted) != grandfathered[rev.revision][0]:
                problems.append(f"{rev.revision} contracts {sorted(rev.contracted)} now")
            continue
        earlier = _ancestors(revisions, rev.revision)
        for target in sorted(rev.contracted):
            stopped = rev.contracts.get(target)
            if stopped is None:
                problems.append(
                    f"{rev.revision} drops or renames {target} without declaring it: add "
                    f"CONTRACTS = {{{target!r}: '<the earlier revision whose release stopped "
                    "using it>'}, or keep it (expand now, contract in a later release)"
                )
            elif stopped not in earlier:
                problems.append(
                    f"{rev.revision}: CONTRACTS[{target!r}] = {stopped!r} is not an earlier "
                    "revision; the code must stop using it one release before the drop"
                )
        for declared in sorted(set(rev.contracts) - set(rev.contracted)):
            problems.append(f"{rev.revision}: CONTRACTS names {declared!r}, which it never drops")
    return problems


def test_no_revision_drops_or_renames_what_the_release_before_it_still_uses():
    revisions = _revisions()
    assert len(revisions) >= 18 and "0019_assessment" in revisions
    problems = contract_problems(revisions, GRANDFATHERED)
    assert not problems, "\n".join(problems)


def test_a_drop_passes_only_when_declared_with_an_earlier_revision():
    def rev(name, down, contracted=(), contracts=None):
        return Revision(name, down, dict(contracts or {}), frozenset(contracted))

    def check(last: Revision) -> list[str]:
        chain = [rev("a", None), rev("b", "a"), rev("c", "b"), last]
        return contract_problems({r.revision: r for r in chain}, {})

    assert check(rev("d", "c")) == []
    assert check(rev("d", "c", {"t.x"}, {"t.x": "b"})) == []  # b's release stopped using it
    assert check(rev("d", "c", {"t.x"}, {"t.x": "c"})) == []  # the release just before
    undeclared = check(rev("d", "c", {"t.x"}))
    assert len(undeclared) == 1 and "without declaring" in undeclared[0]
    assert "not an earlier" in check(rev("d", "c", {"t.x"}, {"t.x": "d"}))[0]  # itself
    assert "not an earlier" in check(rev("d", "c", {"t.x"}, {"t.x": "z"}))[0]  # unknown
    assert "never drops" in check(rev("d", "c", (), {"t.x": "b"}))[0]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def upgrade():\n    op.drop_column('places', 'note')\n", {"places.note"}),
        ("def upgrade():\n    op.drop_table('old')\n", {"old"}),
        ("def upgrade():\n    op.rename_table('a', 'b')\n", {"a"}),
        (
            "def upgrade():\n    op.alter_column('t', 'c', new_column_name='d')\n",
            {"t.c"},
        ),
        (
            "def upgrade():\n    with op.batch_alter_table('t') as b:\n"
            "        b.drop_column('c')\n",
            {"t.c"},
        ),
        (
            "def upgrade():\n    _move()\n\ndef _move():\n"
            "    op.execute('ALTER TABLE households DROP COLUMN phone')\n",
            {"households.phone"},
        ),
        ("def upgrade():\n    op.execute('ALTER TABLE t RENAME COLUMN a TO b')\n", {"t.a"}),
        ("def upgrade():\n    op.execute(sa.text('DROP TABLE IF EXISTS x'))\n", {"x"}),
        # Adding, indexes, triggers and whatever downgrade does are not contracts.
        (
            "def upgrade():\n    op.add_column('t', sa.Column('c', sa.Integer()))\n"
            "    op.drop_index('ix_t_c', table_name='t')\n"
            "    op.execute('DROP TRIGGER IF EXISTS t_no_change ON t')\n"
            "def downgrade():\n    op.drop_column('t', 'c')\n    op.drop_table('t')\n",
            set(),
        ),
    ],
)
def test_the_contract_scan_finds_drops_and_renames_in_upgrade_only(source, found):
    assert contractions(source) == found
