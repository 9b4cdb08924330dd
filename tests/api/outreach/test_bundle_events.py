"""Outreach events in the terminals' sync bundle: the events at a venue in the worker's cells,
read-only, as a kind appended after the others so cursors given out before still work."""

from __future__ import annotations

import base64
import json

from geoalchemy2.shape import from_shape
from sqlalchemy import select

from gridserve import audit
from gridserve.extensions import db
from gridserve.models import GridCell, OutreachEvent, Place
from gridserve.scope import OPERATOR
from gridserve.services.accounts import users
from gridserve.services.field import workers
from gridserve.spatial import to_shapely
from gridserve.sync import current_seq, next_seq
from gridserve.timeutil import local_today
from tests.conftest import PASSWORD, TEST_ACTOR, login

BUNDLE = "/api/v1/sync/bundle"


def _bundle(client, headers, since=None):
    resp = client.get(BUNDLE + (f"?since={since}" if since else ""), headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _set(app, event_id: int, **values) -> None:
    """Change an event as the events service does: new version and change number."""
    with app.app_context():
        event = db.session.get(OutreachEvent, event_id)
        for key, value in values.items():
            setattr(event, key, value)
        event.version += 1
        event.change_seq = next_seq()
        db.session.commit()


def _market_worker(app, client, outreach) -> tuple[dict[str, str], str]:
    """worker_b of S1C2, holding the cell of the market (the site's venue) from today."""
    world = outreach.field.world
    with app.app_context(), audit.acting_as(TEST_ACTOR):
        market = db.session.get(Place, outreach.market)
        assert market.cell_id is not None
        code = db.session.get(GridCell, market.cell_id).code
        user = users.create_user(
            None,
            {"username": "worker_b", "password": PASSWORD, "role": "worker",
             "area_id": world.community_b},
        )  # fmt: skip
        worker = workers.create_worker(
            OPERATOR,
            {"area_id": world.community_b, "full_name": "网格员乙", "user_id": user.id,
             "phone": "13912340000"},
        )  # fmt: skip
        today = local_today()
        workers.assign(OPERATOR, worker.id, code, today, today)
        db.session.commit()
    return login(client, "worker_b"), code


def _legacy(app, cursor: str) -> str:
    """The cursor the server gave out before events were in the bundle, with nothing new to
    send: the last change number, the last of its five kinds, no "k"."""
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    with app.app_context():
        seq = current_seq()
    return _cursor({"p": [seq, 4, 0], "s": data["s"]})


def _cursor(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_worker_holding_the_markets_cell_gets_the_site_event(
    client, outreach, clean_app, terminal
):
    headers, _code = _market_worker(clean_app, client, outreach)
    # A draft is not published yet: no event.
    assert _bundle(client, headers)["events"] == []
    _set(clean_app, outreach.site, status="planned")
    body = _bundle(client, headers)
    assert body["reset"] is True
    [event] = body["events"]
    assert event["id"] == outreach.site and event["kind"] == "site"
    assert event["title"] == "乙社区宣传点" and event["status"] == "planned"
    assert event["starts_at"] == "2027-04-15T09:00:00+08:00"
    assert event["ends_at"] == "2027-04-15T12:00:00+08:00"
    assert event["host"] == "DZ-REG" and event["lead"] == "ICBC"
    assert event["co_organisers"] == ["DZCB", "PSBC", "ABC"]
    assert event["version"] == 2 and event["programme_id"] == outreach.programme
    venue = event["venue"]
    assert venue["place_id"] == outreach.market and venue["address"] == "乙社区农贸市场"
    assert (round(venue["lon"], 6), round(venue["lat"], 6)) == (104.07, 30.45)
    # worker_a holds a cell of the other community: never the site.
    assert outreach.site not in {e["id"] for e in _bundle(client, terminal)["events"]}


def test_changes_come_incrementally_and_cancelled_events_come_through(
    client, outreach, clean_app, terminal
):
    headers, _code = _market_worker(clean_app, client, outreach)
    _set(clean_app, outreach.site, status="approved")
    cursor = _bundle(client, headers)["next_cursor"]
    other = _bundle(client, terminal)["next_cursor"]
    quiet = _bundle(client, headers, cursor)
    assert quiet["reset"] is False and quiet["events"] == []

    _set(clean_app, outreach.site, title="乙社区宣传点（改时间）")
    delta = _bundle(client, headers, cursor)
    assert delta["places"] == [] and delta["households"] == [] and delta["tombstones"] == []
    assert [(e["id"], e["title"], e["version"]) for e in delta["events"]] == [
        (outreach.site, "乙社区宣传点（改时间）", 3)
    ]
    _set(clean_app, outreach.site, status="cancelled", cancel_reason="暴雨")
    cancelled = _bundle(client, headers, delta["next_cursor"])
    assert [(e["id"], e["status"]) for e in cancelled["events"]] == [(outreach.site, "cancelled")]
    assert _bundle(client, headers, cancelled["next_cursor"])["events"] == []
    # The worker of another cell hears nothing of it.
    assert _bundle(client, terminal, other)["events"] == []
    assert _bundle(client, terminal, other)["tombstones"] == []


def test_an_event_moved_out_of_the_cells_arrives_as_a_tombstone(client, outreach, clean_app):
    headers, code = _market_worker(clean_app, client, outreach)
    _set(clean_app, outreach.site, status="approved")
    cursor = _bundle(client, headers)["next_cursor"]
    with clean_app.app_context():
        elsewhere = (
            db.session.execute(
                select(GridCell).where(
                    GridCell.community_id == outreach.field.world.community_b,
                    GridCell.valid_from.is_not(None),
                    GridCell.valid_to.is_(None),
                    GridCell.code != code,
                )
            )
            .scalars()
            .first()
        )
        point = to_shapely(elsewhere.geom).representative_point()
    _set(clean_app, outreach.site, place_id=None, geom=from_shape(point, srid=4326),
         address="乙社区另一处")  # fmt: skip
    delta = _bundle(client, headers, cursor)
    assert delta["events"] == []
    assert delta["tombstones"] == [{"entity": "event", "id": outreach.site}]


def test_an_old_cursor_still_works_and_gets_the_events_once(client, outreach, clean_app, terminal):
    headers, _code = _market_worker(clean_app, client, outreach)
    _set(clean_app, outreach.site, status="approved")
    # A terminal that synced before events were in the bundle: its cursor has no "k".
    cursor = _legacy(clean_app, _bundle(client, headers)["next_cursor"])
    body = _bundle(client, headers, cursor)
    assert body["reset"] is False  # the cursor is still valid: no full bundle
    assert body["places"] == [] and body["households"] == []
    assert [e["id"] for e in body["events"]] == [outreach.site]
    # Once: the next cursor knows the events kind.
    again = _bundle(client, headers, body["next_cursor"])
    assert again["events"] == [] and again["reset"] is False
    # Only what is newer than the old cursor comes after it: the next change, once.
    _set(clean_app, outreach.site, title="新标题")
    newer = _bundle(client, headers, again["next_cursor"])
    assert [e["title"] for e in newer["events"]] == ["新标题"]
    # worker_a's old cursor: valid, nothing new for its cells.
    old_a = _legacy(clean_app, _bundle(client, terminal)["next_cursor"])
    body_a = _bundle(client, terminal, old_a)
    assert body_a["reset"] is False and body_a["events"] == [] and body_a["places"] == []


def test_an_old_cursor_taken_before_a_change_gets_the_newer_items_only(client, outreach, clean_app):
    headers, _code = _market_worker(clean_app, client, outreach)
    before = _legacy(clean_app, _bundle(client, headers)["next_cursor"])  # no events then (a draft)
    _set(clean_app, outreach.site, status="planned")
    body = _bundle(client, headers, before)
    assert body["reset"] is False and body["places"] == [] and body["households"] == []
    assert [(e["id"], e["status"]) for e in body["events"]] == [(outreach.site, "planned")]


def test_the_etag_changes_with_an_event(client, outreach, clean_app):
    headers, _code = _market_worker(clean_app, client, outreach)
    first = client.get(BUNDLE, headers=headers)
    tag = first.headers["ETag"]
    assert client.get(BUNDLE, headers={**headers, "If-None-Match": tag}).status_code == 304
    _set(clean_app, outreach.site, status="planned")
    assert client.get(BUNDLE, headers={**headers, "If-None-Match": tag}).status_code == 200


def test_hostile_cursors_and_roles(client, auth_as, outreach, clean_app, terminal):
    cursor = _bundle(client, terminal)["next_cursor"]
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for k in (0, -1, 8, "x", None, [6]):  # 8: one more kind than the bundle knows
        resp = client.get(f"{BUNDLE}?since={_cursor(data | {'k': k})}", headers=terminal)
        assert resp.status_code == 422, k
        assert resp.get_json()["error"]["code"] == "invalid_cursor"
    for user in ("coordinator", "bank", "station_b"):
        resp = client.get(BUNDLE, headers=auth_as(user))
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
