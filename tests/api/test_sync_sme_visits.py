"""Terminals and SME visits: the sme_visit upload item of a visits programme (a bad one is
rejected with its code, the others stored; a retry is a duplicate and records nothing twice)
and the worker's listed enterprises in the bundle (kind sme_enterprises, after all others)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import OutreachVisit, Visit
from tests.api.outreach.visits_helpers import DAY, enterprise_of, heads, local_time, travel

UPLOAD = "/api/v1/sync/visits"
BUNDLE = "/api/v1/sync/bundle"


@pytest.fixture
def sme_terminal(client, visits, terminal):
    """worker_a's terminal on :data:`DAY` (10:00), inside the visit window."""
    travel()
    return terminal


def _bundle(client, headers, since=None, page_size=None):
    query = {k: v for k, v in {"since": since, "page_size": page_size}.items() if v}
    resp = client.get(BUNDLE, query_string=query, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _item(visits, enterprise, outcome="product_matched", **sme):
    fields = {
        "operating_status": "normal",
        "outcome": outcome,
        "need": {"amount": 200000, "term_months": 12, "purpose": "进货"},
        "eligible": True,
        "products": ["惠农e贷"],
    }
    fields.update(sme)
    return {
        "uuid": str(uuid.uuid4()),
        "type": "sme_visit",
        "started_at": local_time(DAY, dt.time(9, 0)),
        "ended_at": local_time(DAY, dt.time(9, 40)),
        "location": None,
        "notes": "走访",
        "programme_id": visits.programme,
        "enterprise_id": enterprise,
        "sme": fields,
    }


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.execute(select(func.count()).select_from(Visit)).scalar_one(),
            db.session.execute(select(func.count()).select_from(OutreachVisit)).scalar_one(),
        )


def test_a_good_and_bad_sme_visits_in_one_batch(client, visits, sme_terminal, clean_app):
    cell = enterprise_of(visits, "cell")
    good = _item(visits, cell)
    no_products = _item(visits, cell, products=[])
    not_mine = _item(visits, enterprise_of(visits, "bank"))  # visitor: the bank, not the cell
    other_list = {**_item(visits, cell), "programme_id": visits.outreach.programme}
    no_sme = {**_item(visits, cell), "sme": None}
    bad_type = _item(visits, cell, operating_status="booming")
    late = _item(visits, cell)
    late["started_at"] = local_time(dt.date(2027, 12, 1), dt.time(9, 0))
    late["ended_at"] = None
    patrol = {
        "uuid": str(uuid.uuid4()),
        "type": "patrol",
        "started_at": local_time(DAY, dt.time(8, 0)),
        "location": None,
    }
    plain = {**_item(visits, cell), "programme_id": None, "enterprise_id": None, "sme": None}
    batch = [good, no_products, not_mine, other_list, no_sme, bad_type, late, patrol, plain]
    resp = client.post(UPLOAD, json={"items": batch}, headers=sme_terminal)
    assert resp.status_code == 200, resp.get_json()
    results = resp.get_json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("created", None),
        ("rejected", "invalid_sme_visit"),
        ("rejected", "unknown_enterprise"),
        ("rejected", "unknown_enterprise"),
        ("rejected", "invalid_sme_visit"),
        ("rejected", "invalid_sme_visit"),
        ("rejected", "invalid_sme_visit"),
        ("created", None),
        ("created", None),  # an sme_visit without programme_id: stored as before
    ]
    assert "sme.products" in results[1]["errors"]
    assert "sme.operating_status" in results[5]["errors"]
    assert "started_at" in results[6]["errors"]
    assert _counts(clean_app) == (3, 1)

    h = heads(client, "coordinator", "bank")
    listed = client.get("/api/v1/outreach/visits", headers=h["bank"]).get_json()
    assert len(listed) == 1
    got = listed[0]
    assert got["source"] == "terminal"
    assert got["visitor"] == "worker_a"
    assert got["worker_id"] == visits.outreach.field.worker_id
    assert got["enterprise_id"] == cell
    assert got["visited_at"] == local_time(DAY, dt.time(9, 0))
    assert got["decision_due_on"] == "2027-06-29"
    assert got["products"] == ["惠农e贷"]

    again = client.post(UPLOAD, json={"items": [good]}, headers=sme_terminal)
    assert again.get_json()["results"][0]["status"] == "duplicate"
    assert _counts(clean_app) == (3, 1)
    changed = {**good, "sme": {**good["sme"], "products": ["别的产品"]}}
    clash = client.post(UPLOAD, json={"items": [changed]}, headers=sme_terminal)
    assert clash.get_json()["results"][0]["status"] == "conflict"
    assert _counts(clean_app) == (3, 1)


