"""Run every benchmark: ``python -m bench`` (or ``make bench``); one or some by name:
``python -m bench site_suggestion``. The long ones (:data:`LONG`: ``load``, about 7 minutes)
run only when named, or with ``--all``.

Each prints our figure beside an anchor measured in the same run on the same
data; none of them is part of the test suite's pass/fail.
"""

from __future__ import annotations

import sys

from bench import (
    assessment_run,
    case_deadlines,
    case_list,
    field_sync,
    load,
    partition_demo,
    point_in_cell,
    progress,
    site_suggestion,
    sms_dispatch,
    web_budgets,
)

BENCHES = {
    "partition_demo": (
        "grid generation on the demo street (anchor: square grid, same cell count)",
        lambda: partition_demo.main([]),
    ),
    "point_in_cell": (
        "bulk point-in-cell (anchor: PostGIS ST_Contains join with GiST indexes)",
        point_in_cell.run,
    ),
    "field_sync": (
        "terminal sync (anchor: raw psycopg INSERT ... ON CONFLICT DO NOTHING)",
        field_sync.run,
    ),
    "sms_dispatch": (
        "SMS dispatch (anchor: a bare loop calling the same gateway adapter)",
        sms_dispatch.run,
    ),
    "site_suggestion": (
        "site suggestion on the demo street (anchor: the integer program solved by CBC)",
        site_suggestion.run,
    ),
    "progress": (
        "visits programme progress, 50,000 enterprises and 200,000 visits "
        "(anchor: one hand-written SQL statement)",
        progress.run,
    ),
    "case_deadlines": (
        "the case deadline job, 100,000 open cases with 1,000 overdue "
        "(anchor: one hand-written CTE updating them and inserting their events)",
        case_deadlines.run,
    ),
    "case_list": (
        "the street's case list, 100,000 cases, filters and paging, 200 warm requests "
        "(anchor: the same hand-written SELECT ... LIMIT 50 OFFSET)",
        case_list.run,
    ),
    "assessment_run": (
        "a quarterly grid-worker assessment run, 10,000 workers, 5,000,000 visits, 200,000 "
        "cases (anchor: one hand-written SQL statement, the same per-worker figures)",
        assessment_run.run,
    ),
    "web_budgets": (
        "the front ends' budgets in headless Chromium (JS bytes, map idle, offline place list)",
        web_budgets.run,
    ),
    "load": (
        "200 terminals and 5 coordinators against gunicorn for 5 minutes, open loop; the "
        "incremental sync's throughput (anchor: a test-only endpoint with the same token "
        "look-up answering the same bytes from memory)",
        load.run,
    ),
}
# Left out of a run that names no bench (``--all`` includes them).
LONG = ("load",)


def main(argv: list[str] | None = None) -> None:
    names = list(sys.argv[1:] if argv is None else argv)
    if names == ["--all"]:
        names = list(BENCHES)
    elif not names:
        names = [n for n in BENCHES if n not in LONG]
        print(f"(left out, long: {', '.join(LONG)}; name them or pass --all)")
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise SystemExit(f"unknown bench {', '.join(unknown)}; one of {', '.join(BENCHES)}")
    for i, name in enumerate(names):
        title, run = BENCHES[name]
        if i:
            print()
        print(f"== {title}")
        run()


if __name__ == "__main__":
    main()
