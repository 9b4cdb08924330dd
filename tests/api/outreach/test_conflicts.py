"""Conflicts: warnings while drafting, refused at approval (409 event_conflict)."""

from __future__ import annotations

from tests.api.outreach.event_helpers import (
    API,
    at,
    create_event,
    get_event,
    plan,
    roster,
    step,
)


def _codes(event: dict) -> list[tuple[str, int | None]]:
    return [(w["code"], w["other_event_id"]) for w in event["warnings"]]


def test_a_lead_leading_two_overlapping_events_conflicts(client, auth_as, outreach):
    headers = auth_as("coordinator")
    # ICBC leads the site on 15 April 09:00-12:00; another of its sites at 11:00 overlaps.
    clash = create_event(
        client, headers, outreach, lead="ICBC", starts_at=at(15, 11), ends_at=at(15, 13)
    )
    assert _codes(clash) == [("lead_overlap", outreach.site)]
    warning = clash["warnings"][0]
    assert warning["institution"] == "ICBC" and "ICBC" in warning["message"]
    assert warning["other_title"] == "乙社区宣传点"
    # It shows on the other event too.
    assert _codes(get_event(client, headers, outreach.site)) == [("lead_overlap", clash["id"])]
    # Back to back is no overlap; another lead is no conflict.
    after = create_event(
        client, headers, outreach, lead="ICBC", starts_at=at(15, 13), ends_at=at(15, 14)
    )
    assert _codes(after) == []
    other = create_event(
        client, headers, outreach, place_id=outreach.square, starts_at=at(15, 9),
        ends_at=at(15, 12),
    )  # fmt: skip
    assert _codes(other) == []


