"""The outreach calendar (iCalendar) and the calendar-feed URLs calendar apps subscribe to."""

from __future__ import annotations

import datetime as dt
import hashlib

import icalendar
import pytest
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import OutreachCalendarFeed, OutreachEvent, OutreachProgramme, User
from gridserve.sync import next_seq

ICS = "/api/v1/outreach/calendar.ics"
FEEDS = "/api/v1/outreach/calendar-feeds"


def _set(app, event_id: int, **values) -> None:
    """Change an event as the events service would: new version and change number."""
    with app.app_context():
        event = db.session.get(OutreachEvent, event_id)
        for key, value in values.items():
            setattr(event, key, value)
        event.version += 1
        event.change_seq = next_seq()
        db.session.commit()


def _vevents(resp) -> dict[str, icalendar.Event]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(resp.get_data())
    assert str(cal["VERSION"]) == "2.0" and "PRODID" in cal
    return {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}


def _err(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"]["code"] == code, body
    return body["error"]


def _publish_both(app, outreach) -> None:
    _set(app, outreach.launch, status="approved")
    _set(app, outreach.site, status="planned")


# --- the calendar ---------------------------------------------------------------------------


def test_programme_calendar_is_rfc5545_with_stable_uids(client, auth_as, outreach, clean_app):
    resp = client.get(f"{ICS}?programme={outreach.programme}", headers=auth_as("coordinator"))
    events = _vevents(resp)
    cal = icalendar.Calendar.from_ical(resp.get_data())
    assert "PUB-T" in str(cal["X-WR-CALNAME"])
    assert set(events) == {"启动仪式", "乙社区宣传点"}
    launch, site = events["启动仪式"], events["乙社区宣传点"]
    assert str(launch["UID"]).startswith(f"outreach-event-{outreach.launch}@")
    assert str(site["UID"]).startswith(f"outreach-event-{outreach.site}@")
    # 09:00-12:00 at +08:00 is 01:00-04:00 UTC.
    assert launch.decoded("DTSTART") == dt.datetime(2027, 4, 14, 1, tzinfo=dt.UTC)
    assert launch.decoded("DTEND") == dt.datetime(2027, 4, 14, 4, tzinfo=dt.UTC)
    assert str(launch["STATUS"]) == "TENTATIVE"  # drafts are tentative (coordinator only)
    assert int(launch["SEQUENCE"]) == 0
    assert "中心广场" in str(launch["LOCATION"])
    assert "乙社区农贸市场" in str(site["LOCATION"])
    description = str(site["DESCRIPTION"])
    assert "Kind: site" in description and "Lead (牵头行): ICBC" in description
    assert "DZ-REG" in description and "DZCB" in description and "ABC" in description
    assert "2 boards (1792 x 1172 mm)" in description and "team of at least 4" in description
    assert "group of at least 20" in str(launch["DESCRIPTION"])

    # A change bumps SEQUENCE under the same UID; status follows the life cycle.
    _set(clean_app, outreach.site, title="乙社区宣传点（改）", status="approved")
    again = _vevents(client.get(f"{ICS}?programme={outreach.programme}",
                                headers=auth_as("coordinator")))  # fmt: skip
    moved = again["乙社区宣传点（改）"]
    assert str(moved["UID"]) == str(site["UID"])
    assert int(moved["SEQUENCE"]) == 1
    assert str(moved["STATUS"]) == "CONFIRMED"

    # A cancelled event stays in the feed, as cancelled, with a higher SEQUENCE.
    _set(clean_app, outreach.site, status="cancelled", cancel_reason="暴雨")
    listed = _vevents(client.get(f"{ICS}?programme={outreach.programme}",
                                 headers=auth_as("coordinator")))  # fmt: skip
    cancelled = listed["乙社区宣传点（改）"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) == 2
    assert "暴雨" in str(cancelled["DESCRIPTION"])


def test_uid_domain_comes_from_the_settings(client, auth_as, outreach, override_settings):
    override_settings(calendar_uid_domain="outreach.dz.example")
    events = _vevents(client.get(f"{ICS}?institution=ICBC", headers=auth_as("coordinator")))
    assert str(events["乙社区宣传点"]["UID"]) == (
        f"outreach-event-{outreach.site}@outreach.dz.example"
    )


@pytest.mark.parametrize(
    ("status", "ical"),
    [("planned", "TENTATIVE"), ("approved", "CONFIRMED"), ("held", "CONFIRMED"),
     ("reported", "CONFIRMED"), ("cancelled", "CANCELLED")],
)  # fmt: skip
def test_status_maps_to_ical_status(client, auth_as, outreach, clean_app, status, ical):
    _set(clean_app, outreach.site, status=status)
    events = _vevents(client.get(f"{ICS}?institution=ICBC", headers=auth_as("icbc")))
    assert str(events["乙社区宣传点"]["STATUS"]) == ical


def test_drafts_only_for_the_coordinator(client, auth_as, outreach, clean_app):
    # Both events are drafts: a bank and a station see nothing yet, the coordinator both.
    assert _vevents(client.get(f"{ICS}?institution=DZCB", headers=auth_as("bank"))) == {}
    assert _vevents(client.get(f"{ICS}?programme={outreach.programme}",
                               headers=auth_as("centre"))) == {}  # fmt: skip
    assert len(_vevents(client.get(f"{ICS}?institution=DZCB",
                                   headers=auth_as("coordinator")))) == 2  # fmt: skip
    _set(clean_app, outreach.launch, status="planned")
    assert set(_vevents(client.get(f"{ICS}?institution=DZCB", headers=auth_as("bank")))) == {
        "启动仪式"
    }


def test_each_caller_sees_only_its_events(client, auth_as, outreach, clean_app):
    _publish_both(clean_app, outreach)
    programme = f"{ICS}?programme={outreach.programme}"
    # Stations: the events in their community; the street centre: both.
    assert set(_vevents(client.get(programme, headers=auth_as("station_a")))) == {"启动仪式"}
    assert set(_vevents(client.get(programme, headers=auth_as("station_b")))) == {"乙社区宣传点"}
    assert len(_vevents(client.get(programme, headers=auth_as("centre")))) == 2
    # An institution's calendar: the events it hosts, leads or co-organises.
    assert len(_vevents(client.get(f"{ICS}?institution=DZ-REG", headers=auth_as("reg")))) == 2
    assert len(_vevents(client.get(f"{ICS}?institution=ICBC", headers=auth_as("icbc")))) == 2
    # A contact asking for another institution's calendar sees only what it shares.
    with clean_app.app_context():
        site = db.session.get(OutreachEvent, outreach.site)
        site.co_organisers = [i for i in site.co_organisers if i.code != "DZCB"]
        db.session.commit()
    assert set(_vevents(client.get(f"{ICS}?institution=ICBC", headers=auth_as("bank")))) == {
        "启动仪式"
    }


def test_calendar_refuses_bad_requests(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    _err(client.get(ICS, headers=headers), 422, "validation_error")
    both = _err(client.get(f"{ICS}?institution=ICBC&programme={outreach.programme}",
                           headers=headers), 422, "validation_error")  # fmt: skip
    assert set(both["details"]["fields"]) == {"institution", "programme"}
    unknown = _err(client.get(f"{ICS}?institution=NOPE", headers=headers), 422,
                   "unknown_institution")  # fmt: skip
    assert unknown["details"]["codes"] == ["NOPE"]
    _err(client.get(f"{ICS}?programme=987654", headers=headers), 404, "not_found")
    for bad in ("abc", "0", "-1", str(2**40), "1.5"):
        _err(client.get(f"{ICS}?programme={bad}", headers=headers), 422, "validation_error")
    _err(client.get(f"{ICS}?institution={'X' * 33}", headers=headers), 422, "validation_error")
    _err(client.get(f"{ICS}?institution=", headers=headers), 422, "validation_error")
    _err(client.get(f"{ICS}?institution=%00", headers=headers), 422, "invalid_text")
    # A programme out of the caller's scope is absent: 404.
    with clean_app.app_context():
        abc = db.session.execute(
            select(OutreachProgramme).where(OutreachProgramme.id == outreach.programme)
        ).scalar_one()
        other = OutreachProgramme(
            code="PUB-X", name="另一宣传月", kind="publicity", area_id=abc.area_id,
            organiser_id=outreach.inst["ABC"], start_date=dt.date(2027, 5, 1),
            end_date=dt.date(2027, 5, 31), institutions=[],
        )  # fmt: skip
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    _err(client.get(f"{ICS}?programme={other_id}", headers=auth_as("bank")), 404, "not_found")
    assert client.get(f"{ICS}?programme={other_id}", headers=auth_as("abc")).status_code == 200


def test_calendar_role_boundaries(client, auth_as, outreach, terminal):
    query = f"{ICS}?programme={outreach.programme}"
    _err(client.get(query, headers=auth_as("worker_a")), 403, "forbidden_role")
    _err(client.get(query, headers=terminal), 403, "device_token_not_allowed")
    _err(client.get(query), 401, "token_missing")
    # Refused before the query is read.
    _err(client.get(f"{ICS}?programme=abc", headers=auth_as("worker_a")), 403, "forbidden_role")
    for user in ("admin", "coordinator", "centre", "station_a", "bank"):
        assert client.get(query, headers=auth_as(user)).status_code == 200, user


# --- feeds ----------------------------------------------------------------------------------


def _feed(client, headers, **body):
    resp = client.post(FEEDS, json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_a_feed_url_serves_the_calendar_without_a_bearer_token(
    client, auth_as, outreach, clean_app
):
    _publish_both(clean_app, outreach)
    made = _feed(client, auth_as("station_b"), programme=outreach.programme, name="乙社区日历")
    assert made["path"] == f"{FEEDS}/{made['token']}.ics"
    assert made["url"].startswith("http") and made["url"].endswith(made["path"])
    assert made["name"] == "乙社区日历" and made["programme_id"] == outreach.programme
    assert made["institution"] is None and made["last_used_at"] is None
    # Stored hashed: the token itself is nowhere in the database row.
    with clean_app.app_context():
        row = db.session.get(OutreachCalendarFeed, made["id"])
        assert row.token_hash == hashlib.sha256(made["token"].encode()).hexdigest()
        assert made["token"] not in (row.token_hash, row.name)
    resp = client.get(made["path"])  # no Authorization header
    cal = icalendar.Calendar.from_ical(resp.get_data())
    assert str(cal["X-WR-CALNAME"]) == "乙社区日历"
    # Served as station_b: the events in its community only.
    assert set(_vevents(resp)) == {"乙社区宣传点"}
    # Listed without the token, with its last use.
    listed = client.get(FEEDS, headers=auth_as("station_b")).get_json()
    assert [f["id"] for f in listed] == [made["id"]]
    assert "token" not in listed[0] and "url" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    # The feed follows the events: a cancellation shows at the next poll.
    _set(clean_app, outreach.site, status="cancelled")
    assert str(_vevents(client.get(made["path"]))["乙社区宣传点"]["STATUS"]) == "CANCELLED"


def test_a_revoked_feed_answers_410(client, auth_as, outreach):
    headers = auth_as("bank")
    made = _feed(client, headers, institution="DZCB")
    assert made["institution"] == "DZCB"
    assert client.get(made["path"]).status_code == 200
    other = _feed(client, auth_as("coordinator"), programme=outreach.programme)
    # Someone else's feed is not yours to revoke.
    _err(client.delete(f"{FEEDS}/{other['id']}", headers=headers), 404, "not_found")
    assert client.delete(f"{FEEDS}/{made['id']}", headers=headers).status_code == 204
    _err(client.get(made["path"]), 410, "feed_revoked")
    assert client.delete(f"{FEEDS}/{made['id']}", headers=headers).status_code == 204  # again
    listed = client.get(FEEDS, headers=headers).get_json()
    assert [f["id"] for f in listed] == [made["id"]] and listed[0]["revoked_at"] is not None
    assert client.get(other["path"]).status_code == 200
    _err(client.delete(f"{FEEDS}/987654", headers=headers), 404, "not_found")


def test_a_feed_of_a_deactivated_account_answers_410(client, auth_as, outreach, clean_app):
    made = _feed(client, auth_as("icbc"), institution="ICBC")
    assert client.get(made["path"]).status_code == 200
    with clean_app.app_context():
        user = db.session.execute(select(User).where(User.username == "icbc")).scalar_one()
        user.is_active = False
        db.session.commit()
    _err(client.get(made["path"]), 410, "feed_disabled")


def test_a_feed_reads_with_its_owners_scope_now(client, auth_as, outreach, clean_app):
    """A contact whose institution leaves the programme no longer reads its feed."""
    _publish_both(clean_app, outreach)
    made = _feed(client, auth_as("abc"), programme=outreach.programme)
    assert len(_vevents(client.get(made["path"]))) == 2
    with clean_app.app_context():
        programme = db.session.get(OutreachProgramme, outreach.programme)
        programme.institutions = [i for i in programme.institutions if i.code != "ABC"]
        db.session.commit()
    _err(client.get(made["path"]), 404, "not_found")


def test_unknown_and_hostile_feed_tokens(client, outreach):
    for token in ("nope", "x" * 43, "a" * 500, "..%2F..%2Fetc", "%20"):
        resp = client.get(f"{FEEDS}/{token}.ics")
        assert resp.status_code == 404, token
        assert resp.get_json()["error"]["code"] == "not_found"
    _err(client.get(f"{FEEDS}/%00.ics"), 422, "invalid_text")
    _err(client.get(f"{FEEDS}/{'é' * 10}.ics"), 404, "not_found")


def test_who_may_make_which_feed(client, auth_as, outreach, terminal):
    programme = {"programme": outreach.programme}
    for user in ("coordinator", "admin", "centre", "station_a", "bank"):
        assert client.post(FEEDS, json=programme, headers=auth_as(user)).status_code == 201, user
    assert client.post(FEEDS, json={"institution": "ABC"},
                       headers=auth_as("coordinator")).status_code == 201  # fmt: skip
    _err(client.post(FEEDS, json=programme, headers=auth_as("worker_a")), 403, "forbidden_role")
    _err(client.get(FEEDS, headers=auth_as("worker_a")), 403, "forbidden_role")
    _err(client.delete(f"{FEEDS}/1", headers=auth_as("worker_a")), 403, "forbidden_role")
    _err(client.post(FEEDS, json=programme, headers=terminal), 403, "device_token_not_allowed")
    _err(client.post(FEEDS, json=programme), 401, "token_missing")
    # A contact: its own institution only; stations and centres: programmes only.
    _err(client.post(FEEDS, json={"institution": "ICBC"}, headers=auth_as("bank")), 403,
         "not_your_institution")  # fmt: skip
    _err(client.post(FEEDS, json={"institution": "DZCB"}, headers=auth_as("station_a")), 403,
         "programme_feeds_only")  # fmt: skip
    _err(client.post(FEEDS, json={"institution": "DZCB"}, headers=auth_as("centre")), 403,
         "programme_feeds_only")  # fmt: skip
    # Each caller lists its own feeds only.
    mine = client.get(FEEDS, headers=auth_as("bank")).get_json()
    assert len(mine) == 1 and mine[0]["programme_id"] == outreach.programme


def test_feed_requests_are_checked(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    _err(client.post(FEEDS, json={}, headers=headers), 422, "validation_error")
    _err(client.post(FEEDS, json={"institution": "ICBC", "programme": outreach.programme},
                     headers=headers), 422, "validation_error")  # fmt: skip
    _err(client.post(FEEDS, json={"institution": "NOPE"}, headers=headers), 422,
         "unknown_institution")  # fmt: skip
    _err(client.post(FEEDS, json={"programme": 987654}, headers=headers), 404, "not_found")
    _err(client.post(FEEDS, json={"programme": "x"}, headers=headers), 422, "validation_error")
    _err(client.post(FEEDS, json={"programme": -3}, headers=headers), 422, "validation_error")
    _err(client.post(FEEDS, json={"programme": outreach.programme, "name": "x" * 101},
                     headers=headers), 422, "validation_error")  # fmt: skip
    _err(client.post(FEEDS, json={"programme": outreach.programme, "token": "mine"},
                     headers=headers), 422, "validation_error")  # fmt: skip
    _err(client.post(FEEDS, json={"programme": outreach.programme, "name": "a\x00b"},
                     headers=headers), 422, "invalid_text")  # fmt: skip
    _err(client.post(FEEDS, json=[1], headers=headers), 422, "validation_error")
    _err(client.post(FEEDS, data=b"{", headers=headers, content_type="application/json"), 400,
         "malformed_json")  # fmt: skip
    with clean_app.app_context():
        assert db.session.scalar(select(OutreachCalendarFeed.id)) is None
