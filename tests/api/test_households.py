"""The household register: who sees what in clear, encryption at rest, versions, export, keys."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass

import numpy as np
import pytest
from cryptography.fernet import Fernet
from flask.cli import ScriptInfo
from sqlalchemy import func, select, text

from gridserve import audit, crypto
from gridserve.cli import main
from gridserve.config import settings
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import AuditEntry, GridCell, Household, Place, SyncTombstone, User
from gridserve.scope import OPERATOR
from gridserve.services.field import households as household_service
from gridserve.services.field import workers as worker_service
from gridserve.services.geography import grid as grid_service
from gridserve.services.geography import grid_workflow
from gridserve.services.geography import places as place_service
from gridserve.timeutil import local_today
from tests.conftest import TEST_ACTOR, World

ID_A = "510104199001011230"  # check digit 0
ID_B = "11010519491231002X"  # the example of GB 11643 (check character X)
PHONE = "13812345678"
BODY = {
    "door_number": "3栋2单元501",
    "address": "演示街12号",
    "phone": "138 1234 5678",
    "id_number": ID_A,
    "members": [
        {"name": "张三", "relation": "户主", "work_unit": "演示第一中学"},
        {"name": "欧阳娜娜", "relation": "配偶", "work_unit": "个体"},
    ],
}


@dataclass
class Register:
    """Street S1 with household places, an active layout, worker_a holding one cell of S1C1."""

    world: World
    cell: str  # worker_a's cell
    mine: int  # a household place in worker_a's cell
    mine_too: int  # another one there
    elsewhere: int  # a household place in another cell of S1C1
    in_b: int  # a household place in S1C2
    enterprise: int  # an enterprise in worker_a's community


@pytest.fixture
def register(clean_app, world) -> Register:
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(104.0, 104.05, 40), rng.uniform(104.05, 104.1, 20)])
    points = list(zip(lon, rng.uniform(30.4, 30.5, 60), strict=True))
    rows = [
        place_service.Row(i + 1, {"external_id": f"HH-{i}", "type": "household", "name": "",
                                  "lon": x, "lat": y, "extra": {}})
        for i, (x, y) in enumerate(points)
    ] + [
        place_service.Row(99, {"external_id": "EN-1", "type": "enterprise", "name": "小店",
                               "lon": 104.02, "lat": 30.45, "extra": {}})
    ]  # fmt: skip
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        today = local_today()
        report = place_service.import_places(OPERATOR, world.street, rows, today)
        assert report["created"] == 61, report["rejected"][:3]
        plan = grid_service.create_plan(
            OPERATOR, world.street, {"method": "balanced", "cells": 4}, today
        )
        grid_workflow.propose(OPERATOR, plan.id)
        grid_workflow.approve(OPERATOR, plan.id)
        grid_workflow.activate(OPERATOR, plan.id, None, today)
        places = db.session.execute(
            select(Place.id, Place.type, Place.area_id, GridCell.code)
            .join(GridCell, GridCell.id == Place.cell_id)
            .order_by(Place.id)
        ).all()
        homes_a = [p for p in places if p.type == "household" and p.area_id == world.community_a]
        cell = homes_a[0].code
        mine = [p.id for p in homes_a if p.code == cell]
        elsewhere = [p.id for p in homes_a if p.code != cell]
        in_b = [p.id for p in places if p.area_id == world.community_b]
        enterprise = next(p.id for p in places if p.type == "enterprise")
        assert len(mine) >= 2 and elsewhere and in_b
        user_id = db.session.execute(
            select(User.id).where(User.username == "worker_a")
        ).scalar_one()
        worker = worker_service.create_worker(
            OPERATOR, {"area_id": world.community_a, "user_id": user_id, "full_name": "王网格"}
        )
        worker_service.assign(OPERATOR, worker.id, cell, today, today)
    return Register(world, cell, mine[0], mine[1], elsewhere[0], in_b[0], enterprise)


def _create(client, headers, place_id, **changes):
    body = {**BODY, "place_id": place_id, **changes}
    return client.post("/api/v1/households", json=body, headers=headers)


def _made(client, headers, place_id, **changes) -> dict:
    resp = _create(client, headers, place_id, **changes)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _audit(app, request_id: str, action: str | None = None) -> list[AuditEntry]:
    with app.app_context():
        stmt = select(AuditEntry).where(AuditEntry.request_id == request_id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(db.session.execute(stmt.order_by(AuditEntry.id)).scalars())


def _rid(headers: dict[str, str]) -> tuple[dict[str, str], str]:
    rid = uuid.uuid4().hex
    return headers | {"X-Request-Id": rid}, rid


def _count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Household)).scalar_one()


def test_the_assigned_worker_registers_and_reads_in_clear_and_every_read_is_audited(
    client, auth_as, register, clean_app
):
    headers, rid = _rid(auth_as("worker_a"))
    resp = _create(client, headers, register.mine)
    assert resp.status_code == 201, resp.get_json()
    made = resp.get_json()
    assert made["masked"] is False
    assert made["phone"] == PHONE and made["id_number"] == ID_A
    assert [m["name"] for m in made["members"]] == ["张三", "欧阳娜娜"]
    assert made["member_count"] == 2 and made["version"] == 1 and made["change_seq"] > 0
    assert made["area_id"] == register.world.community_a and made["place_id"] == register.mine
    assert made["location"]["lon"] == pytest.approx(made["location"]["lon"])
    assert resp.headers["Cache-Control"] == "no-store"
    created = _audit(clean_app, rid, "create")
    assert any(e.entity == "households" for e in created)
    assert PHONE not in json.dumps([e.details for e in created], ensure_ascii=False)

    headers, rid = _rid(auth_as("worker_a"))
    got = client.get(f"/api/v1/households/{made['id']}", headers=headers)
    assert got.status_code == 200 and got.get_json()["masked"] is False
    assert got.get_json()["phone"] == PHONE
    (read,) = _audit(clean_app, rid, "household_read")
    assert read.entity == "households" and read.entity_id == str(made["id"])
    assert read.details == {"fields": ["phone", "id_number", "members"]}
    assert read.actor_name == "worker_a"


def test_the_station_of_the_community_reads_in_clear_and_is_audited(
    client, auth_as, register, clean_app
):
    made = _made(client, auth_as("station_a"), register.mine, phone=None, members=[])
    headers, rid = _rid(auth_as("station_a"))
    got = client.get(f"/api/v1/households/{made['id']}", headers=headers).get_json()
    assert got["masked"] is False and got["id_number"] == ID_A and got["phone"] is None
    (read,) = _audit(clean_app, rid, "household_read")
    assert read.details == {"fields": ["id_number"]}


@pytest.mark.parametrize("username", ["centre", "district", "admin"])
def test_everyone_else_in_scope_reads_masked_and_is_not_audited_for_it(
    client, auth_as, register, clean_app, username
):
    made = _made(client, auth_as("worker_a"), register.mine)
    headers, rid = _rid(auth_as(username))
    got = client.get(f"/api/v1/households/{made['id']}", headers=headers)
    assert got.status_code == 200
    body = got.get_json()
    assert body["masked"] is True
    assert body["phone"] == "138****5678"
    assert body["id_number"] == "510104********1230"
    assert body["members"] == [
        {"name": "张*", "relation": "户主", "work_unit": "演示第一中学"},
        {"name": "欧阳**", "relation": "配偶", "work_unit": "个体"},
    ]
    assert body["door_number"] == BODY["door_number"] and body["member_count"] == 2
    assert _audit(clean_app, rid, "household_read") == []


def test_out_of_scope_is_not_found_and_outreach_roles_may_not_read(client, auth_as, register):
    made = _made(client, auth_as("worker_a"), register.mine)
    other = client.get(f"/api/v1/households/{made['id']}", headers=auth_as("station_b"))
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/households/999999", headers=auth_as("station_a")).status_code == 404
    into_a = _create(client, auth_as("station_b"), register.mine_too)
    assert into_a.status_code == 404
    patch = client.patch(
        f"/api/v1/households/{made['id']}", json={"version": 1, "address": "x"},
        headers=auth_as("station_b"),
    )  # fmt: skip
    assert patch.status_code == 404
    for username in ("coordinator", "bank"):
        resp = client.get(f"/api/v1/households/{made['id']}", headers=auth_as(username))
        assert resp.status_code == 403, username
        assert resp.get_json()["error"]["code"] == "forbidden_role"


def test_a_worker_edits_only_their_own_cell_and_reads_others_masked(
    client, auth_as, register, clean_app
):
    refused = _create(client, auth_as("worker_a"), register.elsewhere)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_assigned"
    assert _count(clean_app) == 0
    elsewhere = _made(client, auth_as("station_a"), register.elsewhere)
    before = _count(clean_app)
    patch = client.patch(
        f"/api/v1/households/{elsewhere['id']}", json={"version": 1, "address": "改"},
        headers=auth_as("worker_a"),
    )  # fmt: skip
    assert patch.status_code == 403 and patch.get_json()["error"]["code"] == "not_assigned"
    headers, rid = _rid(auth_as("worker_a"))
    got = client.get(f"/api/v1/households/{elsewhere['id']}", headers=headers).get_json()
    assert got["masked"] is True and got["phone"] == "138****5678"
    assert _audit(clean_app, rid, "household_read") == []
    assert _count(clean_app) == before


def test_lists_are_masked_for_everyone_and_filter(client, auth_as, register, clean_app):
    mine = _made(client, auth_as("worker_a"), register.mine)
    _made(client, auth_as("worker_a"), register.mine_too, id_number=ID_B)
    _made(client, auth_as("station_a"), register.elsewhere)
    in_b = _made(client, auth_as("station_b"), register.in_b)
    for username, expected in [
        ("worker_a", 3), ("station_a", 3), ("station_b", 1), ("centre", 4), ("admin", 4),
    ]:  # fmt: skip
        headers, rid = _rid(auth_as(username))
        resp = client.get("/api/v1/households", headers=headers)
        assert resp.status_code == 200, resp.get_json()
        rows = resp.get_json()
        assert len(rows) == expected, username
        assert json.loads(resp.headers["X-Pagination"])["total"] == expected
        assert all(r["masked"] is True for r in rows), username
        assert all(r["phone"] == "138****5678" for r in rows)
        assert {r["id_number"] for r in rows} <= {"510104********1230", "110105********002X"}
        assert all(m["name"].endswith("*") for r in rows for m in r["members"])
        assert _audit(clean_app, rid, "household_read") == []

    centre = auth_as("centre")
    by_area = client.get(f"/api/v1/households?area={register.world.community_b}", headers=centre)
    assert [r["id"] for r in by_area.get_json()] == [in_b["id"]]
    by_place = client.get(f"/api/v1/households?place={register.mine}", headers=centre)
    assert [r["id"] for r in by_place.get_json()] == [mine["id"]]
    by_cell = client.get(f"/api/v1/households?cell={mine['cell_id']}", headers=centre).get_json()
    assert len(by_cell) == 2 and {r["cell_id"] for r in by_cell} == {mine["cell_id"]}
    page = client.get("/api/v1/households?page_size=2&sort=-id", headers=centre).get_json()
    assert [r["id"] for r in page] == sorted((r["id"] for r in page), reverse=True)
    assert len(page) == 2
    bad = client.get("/api/v1/households?sort=phone_enc", headers=centre)
    assert bad.status_code == 422 and "sort" in bad.get_json()["error"]["details"]["fields"]


def test_personal_data_is_encrypted_at_rest(client, auth_as, register, clean_app):
    made = _made(client, auth_as("worker_a"), register.mine)
    with clean_app.app_context():
        row = db.session.execute(
            text("SELECT phone_enc, id_number_enc, members_enc, member_count FROM households"
                 " WHERE id = :id"),
            {"id": made["id"]},
        ).one()  # fmt: skip
        raw = b"".join(bytes(v) for v in row[:3])
        for plain in (PHONE, "1381234", ID_A, "张三", "欧阳娜娜", "演示第一中学"):
            assert plain.encode() not in raw, plain
        assert row.member_count == 2
        assert crypto.decrypt(row.phone_enc) == PHONE
        assert crypto.decrypt_json(row.members_enc)[1]["name"] == "欧阳娜娜"


def test_work_units_complete_is_derived_on_every_write(client, auth_as, register, clean_app):
    """三知道二清楚一掌握: every member's work unit known, kept in clear beside the encrypted
    members so the register's completeness is countable (assessment)."""

    def derived(household_id: int) -> bool:
        with clean_app.app_context():
            return db.session.scalar(
                select(Household.work_units_complete).where(Household.id == household_id)
            )

    made = _made(client, auth_as("worker_a"), register.mine)
    assert derived(made["id"]) is True
    path = f"/api/v1/households/{made['id']}"
    members = [*BODY["members"], {"name": "张小明", "relation": "子"}]  # no work unit
    edit = client.patch(path, json={"version": 1, "members": members},
                        headers=auth_as("worker_a"))  # fmt: skip
    assert edit.status_code == 200, edit.get_json()
    assert derived(made["id"]) is False
    # An edit that leaves the members alone keeps what they say.
    door = client.patch(path, json={"version": 2, "door_number": "3栋2单元502"},
                        headers=auth_as("worker_a"))  # fmt: skip
    assert door.status_code == 200 and derived(made["id"]) is False
    emptied = client.patch(path, json={"version": 3, "members": []}, headers=auth_as("worker_a"))
    assert emptied.status_code == 200 and derived(made["id"]) is False
    empty = _made(client, auth_as("worker_a"), register.mine_too, members=[])
    assert derived(empty["id"]) is False