def test_the_enterprise_must_lie_in_a_cell_the_worker_holds_that_day(
    client, visits, sme_terminal, clean_app
):
    # worker_a holds the cell from the day the field world was built: not the day before.
    before = visits.outreach.field.today - dt.timedelta(days=1)
    item = _item(visits, enterprise_of(visits, "cell"))
    item["started_at"] = local_time(before, dt.time(9, 0))
    item["ended_at"] = None
    resp = client.post(UPLOAD, json={"items": [item]}, headers=sme_terminal)
    assert [(r["status"], r.get("code")) for r in resp.get_json()["results"]] == [
        ("rejected", "unknown_enterprise")
    ]
    assert _counts(clean_app) == (0, 0)


def _cursor_kinds(cursor: str, kinds: int) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded))
    data["k"] = kinds
    if data["p"][1] >= kinds:  # the last row it got was of a kind it knew
        data["p"] = [data["p"][0], kinds - 1, 0]
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_the_bundle_carries_the_workers_listed_enterprises(client, visits, sme_terminal):
    full = _bundle(client, sme_terminal)
    assert full["reset"] is True
    got = {e["credit_code"]: e for e in full["sme_enterprises"]}
    assert sorted(got) == sorted(visits.codes["cell"])  # not the banks' enterprises
    first = got[visits.codes["cell"][0]]
    assert first["id"] == enterprise_of(visits, "cell")
    assert first["programme_id"] == visits.programme
    assert first["programme_code"] == "SME-V"
    assert first["institution"] == "DZCB"
    assert first["status"] == "listed"
    assert set(first) == {
        "id",
        "programme_id",
        "programme_code",
        "credit_code",
        "name",
        "address",
        "industry",
        "institution",
        "place_id",
        "lon",
        "lat",
        "status",
        "version",
    }
    assert first["place_id"] in {p["id"] for p in full["places"]}

    cursor = full["next_cursor"]
    assert _bundle(client, sme_terminal, cursor)["sme_enterprises"] == []
    stored = client.post(UPLOAD, json={"items": [_item(visits, first["id"])]}, headers=sme_terminal)
    assert stored.get_json()["results"][0]["status"] == "created"
    delta = _bundle(client, sme_terminal, cursor)
    assert [(e["id"], e["status"], e["version"]) for e in delta["sme_enterprises"]] == [
        (first["id"], "visited", 2)
    ]


def test_sme_enterprises_page_after_every_other_kind(client, visits, sme_terminal):
    """Paged one row at a time, each enterprise comes after its place (the same change
    number: the kind appended last comes last)."""
    seen, cursor, pages = [], None, 0
    while True:
        page = _bundle(client, sme_terminal, cursor, page_size=1)
        pages += 1
        seen += [("sme", e["place_id"]) for e in page["sme_enterprises"]]
        seen += [("place", p["id"]) for p in page["places"]]
        cursor = page["next_cursor"]
        if not page["more"] or pages > 400:
            break
    assert not page["more"]
    smes = [(i, place) for i, (kind, place) in enumerate(seen) if kind == "sme"]
    places = {place: i for i, (kind, place) in enumerate(seen) if kind == "place"}
    assert len(smes) == 2
    assert all(places[place] < i for i, place in smes)


def test_a_cursor_from_before_sme_enterprises_gets_them_once(client, visits, sme_terminal):
    full = _bundle(client, sme_terminal)
    old = _cursor_kinds(full["next_cursor"], 6)  # a terminal of the six kinds before
    once = _bundle(client, sme_terminal, old)
    assert once["reset"] is False
    assert sorted(e["credit_code"] for e in once["sme_enterprises"]) == sorted(visits.codes["cell"])
    assert _bundle(client, sme_terminal, once["next_cursor"])["sme_enterprises"] == []


def test_an_sme_visit_record_is_not_rewritten_by_an_edit(client, visits, sme_terminal, clean_app):
    item = _item(visits, enterprise_of(visits, "cell"))
    assert client.post(UPLOAD, json={"items": [item]}, headers=sme_terminal).status_code == 200
    edit = {**item, "base_version": 1, "notes": "改了"}
    resp = client.post(UPLOAD, json={"items": [edit]}, headers=sme_terminal)
    [result] = resp.get_json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "invalid_sme_visit")
    assert "base_version" in result["errors"]
    assert _counts(clean_app) == (1, 1)
