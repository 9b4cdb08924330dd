"""The visit list of a visits programme: CSV import, the freeze after list_due_on, the list."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from stdnum.cn import uscc

from gridserve.extensions import db
from gridserve.models import AuditEntry, Place
from tests.api.outreach.event_helpers import API
from tests.clock import at_local, move_to
from tests.conftest import login

HEADER = "credit_code,name,address,lon,lat,industry,institution,visitor\n"


def code(n: int) -> str:
    """An invented, valid unified social credit code (never a real company's)."""
    body = f"9251000099{n:07d}"
    return body + uscc.calc_check_digit(body)


def bad_code(n: int) -> str:
    good = code(n)
    wrong = "0" if good[-1] != "0" else "1"
    return good[:-1] + wrong


def _programme(client, auth_as, world, **over) -> int:
    body = {
        "code": "SME-T",
        "name": "小微企业走访（测试）",
        "kind": "visits",
        "area_id": world.street,
        "start_date": "2027-05-01",
        "end_date": "2027-12-31",
        "organiser": "DZ-REG",
        "institutions": ["DZCB", "ICBC"],
        "list_due_on": "2027-05-15",
        "visits_from": "2027-05-15",
        "visits_to": "2027-11-30",
        "summary_due_on": "2027-12-15",
    } | over
    resp = client.post(f"{API}/programmes", json=body, headers=auth_as("coordinator"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _import(client, headers, programme, text, content_type="text/csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        f"{API}/programmes/{programme}/enterprises",
        data=data,
        headers=headers | {"Content-Type": content_type},
    )


def _list(client, headers, programme, query=""):
    return client.get(f"{API}/programmes/{programme}/enterprises{query}", headers=headers)


@pytest.fixture
def before_list_due():
    move_to(at_local(dt.date(2027, 5, 10), dt.time(10, 0)))


@pytest.fixture
def listing(client, auth_as, outreach, before_list_due) -> int:
    return _programme(client, auth_as, outreach.field.world)


def test_the_programme_shows_its_visit_dates(client, auth_as, outreach, listing):
    got = client.get(f"{API}/programmes/{listing}", headers=auth_as("coordinator")).get_json()
    assert got["list_due_on"] == "2027-05-15"
    assert got["visits_from"] == "2027-05-15"
    assert got["visits_to"] == "2027-11-30"
    assert got["summary_due_on"] == "2027-12-15"
    resp = client.patch(
        f"{API}/programmes/{listing}",
        json={"version": got["version"], "summary_due_on": "2027-12-20", "list_due_on": None},
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["summary_due_on"] == "2027-12-20"
    assert resp.get_json()["list_due_on"] is None


def test_a_visit_window_ending_before_it_starts_is_refused(client, auth_as, outreach):
    resp = client.post(
        f"{API}/programmes",
        json={
            "code": "SME-X", "name": "x", "kind": "visits",
            "area_id": outreach.field.world.street, "start_date": "2027-05-01",
            "end_date": "2027-12-31", "organiser": "DZ-REG",
            "visits_from": "2027-06-01", "visits_to": "2027-05-01",
        },
        headers=auth_as("coordinator"),
    )  # fmt: skip
    assert resp.status_code == 422
    assert "visits_to" in resp.get_json()["error"]["details"]["fields"]


def test_the_coordinator_imports_a_list_and_every_bad_row_is_reported(
    client, auth_as, outreach, listing, clean_app
):
    text = HEADER + "\n".join(
        [
            f"{code(1)},甲商贸有限公司,甲路1号,104.02,30.44,批发和零售业,DZCB,bank",
            f"{code(2)},乙餐饮店,乙路2号,104.07,30.45,住宿和餐饮业,工商银行,cell",
            f"{bad_code(3)},坏代码,,104.02,30.44,,DZCB,cell",
            f"{code(1)},重复,,104.02,30.44,,DZCB,cell",
            f"{code(4)},无名行,,104.02,30.44,,NOBANK,cell",
            f"{code(5)},错的人,,104.02,30.44,,DZCB,icbc",
            f"{code(6)},区外,,110.0,35.0,,DZCB,cell",
            f"{code(7)},无位置,,,,,DZCB,cell",
            f"{code(8)},坏位置,,abc,30.4,,DZCB,cell",
        ]
    )
    resp = _import(client, auth_as("coordinator"), listing, text)
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()
    assert (got["received"], got["created"], got["updated"]) == (9, 2, 0)
    assert [(r["row"], r["code"]) for r in got["rejected"]] == [
        (3, "invalid_credit_code"),
        (4, "duplicate_credit_code"),
        (5, "unknown_institution"),
        (6, "unknown_visitor"),
        (7, "outside_area"),
        (8, "missing_position"),
        (9, "invalid_position"),
    ]
    listed = _list(client, auth_as("coordinator"), listing).get_json()
    assert [(e["credit_code"], e["institution"], e["visitor"], e["status"]) for e in listed] == [
        (code(1), "DZCB", "bank", "listed"),
        (code(2), "ICBC", "cell", "listed"),
    ]
    assert listed[1]["area_id"] == outreach.field.world.community_b
    with clean_app.app_context():
        place = db.session.scalars(
            select(Place).where(Place.external_id == f"uscc:{code(1)}")
        ).one()
        assert place.type == "enterprise"
        assert place.area_id == outreach.field.world.community_a
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "import_enterprises")
        ).all()
        assert actions == ["import_enterprises"]


def test_reimporting_updates_by_credit_code_and_a_known_place_needs_no_position(
    client, auth_as, outreach, listing
):
    first = HEADER + f"{code(1)},甲商贸,甲路1号,104.02,30.44,零售,DZCB,bank\n"
    assert _import(client, auth_as("coordinator"), listing, first).get_json()["created"] == 1
    again = HEADER + f"{code(1)},甲商贸有限公司,,,,,DZCB,cell\n"
    got = _import(client, auth_as("coordinator"), listing, again).get_json()
    assert (got["created"], got["updated"], got["rejected"]) == (0, 1, [])
    [row] = _list(client, auth_as("coordinator"), listing).get_json()
    assert row["name"] == "甲商贸有限公司"
    assert row["address"] == "甲路1号"  # an empty cell keeps what was there
    assert row["visitor"] == "cell"
    assert row["version"] == 2
    assert (row["lon"], row["lat"]) == (104.02, 30.44)


def test_a_lowercase_code_is_read_as_the_same_code(client, auth_as, outreach, listing):
    text = HEADER + f"{code(9).lower()},小写,,104.02,30.44,,DZCB,cell\n"
    got = _import(client, auth_as("coordinator"), listing, text).get_json()
    assert got["created"] == 1


def test_a_contact_imports_its_own_institutions_rows_only(client, auth_as, outreach, listing):
    text = HEADER + "\n".join(
        [
            f"{code(1)},甲,,104.02,30.44,,DZCB,bank",
            f"{code(2)},乙,,104.07,30.45,,ICBC,cell",
        ]
    )
    got = _import(client, auth_as("bank"), listing, text).get_json()
    assert got["created"] == 1
    assert [(r["row"], r["code"]) for r in got["rejected"]] == [(2, "other_institution")]
    # a row the coordinator listed for ICBC cannot be taken over by DZCB's contact
    coordinator = HEADER + f"{code(3)},丙,,104.02,30.44,,ICBC,cell\n"
    _import(client, auth_as("coordinator"), listing, coordinator)
    steal = HEADER + f"{code(3)},丙,,104.02,30.44,,DZCB,cell\n"
    got = _import(client, auth_as("bank"), listing, steal).get_json()
    assert [r["code"] for r in got["rejected"]] == ["other_institution"]


def test_after_list_due_on_only_the_coordinator_changes_the_list(
    client, auth_as, outreach, listing, clean_app
):
    text = HEADER + f"{code(1)},甲,,104.02,30.44,,DZCB,bank\n"
    # 23:59 local on list_due_on: still open
    move_to(at_local(dt.date(2027, 5, 15), dt.time(23, 59)), tick=False)
    assert _import(client, login(client, "bank"), listing, text).status_code == 201
    move_to(at_local(dt.date(2027, 5, 16), dt.time(0, 0, 1)), tick=False)
    resp = _import(client, login(client, "bank"), listing, text)
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "list_frozen"
    again = HEADER + f"{code(1)},甲改,,,,,DZCB,cell\n"
    resp = _import(client, login(client, "coordinator"), listing, again)
    assert resp.status_code == 200
    assert resp.get_json()["updated"] == 1
    with clean_app.app_context():
        entry = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "import_enterprises")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert entry.details["after_list_due"] is True


@pytest.mark.parametrize("role", ["worker_a", "station_a", "centre"])
def test_roles_that_may_not_import_get_403_before_the_body_is_read(
    client, auth_as, outreach, listing, role
):
    resp = _import(client, auth_as(role), listing, b"\xff\xfe garbage", "application/pdf")
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden_role"


def test_a_bank_outside_the_programme_sees_no_programme(client, auth_as, outreach, listing):
    assert _import(client, auth_as("abc"), listing, HEADER).status_code == 404
    assert _list(client, auth_as("abc"), listing).status_code == 404


def test_a_publicity_programme_has_no_visit_list(client, auth_as, outreach, before_list_due):
    resp = _import(client, auth_as("coordinator"), outreach.programme, HEADER)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "not_visits_programme"


def test_hostile_files(client, auth_as, outreach, listing, override_settings):
    coordinator = auth_as("coordinator")
    resp = _import(client, coordinator, listing, "name,lon\nx,1\n")
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "invalid_csv"
    gbk = (HEADER + f"{code(1)},甲商贸,,104.02,30.44,,DZCB,cell\n").encode("gbk")
    resp = _import(client, coordinator, listing, gbk)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "invalid_csv"
    assert resp.get_json()["error"]["details"]["encoding"] == "utf-8"
    long_name = HEADER + f"{code(2)},{'x' * 300},,104.02,30.44,,DZCB,cell\n"
    got = _import(client, coordinator, listing, long_name).get_json()
    assert [r["code"] for r in got["rejected"]] == ["invalid_text"]
    huge = HEADER + "x" * (11 * 1024 * 1024)
    resp = _import(client, coordinator, listing, huge)
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"


def _three(client, auth_as, listing):
    text = HEADER + "\n".join(
        [
            f"{code(1)},甲,,104.02,30.44,,DZCB,bank",
            f"{code(2)},乙,,104.07,30.45,,ICBC,cell",
            f"{code(3)},丙,,104.03,30.42,,ICBC,icbc",
        ]
    )
    assert _import(client, auth_as("coordinator"), listing, text).get_json()["created"] == 3


def test_filters_and_pages(client, auth_as, outreach, listing):
    _three(client, auth_as, listing)
    world = outreach.field.world
    coordinator = dict(auth_as("coordinator"))

    def codes(query):
        resp = _list(client, coordinator, listing, query)
        assert resp.status_code == 200, resp.get_json()
        return [e["credit_code"] for e in resp.get_json()]

    assert codes("?institution=ICBC") == [code(2), code(3)]
    assert codes("?visitor=cell") == [code(2)]
    assert codes("?visitor=icbc") == [code(3)]
    assert codes(f"?community={world.community_b}") == [code(2)]
    assert codes("?status=listed") == [code(1), code(2), code(3)]
    assert codes("?status=visited") == []
    assert codes("?overdue=true") == []
    resp = _list(client, coordinator, listing, "?page_size=2&page=2")
    assert [e["credit_code"] for e in resp.get_json()] == [code(3)]
    resp = _list(client, coordinator, listing, "?institution=NOBANK")
    assert resp.get_json()["error"]["code"] == "unknown_institution"
    assert _list(client, coordinator, listing, "?status=lost").status_code == 422
    move_to(at_local(dt.date(2027, 12, 1), dt.time(9, 0)))
    coordinator.update(login(client, "coordinator"))
    assert codes("?overdue=true") == [code(1), code(2), code(3)]
    assert codes("?overdue=false") == []
    assert _list(client, coordinator, listing).get_json()[0]["overdue"] is True


def test_geojson(client, auth_as, outreach, listing):
    _three(client, auth_as, listing)
    resp = _list(client, auth_as("coordinator"), listing, "?format=geojson&institution=ICBC")
    assert resp.status_code == 200
    assert resp.mimetype == "application/geo+json"
    got = resp.get_json()
    assert got["type"] == "FeatureCollection"
    assert [f["properties"]["credit_code"] for f in got["features"]] == [code(2), code(3)]
    assert got["features"][0]["geometry"] == {"type": "Point", "coordinates": [104.07, 30.45]}
    assert got["features"][0]["properties"]["visitor"] == "cell"


def test_who_sees_which_rows(client, auth_as, outreach, listing):
    _three(client, auth_as, listing)

    def codes(user):
        resp = _list(client, auth_as(user), listing)
        assert resp.status_code == 200, resp.get_json()
        return [e["credit_code"] for e in resp.get_json()]

    assert codes("bank") == [code(1)]
    assert codes("icbc") == [code(2), code(3)]
    assert codes("station_a") == [code(1), code(3)]  # community_a only
    assert codes("station_b") == [code(2)]
    assert codes("centre") == [code(1), code(2), code(3)]
    assert _list(client, auth_as("worker_a"), listing).status_code == 403


def test_a_register_enterprise_joins_the_list_by_its_credit_code(
    client, auth_as, outreach, listing
):
    places = (
        "external_id,type,name,lon,lat\n"
        f"uscc:{code(1)},enterprise,登记在册企业,104.03,30.42\n"
        f"uscc:{code(2)},household,不是企业,104.03,30.42\n"
    )
    resp = client.post(
        f"/api/v1/areas/{outreach.field.world.street}/places",
        data=places.encode(),
        headers=auth_as("centre") | {"Content-Type": "text/csv"},
    )
    assert resp.get_json()["created"] == 2, resp.get_json()
    text = HEADER + f"{code(1)},,,,,,DZCB,cell\n{code(2)},,,,,,DZCB,cell\n"
    got = _import(client, auth_as("coordinator"), listing, text).get_json()
    assert got["created"] == 1
    assert [(r["row"], r["code"]) for r in got["rejected"]] == [(2, "place_not_enterprise")]
    [row] = _list(client, auth_as("coordinator"), listing).get_json()
    assert row["name"] == "登记在册企业"
    assert (row["lon"], row["lat"]) == (104.03, 30.42)


def _register(client, auth_as, street):
    """Four register places: an enterprise by its `uscc:` id (community a), one carrying its
    code only as an attribute (community b), one with no code (community a), a household."""
    places = (
        "external_id,type,name,lon,lat,credit_code,industry\n"
        f"uscc:{code(1)},enterprise,甲登记企业,104.03,30.42,,制造业\n"
        f"REG-2,enterprise,乙登记企业,104.07,30.45,{code(2)},\n"
        "REG-3,enterprise,无代码企业,104.03,30.42,,\n"
        f"uscc:{code(4)},household,住户,104.03,30.42,,\n"
    )
    resp = client.post(
        f"/api/v1/areas/{street}/places",
        data=places.encode(),
        headers=auth_as("centre") | {"Content-Type": "text/csv"},
    )
    assert resp.get_json()["created"] == 4, resp.get_json()
    with client.application.app_context():
        return {
            p.external_id: p.id
            for p in db.session.scalars(select(Place).where(Place.external_id.like("%-%")))
        }


def _from_register(client, headers, programme, **body):
    return client.post(
        f"{API}/programmes/{programme}/enterprises/from-register", json=body, headers=headers
    )


def test_the_register_enterprises_of_an_area_join_the_list(
    client, auth_as, outreach, listing, clean_app
):
    world = outreach.field.world
    ids = _register(client, auth_as, world.street)
    coordinator = auth_as("coordinator")
    # community b first: only its enterprise, found by the code in its attributes
    resp = _from_register(
        client, coordinator, listing, area_id=world.community_b, institution="工商银行"
    )
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert (got["received"], got["created"], got["updated"], got["rejected"]) == (1, 1, 0, [])
    # the whole street: the rest; the place without a code is reported with its place id
    got = _from_register(
        client, coordinator, listing, area_id=world.street, institution="DZCB", visitor="bank"
    ).get_json()
    assert (got["received"], got["created"], got["updated"]) == (2, 1, 0)
    assert [(r["row"], r["code"], r["place_id"]) for r in got["rejected"]] == [
        (2, "invalid_credit_code", ids["REG-3"])
    ]
    listed = {e["credit_code"]: e for e in _list(client, coordinator, listing).get_json()}
    assert sorted(listed) == [code(1), code(2)]  # never the household
    assert (listed[code(1)]["institution"], listed[code(1)]["visitor"]) == ("DZCB", "bank")
    assert listed[code(1)]["name"] == "甲登记企业" and listed[code(1)]["industry"] == "制造业"
    assert (listed[code(2)]["institution"], listed[code(2)]["visitor"]) == ("ICBC", "cell")
    assert listed[code(2)]["place_id"] == ids["REG-2"]  # linked, no new place
    assert listed[code(2)]["area_id"] == world.community_b
    # again: what is listed stays as it is; only the codeless place is reported again
    got = _from_register(
        client, coordinator, listing, area_id=world.street, institution="ICBC"
    ).get_json()
    assert (got["received"], got["created"], got["updated"]) == (1, 0, 0)
    assert _list(client, coordinator, listing, "?institution=ICBC").get_json()[0][
        "credit_code"
    ] == code(2)
    with clean_app.app_context():
        entry = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "import_enterprises")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert entry.details["source"] == "register"