def test_an_edit_on_a_stale_version_is_refused_and_changes_nothing(
    client, auth_as, register, clean_app
):
    made = _made(client, auth_as("worker_a"), register.mine)
    path = f"/api/v1/households/{made['id']}"
    first = client.patch(path, json={"version": 1, "phone": "13900001111"},
                         headers=auth_as("worker_a"))  # fmt: skip
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["version"] == 2 and body["phone"] == "13900001111" and body["masked"] is False
    assert body["change_seq"] > made["change_seq"]
    assert body["id_number"] == ID_A and len(body["members"]) == 2  # untouched fields stay

    stale = client.patch(path, json={"version": 1, "phone": "13722223333", "members": []},
                         headers=auth_as("station_a"))  # fmt: skip
    assert stale.status_code == 409
    err = stale.get_json()["error"]
    assert err["code"] == "stale_version" and err["details"]["current_version"] == 2
    now = client.get(path, headers=auth_as("station_a")).get_json()
    assert now["phone"] == "13900001111" and now["version"] == 2 and now["member_count"] == 2

    no_version = client.patch(path, json={"phone": "13722223333"}, headers=auth_as("station_a"))
    assert no_version.status_code == 422
    assert "version" in no_version.get_json()["error"]["details"]["fields"]

    masked = client.patch(path, json={"version": 2, "members": [{"name": "李四"}]},
                          headers=auth_as("centre"))  # fmt: skip
    assert masked.status_code == 200
    assert masked.get_json()["masked"] is True and masked.get_json()["members"] == [
        {"name": "李*", "relation": "", "work_unit": ""}
    ]
    assert masked.get_json()["member_count"] == 1 and masked.get_json()["version"] == 3


