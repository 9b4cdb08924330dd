"""A 2027 arrangement in the State Council's form (made up for the tests: the real one is
published in the autumn of 2026): New Year 1-3 Jan, Spring Festival 6-14 Feb with Saturday
20 Feb worked instead, and the other holidays."""

from __future__ import annotations

import datetime as dt


def _span(name: str, first: str, last: str) -> list[dict[str, str]]:
    day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    out = []
    while day <= end:
        out.append({"date": day.isoformat(), "name": name})
        day += dt.timedelta(days=1)
    return out


CALENDAR_2027 = {
    "holidays": _span("元旦", "2027-01-01", "2027-01-03")
    + _span("春节", "2027-02-06", "2027-02-14")
    + _span("清明节", "2027-04-03", "2027-04-05")
    + _span("劳动节", "2027-05-01", "2027-05-05")
    + _span("端午节", "2027-06-09", "2027-06-11")
    + _span("国庆节、中秋节", "2027-10-01", "2027-10-07"),
    "workdays": ["2027-02-20", "2027-04-25", "2027-09-26", "2027-10-09"],
    "note": "测试用安排",
}
SPRING_FESTIVAL = {d["date"] for d in CALENDAR_2027["holidays"] if d["name"] == "春节"}


def working_days_campaign_over_2027(
    app, client, headers, *, phones: int, code: str, first: dt.date, last: dt.date
) -> dict:
    """Load :data:`CALENDAR_2027` as the admin, then make a working-days campaign from
    ``first`` to ``last`` (rounds until the end) with ``phones`` invented recipients."""
    from tests.api.sms.campaign_now import make_campaign, numbers

    loaded = client.put("/api/v1/calendars/CN/2027", json=CALENDAR_2027, headers=headers["admin"])
    assert loaded.status_code == 200, loaded.get_json()
    return make_campaign(
        app,
        client,
        headers["coordinator"],
        phones=numbers(phones),
        code=code,
        dates=(first, last),
        extra={"working_days_only": True, "rounds": None},
    )