def test_a_csv_row_links_a_register_enterprise_by_the_code_in_its_attributes(
    client, auth_as, outreach, listing
):
    ids = _register(client, auth_as, outreach.field.world.street)
    text = HEADER + f"{code(2)},,,,,,ICBC,cell\n"
    got = _import(client, auth_as("coordinator"), listing, text).get_json()
    assert (got["created"], got["rejected"]) == (1, [])
    [row] = _list(client, auth_as("coordinator"), listing).get_json()
    assert (row["place_id"], row["name"]) == (ids["REG-2"], "乙登记企业")


def test_joining_from_the_register_keeps_the_import_rules(
    client, auth_as, outreach, listing, clean_app
):
    world = outreach.field.world
    _register(client, auth_as, world.street)
    resp = _from_register(client, auth_as("worker_a"), listing, area_id=world.street)
    assert resp.status_code == 403  # before the body is read
    assert resp.get_json()["error"]["code"] == "forbidden_role"
    # a contact lists only its own institution's enterprises
    got = _from_register(
        client, auth_as("bank"), listing, area_id=world.street, institution="ICBC"
    ).get_json()
    assert {r["code"] for r in got["rejected"]} == {"other_institution", "invalid_credit_code"}
    assert got["created"] == 0
    resp = _from_register(
        client, auth_as("coordinator"), listing, area_id=world.district, institution="DZCB"
    )
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "outside_area"
    resp = _from_register(client, auth_as("coordinator"), listing, area_id=world.street)
    assert resp.status_code == 422  # the coordinator names the institution
    assert resp.get_json()["error"]["details"]["fields"]["institution"]
    resp = _from_register(
        client, auth_as("coordinator"), listing, area_id=world.street, institution="NOBANK"
    )
    assert {r["code"] for r in resp.get_json()["rejected"]} == {
        "unknown_institution", "invalid_credit_code"
    }  # fmt: skip
    move_to(at_local(dt.date(2027, 5, 16), dt.time(9, 0)), tick=False)
    resp = _from_register(client, login(client, "bank"), listing, area_id=world.street)
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "list_frozen"
    got = _from_register(
        client, login(client, "coordinator"), listing, area_id=world.street, institution="DZCB"
    ).get_json()
    assert got["created"] == 2


def test_a_contact_joins_register_enterprises_for_its_own_institution(
    client, auth_as, outreach, listing
):
    world = outreach.field.world
    _register(client, auth_as, world.street)
    got = _from_register(client, auth_as("bank"), listing, area_id=world.community_a).get_json()
    assert (got["received"], got["created"]) == (2, 1)  # the codeless one is reported
    [row] = _list(client, auth_as("bank"), listing).get_json()
    assert (row["credit_code"], row["institution"], row["visitor"]) == (code(1), "DZCB", "cell")


@pytest.mark.parametrize("role", ["worker_a", "station_a", "centre"])
def test_roles_that_may_not_join_from_the_register_get_403_before_the_body_is_read(
    client, auth_as, outreach, listing, role
):
    resp = client.post(
        f"{API}/programmes/{listing}/enterprises/from-register",
        data=b"\xff not json",
        headers=auth_as(role) | {"Content-Type": "application/json"},
    )
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden_role"