def test_one_household_per_place(client, auth_as, register, clean_app):
    _made(client, auth_as("worker_a"), register.mine)
    again = _create(client, auth_as("station_a"), register.mine, door_number="另一个门牌")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "household_exists"
    assert _count(clean_app) == 1


def test_only_household_places_take_a_household(client, auth_as, register, clean_app):
    resp = _create(client, auth_as("station_a"), register.enterprise)
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "not_a_household" and "place_id" in err["details"]["fields"]
    assert _count(clean_app) == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("phone", "12345"),
        ("phone", "not a number"),
        ("phone", "1381234567"),  # a digit short
        ("id_number", "510104199001011231"),  # wrong check digit
        ("id_number", "51010419900101123"),  # 17 characters
        ("id_number", "510104199013011234"),  # month 13 (check digit right for it)
        ("id_number", "5101041990010112X0"),
    ],
)
def test_bad_phone_or_id_number_is_refused_by_field_and_nothing_is_stored(
    client, auth_as, register, clean_app, name, value
):
    if value == "510104199013011234":
        value = value[:17] + household_service.id_check_digit(value[:17])
    resp = _create(client, auth_as("worker_a"), register.mine, **{name: value})
    assert resp.status_code == 422, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == "validation_error"
    assert list(err["details"]["fields"]) == [name]
    assert _count(clean_app) == 0


