"""The environment of a child process (a scheduler, a worker, a dispatcher, gunicorn) that must
work on the test's database with the test app's keys and settings."""

from __future__ import annotations

import os

from flask import Flask

from gridserve.config import settings


def child_env(app: Flask, **extra: str) -> dict[str, str]:
    """``os.environ`` plus what makes a child see the test app's world, then ``extra``.

    The child reads the same database and instance path, decrypts with the same data keys
    (numbers are encrypted), keeps the same quiet hours (the send window around the test's
    now) and writes file-gateway texts where the test reads them. A child does not share the
    test's clock: pass ``GRIDSERVE_TEST_CLOCK`` in ``extra`` where it matters.
    """
    s = settings(app)
    return dict(
        os.environ,
        GRIDSERVE_ENV="testing",
        GRIDSERVE_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        GRIDSERVE_INSTANCE_PATH=app.instance_path,
        GRIDSERVE_DATA_KEYS=",".join(s.data_keys),
        GRIDSERVE_QUIET_HOURS=s.quiet_hours,
        GRIDSERVE_SMS_OUTBOX_PATH=str(s.sms_outbox_root),
        **extra,
    )
