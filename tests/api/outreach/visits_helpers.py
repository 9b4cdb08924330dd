"""Helpers for the SME visit tests: visit bodies per outcome, posting, reading."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.clock import at_local, move_to
from tests.conftest import login

API = "/api/v1/outreach"
# A Tuesday inside the visit window of SME-V (2027-05-15..11-30).
DAY = dt.date(2027, 6, 15)

BODIES: dict[str, dict[str, Any]] = {
    "follow_up": {"lenders": ["DZCB"], "need": None, "eligible": None},
    "renewal": {"lenders": ["DZCB", "ICBC"], "need": {"amount": 300000, "term_months": 12,
                                                    "purpose": "续贷"}, "eligible": True},
    "product_matched": {"need": {"amount": 500000, "term_months": 12, "purpose": "备货"},
                        "eligible": True, "products": ["税e贷"]},
    "not_eligible_explained": {"need": {"amount": 200000, "term_months": 6, "purpose": "周转"},
                               "eligible": False, "explanation": "征信有逾期，已说明培育方向"},
    "no_need": {"need": None, "eligible": None},
}  # fmt: skip


def local_time(day: dt.date, clock: dt.time) -> str:
    """``day`` at ``clock`` in the deployment's zone, as ISO 8601 with its offset."""
    from tests.clock import zone

    return dt.datetime.combine(day, clock, tzinfo=zone()).isoformat()


def body(enterprise: int, kind: str, **over: Any) -> dict[str, Any]:
    """A valid visit body for outcome ``kind`` (visited at 09:30 on :data:`DAY`), then ``over``."""
    out = {
        "enterprise_id": enterprise,
        "visited_at": local_time(DAY, dt.time(9, 30)),
        "operating_status": "normal",
        "outcome": kind,
        "next_step": "两周后回访",
        "next_step_due_on": "2027-06-29",
        "notes": "",
    }
    out.update(BODIES[kind])
    out.update(over)
    return out


def travel(day: dt.date = DAY, clock: dt.time = dt.time(10, 0), tick: bool = True) -> None:
    move_to(at_local(day, clock), tick=tick)


def heads(client, *names: str) -> dict[str, dict[str, str]]:
    """Fresh sign-ins (after travelling: a token is good for 12 hours)."""
    return {n: login(client, n) for n in names}


def enterprise_of(visits, group: str, n: int = 0) -> int:
    return visits.enterprises[visits.codes[group][n]]


def post_visit(client, headers, payload):
    return client.post(f"{API}/visits", json=payload, headers=headers)