def test_members_are_checked(client, auth_as, register, clean_app):
    too_many = _create(client, auth_as("worker_a"), register.mine,
                       members=[{"name": f"成员{i}"} for i in range(31)])  # fmt: skip
    assert too_many.status_code == 422
    assert "members" in too_many.get_json()["error"]["details"]["fields"]
    nameless = _create(client, auth_as("worker_a"), register.mine, members=[{"name": ""}])
    assert nameless.status_code == 422
    long_name = _create(client, auth_as("worker_a"), register.mine, members=[{"name": "名" * 51}])
    assert long_name.status_code == 422
    assert _count(clean_app) == 0
    many_errors = _create(client, auth_as("worker_a"), register.mine, phone="1", id_number="2")
    assert set(many_errors.get_json()["error"]["details"]["fields"]) == {"phone", "id_number"}


def _csv(resp) -> list[dict[str, str]]:
    body = resp.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))


def test_export_is_for_the_station_and_above_and_audited(client, auth_as, register, clean_app):
    _made(client, auth_as("worker_a"), register.mine)
    _made(client, auth_as("station_a"), register.elsewhere, address="=HYPERLINK(1)")
    _made(client, auth_as("station_b"), register.in_b)

    worker = client.get("/api/v1/households/export", headers=auth_as("worker_a"))
    assert worker.status_code == 403

    headers, rid = _rid(auth_as("station_a"))
    station = client.get("/api/v1/households/export", headers=headers)
    assert station.status_code == 200
    assert station.mimetype == "text/csv"
    assert "attachment" in station.headers["Content-Disposition"]
    rows = _csv(station)
    assert len(rows) == 2 and {r["community"] for r in rows} == {"S1C1"}
    assert {r["phone"] for r in rows} == {PHONE} and {r["id_number"] for r in rows} == {ID_A}
    assert json.loads(rows[0]["members"])[0]["name"] == "张三"
    assert {r["masked"] for r in rows} == {"false"}
    assert register.cell in {r["cell"] for r in rows}
    assert "'=HYPERLINK(1)" in {r["address"] for r in rows}  # never a live formula
    (entry,) = _audit(clean_app, rid, "household_export")
    assert entry.details["rows"] == 2 and entry.details["unmasked"] is True

    headers, rid = _rid(auth_as("centre"))
    centre = client.get("/api/v1/households/export", headers=headers)
    rows = _csv(centre)
    assert len(rows) == 3 and {r["community"] for r in rows} == {"S1C1", "S1C2"}
    assert {r["phone"] for r in rows} == {"138****5678"}
    body = centre.get_data(as_text=True)
    assert PHONE not in body and ID_A not in body and "张三" not in body
    (entry,) = _audit(clean_app, rid, "household_export")
    assert entry.details["rows"] == 3 and entry.details["unmasked"] is False

    only_b = client.get(
        f"/api/v1/households/export?area={register.world.community_b}", headers=auth_as("centre")
    )
    assert len(_csv(only_b)) == 1