def test_one_person_on_two_overlapping_rosters_conflicts(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    mine = create_event(client, headers, outreach, starts_at=at(15, 10), ends_at=at(15, 11))
    roster(clean_app, outreach.site, outreach.inst["ICBC"], ["+8613900000001", "+8613900000002"])
    roster(clean_app, mine["id"], outreach.inst["DZCB"], ["+8613900000009"])
    assert _codes(get_event(client, headers, mine["id"])) == []
    roster(clean_app, mine["id"], outreach.inst["ABC"], ["+8613900000002"])
    got = get_event(client, headers, mine["id"])
    assert _codes(got) == [("person_overlap", outreach.site)]
    warning = got["warnings"][0]
    assert warning["people"] == 1 and warning["institutions"] == ["ABC", "ICBC"]
    assert "+86139" not in str(got)  # no phone number in the warning
    # The launch (14 April) does not overlap: the same person there is no conflict.
    roster(clean_app, outreach.launch, outreach.inst["PSBC"], ["+8613900000002"])
    assert _codes(get_event(client, headers, outreach.launch)) == []


def test_one_person_on_two_rosters_of_the_same_event_conflicts(
    client, auth_as, outreach, clean_app
):
    headers = auth_as("coordinator")
    roster(clean_app, outreach.site, outreach.inst["ICBC"], ["+8613900000001", "+8613900000002"])
    roster(clean_app, outreach.site, outreach.inst["DZCB"], ["+8613900000003"])
    assert _codes(get_event(client, headers, outreach.site)) == []
    # ABC names ICBC's second member: one person cannot field two teams at once.
    roster(clean_app, outreach.site, outreach.inst["ABC"], ["+8613900000002"])
    got = get_event(client, headers, outreach.site)
    assert _codes(got) == [("person_overlap", None)]
    warning = got["warnings"][0]
    assert warning["people"] == 1 and warning["institutions"] == ["ABC", "ICBC"]
    assert "+86139" not in str(got)
    # The coordinator sees it in readiness, and approval refuses it.
    ready = client.get(f"{API}/events/{outreach.site}/readiness", headers=headers).get_json()
    assert "person_overlap" in {item["rule"] for item in ready["items"]}
    plan(clean_app, outreach.site, outreach.inst["ICBC"])
    planned = step(client, headers, outreach.site, "publish", got["version"]).get_json()
    refused = step(client, headers, outreach.site, "approve", planned["version"])
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "event_conflict"
    assert refused.get_json()["error"]["details"]["other_event_ids"] == []


def test_two_events_at_one_venue_at_once_conflict(client, auth_as, outreach, override_settings):
    headers = auth_as("coordinator")
    # The same market, at the same time (another lead).
    same = create_event(
        client, headers, outreach, place_id=outreach.market, starts_at=at(15, 11),
        ends_at=at(15, 12, 30),
    )  # fmt: skip
    assert _codes(same) == [("venue_overlap", outreach.site)]
    # A point 20 m from the market is the same venue.
    near = create_event(
        client, headers, outreach, place_id=None, location={"lon": 104.0702, "lat": 30.45},
        address="市场门口", lead="ABC", starts_at=at(15, 8), ends_at=at(15, 9, 30),
    )  # fmt: skip
    assert _codes(near) == [("venue_overlap", outreach.site)]
    assert near["warnings"][0]["distance_m"] < 50
    # 300 m away is not, unless the setting says so.
    far = create_event(
        client, headers, outreach, place_id=None, location={"lon": 104.0731, "lat": 30.45},
        address="市场东", lead="PSBC", starts_at=at(15, 7), ends_at=at(15, 9, 15),
    )  # fmt: skip
    assert _codes(far) == []
    override_settings(outreach_same_venue_m=400.0)
    assert _codes(get_event(client, headers, far["id"])) == [
        ("venue_overlap", near["id"]), ("venue_overlap", outreach.site),
    ]  # fmt: skip


def test_an_event_outside_its_programme_dates_conflicts_in_local_dates(client, auth_as, outreach):
    headers = auth_as("coordinator")
    # The programme runs 9..30 April (local dates).
    late = create_event(
        client, headers, outreach, starts_at=at(1, 9, month=5), ends_at=at(1, 12, month=5)
    )
    assert _codes(late) == [("outside_programme", None)]
    assert late["warnings"][0]["programme_end_date"] == "2027-04-30"
    # 8 April 23:30 local is 15:30 UTC on the 8th: outside either way; 9 April 00:30 local
    # is still 8 April in UTC, but inside in local dates.
    early = create_event(client, headers, outreach, starts_at=at(8, 23, 30), ends_at=at(9, 1))
    assert _codes(early) == [("outside_programme", None)]
    first = create_event(
        client, headers, outreach, place_id=outreach.square, lead="ABC", starts_at=at(9, 0, 30),
        ends_at=at(9, 2),
    )  # fmt: skip
    assert _codes(first) == []
    # Ending at midnight at the end of the last day is inside.
    last = create_event(client, headers, outreach, starts_at=at(30, 20), ends_at=at(1, 0, month=5))
    assert _codes(last) == []


def test_cancelled_events_never_conflict(client, auth_as, outreach):
    headers = auth_as("coordinator")
    clash = create_event(
        client, headers, outreach, lead="ICBC", place_id=outreach.market,
        starts_at=at(15, 10), ends_at=at(15, 11),
    )  # fmt: skip
    assert {c for c, _ in _codes(clash)} == {"lead_overlap", "venue_overlap"}
    cancelled = step(client, headers, outreach.site, "cancel", 1, reason="改期")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["warnings"] == []
    assert _codes(get_event(client, headers, clash["id"])) == []


def test_approval_refuses_a_conflict_naming_the_other_event(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    clash = create_event(
        client, headers, outreach, lead="ICBC", starts_at=at(15, 11), ends_at=at(15, 13)
    )
    plan(clean_app, clash["id"], outreach.inst["ICBC"])
    planned = step(client, headers, clash["id"], "publish", clash["version"]).get_json()
    refused = step(client, headers, clash["id"], "approve", planned["version"])
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "event_conflict"
    assert error["details"]["other_event_ids"] == [outreach.site]
    assert error["details"]["conflicts"][0]["code"] == "lead_overlap"
    assert "乙社区宣传点" in error["message"]
    assert get_event(client, headers, clash["id"])["status"] == "planned"
    # Moved out of the way, it is approved.
    moved = client.patch(
        f"{API}/events/{clash['id']}",
        json={"version": planned["version"], "starts_at": at(16, 9), "ends_at": at(16, 12)},
        headers=headers,
    ).get_json()
    assert moved["warnings"] == []
    approved = step(client, headers, clash["id"], "approve", moved["version"])
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
