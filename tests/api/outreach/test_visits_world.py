"""The visits test world: its programme and list, and what each role sees of them."""

from __future__ import annotations

from tests.api.outreach.event_helpers import API


def test_the_visits_world_lists_twelve_enterprises_by_group(client, auth_as, visits) -> None:
    got = client.get(
        f"{API}/programmes/{visits.programme}/enterprises?per_page=100",
        headers=auth_as("coordinator"),
    )
    assert got.status_code == 200, got.get_json()
    rows = got.get_json()
    assert len(rows) == 12
    by_code = {r["credit_code"]: r for r in rows}
    assert {by_code[c]["visitor"] for c in visits.codes["cell"]} == {"cell"}
    assert {by_code[c]["institution"] for c in visits.codes["icbc"]} == {"ICBC"}
    # A bank sees its own institution's rows only: DZCB has the bank's and the cell's rows.
    mine = client.get(
        f"{API}/programmes/{visits.programme}/enterprises?per_page=100", headers=auth_as("bank")
    ).get_json()
    assert {r["credit_code"] for r in mine} == set(visits.codes["bank"] + visits.codes["cell"])