def test_delete_is_for_the_station_and_leaves_a_tombstone(client, auth_as, register, clean_app):
    made = _made(client, auth_as("worker_a"), register.mine)
    path = f"/api/v1/households/{made['id']}"
    assert client.delete(path, headers=auth_as("worker_a")).status_code == 403
    assert client.delete(path, headers=auth_as("station_b")).status_code == 404
    headers, rid = _rid(auth_as("station_a"))
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path, headers=auth_as("station_a")).status_code == 404
    with clean_app.app_context():
        stone = db.session.execute(select(SyncTombstone)).scalar_one()
    assert stone.entity == "household" and stone.entity_id == made["id"]
    assert stone.area_id == register.world.community_a and stone.cell_code == register.cell
    assert stone.change_seq > made["change_seq"]
    assert [e.entity for e in _audit(clean_app, rid, "delete")] == ["households"]
    again = _made(client, auth_as("worker_a"), register.mine)  # the place is free again
    assert again["change_seq"] > stone.change_seq


# --- keys ----------------------------------------------------------------------------------


@pytest.fixture
def data_keys(override_settings):
    """``with data_keys(*keys):`` another key ring (newest first), the configured one after."""
    return lambda *keys: override_settings(data_keys=keys)


def _invoke(app, *args):
    runner = app.test_cli_runner()
    return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def _raw(app) -> list[tuple]:
    with app.app_context():
        return [
            tuple(r)
            for r in db.session.execute(
                text("SELECT id, phone_enc, id_number_enc, members_enc FROM households ORDER BY id")
            )
        ]


