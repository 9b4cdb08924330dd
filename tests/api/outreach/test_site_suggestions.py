"""Site suggestions: where the coordinator puts publicity sites so most households are near one.

The outreach world has three venues on the street (a square and a school in S1C1, a market in
S1C2) and 300 households spread over both communities.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import Place

URL = "/api/v1/outreach/site-suggestions"
GEOD = Geod(ellps="WGS84")


def ask(client, headers, **body):
    return client.post(URL, json=body, headers=headers)


def _code(resp) -> str:
    return resp.get_json()["error"]["code"]


def _households(area_ids=None) -> np.ndarray:
    query = select(func.ST_X(Place.geom), func.ST_Y(Place.geom)).where(Place.type == "household")
    if area_ids is not None:
        query = query.where(Place.area_id.in_(area_ids))
    return np.array(db.session.execute(query).all(), dtype=float)


def _within(homes: np.ndarray, sites: list[dict], radius: float) -> np.ndarray:
    """Which households lie within ``radius`` metres (on the ellipsoid) of any site."""
    near = np.zeros(len(homes), dtype=bool)
    for s in sites:
        _, _, d = GEOD.inv(np.full(len(homes), s["lon"]), np.full(len(homes), s["lat"]),
                           homes[:, 0], homes[:, 1])  # fmt: skip
        near |= d <= radius
    return near


def test_the_coordinator_gets_sites_with_what_each_adds_and_the_baseline_beside(
    client, auth_as, outreach, ctx
):
    street = outreach.field.world.street
    resp = ask(client, auth_as("coordinator"), area_id=street, count=2, radius_m=2500)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["candidate_types"] == ["market", "square", "school", "compound", "courtyard"]
    assert (body["candidates"], body["households"], body["count"]) == (3, 300, 2)
    sites = body["sites"]
    assert len(sites) == 2 and body["short_by"] == 0
    assert {s["place_id"] for s in sites} <= {outreach.square, outreach.market, outreach.school}
    assert {s["type"] for s in sites} <= {"square", "market", "school"}
    # Each site adds to those before it; the cumulative count ends at the total.
    assert sites[0]["adds"] == sites[0]["catchment"] == sites[0]["covered"]
    assert sites[1]["covered"] == sites[0]["covered"] + sites[1]["adds"] == body["covered"]
    assert sites[0]["adds"] >= sites[1]["adds"]
    assert body["share"] == round(body["covered"] / 300, 4)
    # The counts are what a tape measure on the ellipsoid says (the projection is local).
    homes = _households()
    assert _within(homes, sites, 2500 - 2).sum() <= body["covered"]
    assert body["covered"] <= _within(homes, sites, 2500 + 2).sum()
    base = body["baseline"]
    assert len(base["sites"]) == 2
    assert base["sites"][0]["catchment"] >= base["sites"][1]["catchment"]
    assert body["covered"] >= base["covered"]
    assert body["gain_over_baseline"] == body["covered"] - base["covered"]
    assert base["share"] == round(base["covered"] / 300, 4)


def test_no_household_id_leaves_the_server(client, auth_as, outreach, ctx):
    street = outreach.field.world.street
    body = ask(client, auth_as("coordinator"), area_id=street, count=3, radius_m=5000).get_json()
    households = set(db.session.scalars(select(Place.id).where(Place.type == "household")))
    listed = {s["place_id"] for s in body["sites"] + body["baseline"]["sites"]}
    assert listed and not listed & households
    site_keys = {"place_id", "name", "type", "lon", "lat", "catchment", "adds", "covered"}
    assert all(set(s) == site_keys for s in body["sites"] + body["baseline"]["sites"])
    assert set(body) == {
        "area_id", "count", "radius_m", "min_separation_m", "candidate_types", "candidates",
        "households", "reachable", "sites", "covered", "share", "short_by", "baseline",
        "gain_over_baseline",
    }  # fmt: skip


def test_the_same_question_gets_the_same_answer(client, auth_as, outreach):
    street = outreach.field.world.street
    first = ask(client, auth_as("centre"), area_id=street, count=2, radius_m=1800)
    again = ask(client, auth_as("centre"), area_id=street, count=2, radius_m=1800)
    assert first.status_code == 200 and first.get_json() == again.get_json()


def test_excluded_places_are_never_suggested(client, auth_as, outreach):
    street = outreach.field.world.street
    body = ask(client, auth_as("coordinator"), area_id=street, count=2, radius_m=3000,
               exclude=[outreach.square, 999_999]).get_json()  # fmt: skip
    assert body["candidates"] == 2
    chosen = {s["place_id"] for s in body["sites"] + body["baseline"]["sites"]}
    assert chosen == {outreach.market, outreach.school}


def test_the_separation_rule_can_leave_fewer_sites_than_asked(client, auth_as, outreach):
    # The square and the school are about 3.5 km apart, the market 4.8 km from the square.
    street = outreach.field.world.street
    resp = ask(client, auth_as("coordinator"), area_id=street, count=3, radius_m=1000,
               min_separation_m=4000)  # fmt: skip
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert len(body["sites"]) == 2 and body["short_by"] == 1
    ids = {s["place_id"] for s in body["sites"]}
    assert outreach.market in ids and not {outreach.square, outreach.school} <= ids
    assert len(body["baseline"]["sites"]) == 2
    assert body["min_separation_m"] == 4000


def test_candidate_types_choose_the_candidates(client, auth_as, outreach):
    street = outreach.field.world.street
    body = ask(client, auth_as("coordinator"), area_id=street, count=1, radius_m=4000,
               candidate_types=["school", "school"]).get_json()  # fmt: skip
    assert body["candidate_types"] == ["school"] and body["candidates"] == 1
    assert [s["place_id"] for s in body["sites"]] == [outreach.school]


def test_a_station_asks_about_its_own_community_only(client, auth_as, outreach, ctx):
    world = outreach.field.world
    resp = ask(client, auth_as("station_a"), area_id=world.community_a, count=2, radius_m=1500)
    body = resp.get_json()
    assert resp.status_code == 200, body
    # Only S1C1's venues and households: the market of S1C2 is not a candidate.
    assert body["candidates"] == 2
    assert body["households"] == len(_households([world.community_a]))
    assert {s["place_id"] for s in body["sites"]} == {outreach.square, outreach.school}
    other = ask(client, auth_as("station_a"), area_id=world.community_b, count=1, radius_m=500)
    assert other.status_code == 404 and _code(other) == "not_found"
    street = ask(client, auth_as("station_a"), area_id=world.street, count=1, radius_m=500)
    assert street.status_code == 404


@pytest.mark.parametrize(
    ("user", "status"),
    [("coordinator", 200), ("centre", 200), ("admin", 200), ("worker_a", 403), ("bank", 403),
     ("reg", 403), ("district", 200)],
)  # fmt: skip
def test_who_may_ask(client, auth_as, outreach, user, status):
    resp = ask(client, auth_as(user), area_id=outreach.field.world.street, count=1, radius_m=900)
    assert resp.status_code == status, resp.get_json()
    if status == 403:
        assert _code(resp) == "forbidden_role"


def test_a_refused_role_is_refused_before_its_body_is_read(client, auth_as, outreach):
    resp = client.post(URL, json={"count": "many"}, headers=auth_as("worker_a"))
    assert resp.status_code == 403 and _code(resp) == "forbidden_role"


def test_without_a_token(client, outreach):
    resp = ask(client, {}, area_id=outreach.field.world.street, count=1, radius_m=900)
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"count": 0}, "validation_error", "count"),
        ({"count": -3}, "validation_error", "count"),
        ({"count": 1.5}, "validation_error", "count"),
        ({"count": "two"}, "validation_error", "count"),
        ({"radius_m": 0}, "validation_error", "radius_m"),
        ({"radius_m": -100}, "validation_error", "radius_m"),
        ({"radius_m": 5000.5}, "validation_error", "radius_m"),
        ({"radius_m": 1e308}, "validation_error", "radius_m"),
        ({"radius_m": None}, "validation_error", "radius_m"),
        ({"candidate_types": []}, "validation_error", "candidate_types"),
        ({"candidate_types": "market"}, "validation_error", "candidate_types"),
        ({"min_separation_m": -1}, "validation_error", "min_separation_m"),
        ({"min_separation_m": 1e9}, "validation_error", "min_separation_m"),
        ({"exclude": [0]}, "validation_error", "exclude"),
        ({"exclude": ["x"]}, "validation_error", "exclude"),
        ({"area_id": 0}, "validation_error", "area_id"),
        ({"area_id": None}, "validation_error", "area_id"),
        ({"surprise": 1}, "validation_error", "surprise"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(client, auth_as, outreach, change, code, field):
    body = {"area_id": outreach.field.world.street, "count": 1, "radius_m": 500} | change
    resp = client.post(URL, json=body, headers=auth_as("coordinator"))
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code
    assert field in str(error["details"])


def test_missing_fields_are_named(client, auth_as, outreach):
    resp = client.post(URL, json={}, headers=auth_as("coordinator"))
    assert resp.status_code == 422 and _code(resp) == "validation_error"
    assert {"area_id", "count", "radius_m"} <= set(resp.get_json()["error"]["details"]["fields"])


def test_the_radius_may_be_exactly_five_kilometres(client, auth_as, outreach):
    resp = ask(client, auth_as("coordinator"), area_id=outreach.field.world.street, count=1,
               radius_m=5000)  # fmt: skip
    assert resp.status_code == 200


@pytest.mark.parametrize("kind", ["castle", "household", ""])
def test_a_type_no_site_can_be_is_refused(client, auth_as, outreach, kind):
    resp = ask(client, auth_as("coordinator"), area_id=outreach.field.world.street, count=1,
               radius_m=500, candidate_types=["market", kind])  # fmt: skip
    assert resp.status_code == 422
    if kind:
        assert _code(resp) == "unknown_candidate_type"
        assert resp.get_json()["error"]["details"]["unknown"] == [kind]
    else:
        assert _code(resp) == "validation_error"


def test_more_sites_than_candidates_is_refused(client, auth_as, outreach):
    street = outreach.field.world.street
    resp = ask(client, auth_as("coordinator"), area_id=street, count=4, radius_m=500)
    assert resp.status_code == 422 and _code(resp) == "not_enough_candidates"
    assert resp.get_json()["error"]["details"] == {
        "count": 4, "candidates": 3,
        "candidate_types": ["market", "square", "school", "compound", "courtyard"],
    }  # fmt: skip
    # Exclusions count: two left, three asked.
    resp = ask(client, auth_as("coordinator"), area_id=street, count=3, radius_m=500,
               exclude=[outreach.market])  # fmt: skip
    assert resp.status_code == 422 and _code(resp) == "not_enough_candidates"
    assert resp.get_json()["error"]["details"]["candidates"] == 2
    # A type the area has none of.
    resp = ask(client, auth_as("coordinator"), area_id=street, count=1, radius_m=500,
               candidate_types=["hospital"])  # fmt: skip
    assert resp.status_code == 422 and _code(resp) == "not_enough_candidates"
    huge = ask(client, auth_as("coordinator"), area_id=street, count=2**31 - 1, radius_m=500)
    assert huge.status_code == 422 and _code(huge) == "not_enough_candidates"


def test_an_area_that_does_not_exist_is_404(client, auth_as, outreach):
    resp = ask(client, auth_as("coordinator"), area_id=987_654, count=1, radius_m=500)
    assert resp.status_code == 404 and _code(resp) == "not_found"


def test_a_question_too_large_to_answer_at_once_is_refused(client, auth_as, outreach, monkeypatch):
    from gridserve.services.outreach import sites

    monkeypatch.setattr(sites, "MAX_PAIRS", 100)
    resp = ask(client, auth_as("coordinator"), area_id=outreach.field.world.street, count=1,
               radius_m=5000)  # fmt: skip
    assert resp.status_code == 422 and _code(resp) == "suggestion_too_large"
    assert resp.get_json()["error"]["details"]["limit"] == 100
