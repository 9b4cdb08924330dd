"""A dispatcher process for tests: ``python -m tests.sms.dispatcher BUDGET``.

Builds the app from the environment (as ``gridserve`` does: ``GRIDSERVE_DATABASE_URL``, ...;
``GRIDSERVE_ENV=testing``), prints ``READY`` and waits for one line on stdin: the test clock's
instant (ISO, with offset; empty for the real clock). So several processes start together, and
their clocks agree with the test's. Then it runs one dispatch pass of at most BUDGET seconds,
as the ``sms-dispatch`` job does, and prints its report as one JSON line. Several side by side
are several dispatcher nodes on one database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time

from sqlalchemy import text

from gridserve import audit
from gridserve.app import create_app
from gridserve.config import settings
from gridserve.db import set_test_clock, transaction
from gridserve.extensions import db
from gridserve.services.sms.dispatch import dispatch_pass


def main() -> None:
    budget = float(sys.argv[1])
    app = create_app()
    assert settings(app).env == "testing", "a test helper: GRIDSERVE_ENV=testing only"
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        print("READY", flush=True)
        instant = sys.stdin.readline().strip()
        if instant:  # the test's clock (time-machine does not reach a child process)
            set_test_clock(dt.datetime.fromisoformat(instant))
        started = time.monotonic()
        with audit.acting_as(audit.Actor(kind="job", name="sms-dispatch")), transaction():
            report = dispatch_pass(budget_seconds=budget)
        db.session.remove()
    print(f"pid {os.getpid()}: {time.monotonic() - started:.1f} s, {report}", file=sys.stderr)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