def test_keys_rotate_re_encrypts_every_household_with_the_newest_key(
    client, auth_as, register, clean_app, data_keys
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with data_keys(old):
        first = _made(client, auth_as("worker_a"), register.mine)
        _made(client, auth_as("station_a"), register.elsewhere, phone=None, members=[])
        _made(client, auth_as("station_b"), register.in_b, phone=None, id_number=None, members=[])
    before = _raw(clean_app)

    # The ring still holds every key something was encrypted with (the world's contact phone
    # was encrypted with the configured key).
    configured = settings(clean_app).data_keys[0]
    with data_keys(new, old, configured):
        result = _invoke(clean_app, "keys", "rotate", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 household(s)" in result.output  # the third has nothing encrypted
    after = _raw(clean_app)
    assert [r[0] for r in after] == [r[0] for r in before]
    assert after[0][1] != before[0][1]

    with data_keys(new), clean_app.app_context():
        assert crypto.decrypt(after[0][1]) == PHONE
        assert crypto.decrypt(after[1][2]) == ID_A
        assert crypto.decrypt_json(after[0][3])[0]["name"] == "张三"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(before[0][1])  # the old ciphertext needed the old key
    with data_keys(new):
        got = client.get(f"/api/v1/households/{first['id']}", headers=auth_as("worker_a"))
        assert got.status_code == 200 and got.get_json()["phone"] == PHONE
        assert got.get_json()["version"] == 1  # the record itself did not change
    with clean_app.app_context():
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "rotate_data_keys",
                                     AuditEntry.entity == "households")
            .order_by(AuditEntry.id.desc()).limit(1)
        ).scalar_one()  # fmt: skip
    assert entry.actor_type == "cli" and entry.details == {"rows": 2}


def test_keys_rotate_without_the_old_key_changes_nothing(
    client, auth_as, register, clean_app, data_keys
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with data_keys(old):
        _made(client, auth_as("worker_a"), register.mine)
    before = _raw(clean_app)
    with data_keys(new):
        result = _invoke(clean_app, "keys", "rotate")
    assert result.exit_code != 0
    assert "cannot be decrypted" in result.output and "nothing was changed" in result.output
    assert _raw(clean_app) == before


def test_keys_generate_prints_a_fernet_key(clean_app):
    result = _invoke(clean_app, "keys", "generate")
    assert result.exit_code == 0, result.output
    Fernet(result.output.strip().encode())  # a valid key
    assert result.output.strip() != _invoke(clean_app, "keys", "generate").output.strip()


# --- the rules without HTTP ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("028-8765 4321", "2887654321"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_phone_numbers_are_stored_normalised(raw, stored):
    assert household_service.normalise_phone(raw) == stored


def test_id_numbers_follow_iso_7064_mod_11_2():
    assert household_service.normalise_id_number(" 11010519491231002x ") == ID_B
    assert household_service.normalise_id_number(ID_A) == ID_A
    for bad in (ID_A[:-1] + "1", ID_A[:17], ID_A + "0", "X" + ID_A[1:]):
        with pytest.raises(ValueError):
            household_service.normalise_id_number(bad)


def test_serialize_is_what_terminals_get(ctx, register, clean_app):
    with transaction():
        data = household_service.clean_fields(
            {**BODY, "place_id": register.mine}, local_today(), partial=False
        )
        household = Household(place_id=register.mine, area_id=register.world.community_a, **data)
        db.session.add(household)
        db.session.flush()
        clear = household_service.serialize(household, unmasked=True)
        masked = household_service.serialize(household, unmasked=False)
    assert clear["phone"] == PHONE and clear["masked"] is False
    assert masked["phone"] == "138****5678" and masked["masked"] is True
    json.dumps(clear)  # JSON-ready as it is


def test_id_numbers_are_nfkc_normalised_then_checked(client, auth_as, register, clean_app):
    full_width = "１１０１０５１９４９１２３１００２Ｘ"  # ID_B in full-width digits and Ｘ
    made = _made(client, auth_as("worker_a"), register.mine, id_number=full_width)
    assert made["id_number"] == ID_B
    assert household_service.normalise_id_number("１１０１０５１９４９１２３１００２ｘ") == ID_B


@pytest.mark.parametrize(
    "value",
    [
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits: int() takes them, we do not
        "۱۱۰۱۰۵۱۹۴۹۱۲۳۱۰۰۲X",  # Extended Arabic-Indic
        "११०१०५१९४९१२३१००२X",  # Devanagari
        "１１０１０５１９４９１２３１００２３",  # full-width but the wrong check digit
        "11010519491231002X0",  # 19 characters
    ],
)
def test_id_numbers_in_other_scripts_or_wrong_are_422(client, auth_as, register, clean_app, value):
    resp = _create(client, auth_as("worker_a"), register.mine, id_number=value)
    assert resp.status_code == 422, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == "validation_error" and list(err["details"]["fields"]) == ["id_number"]
    assert _count(clean_app) == 0
