"""Run every benchmark: ``python -m bench`` (or ``make bench``).

Each prints our figure beside an anchor measured in the same run on the same
data; none of them is part of the test suite's pass/fail.
"""

from __future__ import annotations

from bench import field_sync, partition_demo, point_in_cell, sms_dispatch


def main() -> None:
    print("== grid generation on the demo street (anchor: square grid, same cell count)")
    partition_demo.main([])
    print()
    print("== bulk point-in-cell (anchor: PostGIS ST_Contains join with GiST indexes)")
    point_in_cell.run()
    print()
    print("== terminal sync (anchor: raw psycopg INSERT ... ON CONFLICT DO NOTHING)")
    field_sync.run()
    print()
    print("== SMS dispatch (anchor: a bare loop calling the same gateway adapter)")
    sms_dispatch.run()


if __name__ == "__main__":
    main()
