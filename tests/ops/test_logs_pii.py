"""Logs: one JSON object per line with the request's id, user, role and device, and no personal
data in any line — while the household, SMS, case and Open311 flows run with the demo's phone
and ID numbers. Also the masking filter on its own and gunicorn's logger (without gunicorn).

A line must hold none of the numbers the tests type (:data:`SECRETS`) and none of the seeded
demo's phone and ID numbers (:func:`demo_numbers`: every encrypted column of the demo's
database decrypted, so a number seeded in a new place is scanned for too, and every ID number
the full demo's household register can hold), whether written plainly, in E.164 or with spaces
or dashes.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import logging
import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from gridserve import crypto, logs
from gridserve.config import ConfigError, log_settings
from gridserve.extensions import db
from jobs import scheduler
from seeds.loader import BANK_ORDER, REFERENCE, _invented_id, demo_recipients
from tests.api.cases.ladder_helpers import step
from tests.api.cases.test_feedback import _closed, _reply, _rows
from tests.api.cases.test_feedback import channel as channel
from tests.api.cases.test_intake import _case
from tests.api.cases.test_open311 import _key, _place, _post
from tests.api.sms.campaign_now import make_campaign
from tests.api.test_households import BODY, ID_A, PHONE, _create
from tests.api.test_households import register as register
from tests.conftest import _today

# Every form of every number the flows below send (digits only, as typed, international).
SECRETS = {
    PHONE, "138 1234 5678", "+8613812345678", ID_A,  # the household's (and a case reporter's)
    "13912345678", "+8613912345678", "z@example.com",  # the Open311 reporter's
    "13800138000", "+8613800138000", "13700007777", "+8613700007777",  # SMS recipients
    "11010519491231002X", "张三",
}  # fmt: skip
MOBILE = re.compile(r"(?<!\d)(?:\+?86)?(1[3-9]\d{9})(?!\d)")  # national form kept
ID_NUMBER = re.compile(r"(?<!\d)(\d{17}[\dXx])(?![\dXx])")
_demo: dict[str, frozenset[str]] = {}  # the demo's numbers, read once per run
# The register's households' ID numbers are seeds.loader._invented_id(place id): its digits
# repeat every 6,300 ids (the lcm of its 30, 12, 28 and 900), so one period holds the ID number
# of every household of the full demo whatever ids its places get. The tests' demo world leaves
# the register out (it is slow to seed); the scan looks for them all the same.
ID_PERIOD = 6300


def _numbers(value: str) -> set[str]:
    """The mobile numbers (national form) and ID numbers (X upper case) in ``value``."""
    return {*MOBILE.findall(value), *(n.upper() for n in ID_NUMBER.findall(value))}


@pytest.fixture
def demo_numbers(worlds) -> frozenset[str]:
    """Every phone and ID number of the seeded demo (the ``demo`` world, as the tests seed it):
    each ``*_enc`` column of every table decrypted (JSON ones too, e.g. household members).
    Request it before the test's app fixtures: it reads the demo's database on its own."""
    if "numbers" not in _demo:
        app, _made = worlds.working_app("demo", _today())
        found: set[str] = set()
        with app.app_context():
            try:
                for table in db.metadata.sorted_tables:
                    for column in table.columns:
                        if column.name.endswith("_enc"):
                            for token in db.session.scalars(
                                select(column).where(column.is_not(None))
                            ):
                                found |= _numbers(crypto.decrypt(token) or "")
            finally:
                db.session.remove()
        # What the seeds say the world holds is among them: the SMS rotation's recipients,
        # every bank's contact (2,813 numbers today), not a handful.
        seeded = {n[3:] for p in range(1, len(BANK_ORDER) + 1) for n in demo_recipients(p)}
        with (REFERENCE / "institutions.csv").open(encoding="utf-8") as handle:
            seeded |= {row["contact_phone"] for row in csv.DictReader(handle)}
        assert seeded <= found, sorted(seeded - found)[:5]
        assert len(found) >= len(seeded) >= 1000
        register = [_invented_id(i) for i in range(ID_PERIOD)]
        assert register == [_invented_id(i) for i in range(ID_PERIOD, 2 * ID_PERIOD)]
        assert len(set(register)) == ID_PERIOD and all(_numbers(n) == {n} for n in register)
        _demo["numbers"] = frozenset(found | set(register))
    return _demo["numbers"]


def _leaked(line: str, demo: frozenset[str]) -> set[str]:
    """The demo's numbers in a log line, also when written with spaces or dashes."""
    compact = re.sub(r"[\s-]", "", line)
    found = set(re.findall(r"(?=(\d{11}))", compact))
    found |= {n.upper() for n in re.findall(r"(?=(\d{17}[\dXx]))", compact)}
    return found & demo


def _access_logged(wsgi_app):
    """The app as a server runs it: one access line after each response (gunicorn's and
    ``gridserve run``'s loggers call :func:`gridserve.logs.access` the same way)."""
    access_log = logging.getLogger("gridserve.access")

    def app(environ, start_response):
        seen: dict[str, str] = {}

        def record(status, headers, exc_info=None):
            seen["status"] = status
            return start_response(status, headers, exc_info)

        began = time.perf_counter()
        result = wsgi_app(environ, record)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        took = (time.perf_counter() - began) * 1000
        logs.access(access_log, environ, seen.get("status", "-"), len(body), took)
        return [body]

    return app


@contextlib.contextmanager
def captured(app: Flask) -> Iterator[list[str]]:
    """Every log line (root, JSON, DEBUG up, masking on) while the block runs."""
    buffer = io.StringIO()
    handler = logs.prepare(logging.StreamHandler(buffer), "json")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    wsgi_app = app.wsgi_app
    app.wsgi_app = _access_logged(wsgi_app)  # type: ignore[method-assign]
    out: list[str] = []
    try:
        yield out
    finally:
        app.wsgi_app = wsgi_app  # type: ignore[method-assign]
        root.removeHandler(handler)
        root.setLevel(level)
        out.extend(line for line in buffer.getvalue().splitlines() if line.strip())


def _check(lines: list[str], demo: frozenset[str], *, users: int = 1) -> list[dict]:
    """Every line is JSON without a secret or a number of the demo; request lines carry
    request id and user."""
    assert lines
    parsed = [json.loads(line) for line in lines]
    for line, record in zip(lines, parsed, strict=True):
        assert {"ts", "level", "logger", "message", "request_id", "user_id", "role",
                "device_id"} <= set(record), record  # fmt: skip
        assert record["ts"].endswith("Z")
        for secret in SECRETS:
            assert secret not in line, line
            assert json.dumps(secret, ensure_ascii=False)[1:-1] not in line, line
        assert not _leaked(line, demo), line
    access = [r for r in parsed if r["logger"] == "gridserve.access"]
    assert access and all(r["request_id"] for r in access)
    signed_in = [r for r in access if r["path"].startswith("/api/v1/") and r["status"] < 400]
    assert len({r["user_id"] for r in signed_in if r["user_id"]}) >= users
    assert all(r["user_id"] and r["role"] for r in signed_in if r["path"] != "/api/v1/auth/token")
    return parsed


def test_the_household_register_read_and_export_log_no_numbers(
    demo_numbers, client, auth_as, register, clean_app
) -> None:
    with captured(clean_app) as lines:
        headers = auth_as("worker_a")
        made = _create(client, headers, register.mine)
        assert made.status_code == 201, made.get_json()
        got = client.get(f"/api/v1/households/{made.get_json()['id']}", headers=headers)
        assert got.get_json()["phone"] == PHONE
        again = _create(client, headers, register.mine)  # one per place: a conflict
        assert again.status_code == 409
        bad = _create(client, headers, register.mine_too, id_number="11010519491231002X",
                      phone="1381234567")  # fmt: skip
        assert bad.status_code == 422
        export = client.get("/api/v1/households/export", headers=auth_as("station_a"))
        assert export.status_code == 200 and ID_A in export.get_data(as_text=True)
        assert BODY["members"][0]["name"] in export.get_data(as_text=True)
    parsed = _check(lines, demo_numbers, users=2)
    mine = next(r for r in parsed if r.get("path") == "/api/v1/households" and r["status"] == 201)
    assert mine["role"] == "worker" and mine["method"] == "POST"
    assert mine["request_id"] == made.headers["X-Request-Id"]


def test_an_sms_upload_and_dispatch_log_no_numbers(demo_numbers, sms_demo, monkeypatch) -> None:
    app, client, headers = sms_demo
    monkeypatch.setattr(scheduler, "_app", app)
    with captured(app) as lines:
        campaign = make_campaign(app, client, headers["coordinator"], phones=["+8613700007777"])
        url = f"/api/v1/sms/campaigns/{campaign['id']}/senders/ICBC/recipients"
        csv = "手机号,姓名\n13800138000,张三\n+86 138-0013-8000,again\n12345,乙\n"
        resp = client.post(url, data=csv.encode(), content_type="text/csv",
                           headers=headers["bank2"])  # fmt: skip
        assert resp.status_code == 200 and resp.get_json()["added"] == 1, resp.get_json()
        listed = client.get(url, headers=headers["bank2"]).get_json()
        assert listed
        scheduler.execute("sms-dispatch")  # as the scheduler runs it
    parsed = _check(lines, demo_numbers)
    assert any(r["job"] == "sms-dispatch" and "done" in r["message"] for r in parsed)


def test_a_case_with_its_reporter_a_step_and_feedback_log_no_numbers(
    demo_numbers,
    cases,
    client,
    auth_as,
    channel,
    ctx,
    monkeypatch,
) -> None:
    monkeypatch.setattr(scheduler, "_app", ctx)
    with captured(ctx) as lines:
        reporter = {"name": "张三", "phone": "138 1234 5678", "consent": True}
        resp = _case(client, auth_as, cases, source="phone", reporter=reporter)
        assert resp.status_code == 201, resp.get_json()
        case = resp.get_json()
        shown = client.get(f"/api/v1/tasks/{case['id']}", headers=auth_as("station_a"))
        assert shown.get_json()["reporter"]["phone"] == PHONE
        worker = auth_as("worker_a")
        assert (
            step(client, worker, case["id"], "accept", {"note": "马上去 13812345678"}).status_code
            == 200
        )
        task_id = _closed(cases, phone=PHONE)
        db.session.commit()
        scheduler.execute("case-feedback")
        db.session.expire_all()
        code = _rows(task_id)[0].code
        assert client.post(f"/r/{code}", json={"rating": 1}).status_code == 200
        assert _reply("+8613812345678", "2") in ("already_rated", "rated", "opted_out", "ignored")
    parsed = _check(lines, demo_numbers)
    assert any(r["job"] == "case-feedback" for r in parsed)


def test_an_open311_request_with_a_phone_in_its_description_logs_no_numbers(
    demo_numbers, cases, client, clean_app
) -> None:
    with captured(clean_app) as lines:
        key = _key(client)
        _name, lon, lat = _place(clean_app, cases)
        about = "请回电 13912345678 或 z@example.com，身份证 11010519491231002X"
        resp = _post(client, key, lon, lat, first_name="张", last_name="三",
                     phone="13912345678", email="z@example.com", description=about)  # fmt: skip
        assert resp.status_code == 201, resp.data
        bad = _post(client, key, 200, 200, phone="13912345678")
        assert bad.status_code == 400
    parsed = _check(lines, demo_numbers)
    posted = [r for r in parsed if r.get("path") == "/open311/v2/requests.json"]
    assert posted and all(r["user_id"] is None and r["request_id"] for r in posted)


# --- the pieces on their own ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "13812345678", "+8613812345678", "+86 138-1234-5678", "8613812345678",
        "tel:138 1234 5678;", "id 510104199001011230", "11010519491231002X", "11010519491231002x",
    ],
)  # fmt: skip
def test_the_mask_filter_hides_phones_and_id_numbers_in_message_args_and_traceback(text) -> None:
    buffer = io.StringIO()
    log = logging.getLogger("tests.ops.mask")
    log.propagate = False
    handler = logs.prepare(logging.StreamHandler(buffer), "json")
    log.addHandler(handler)
    try:
        log.warning(f"in the message {text}")
        log.warning("in the args %s and %r", text, {"phone": text})
        try:
            raise ValueError(f"bad value {text}")
        except ValueError:
            log.exception("in a traceback")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    out = buffer.getvalue()
    digits = "".join(c for c in text if c.isdigit() or c in "Xx")[-11:]
    assert digits not in out.replace(" ", "").replace("-", "")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3 and "ValueError" in records[2]["exc"]
    assert all("[phone]" in r["message"] or "[id-number]" in r["message"] for r in records[:2])


def test_the_mask_leaves_other_numbers_alone() -> None:
    for text in ("12345678901", "028 8888 8888", "case 123456", "1234567890123456789012"):
        assert logs.mask(text) == text
    assert logs.mask("a 13812345678b") == "a [phone]b"


def test_gunicorn_logs_json_access_lines_with_the_requests_context(monkeypatch) -> None:
    from gunicorn.config import Config

    monkeypatch.setenv("GRIDSERVE_LOG_FORMAT", "json")
    import gridserve.gunicorn_conf as conf

    assert conf.logger_class == "gridserve.logs.GunicornLogger" and conf.accesslog == "-"
    cfg = Config()
    cfg.set("accesslog", "-")
    glog = logs.GunicornLogger(cfg)
    buffer = io.StringIO()
    for handler in glog.access_log.handlers + glog.error_log.handlers:
        handler.setStream(buffer)

    class Resp:
        status = "200 OK"
        sent = 42

    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/places", "REMOTE_ADDR": "10.0.0.1",
        "QUERY_STRING": "q=13812345678",
        logs.ENVIRON_KEY: {"request_id": "abc", "user_id": 7, "role": "station", "device_id": 3,
                           "job": None},
    }  # fmt: skip
    glog.access(Resp(), None, environ, dt.timedelta(milliseconds=12))
    glog.error("worker for 13812345678 failed")
    access, error = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert access["logger"] == "gunicorn.access" and access["status"] == 200
    assert (access["request_id"], access["user_id"], access["role"], access["device_id"]) == (
        "abc", 7, "station", 3)  # fmt: skip
    assert access["path"] == "/api/v1/places" and access["bytes"] == 42
    assert access["duration_ms"] == 12.0 and "13812345678" not in buffer.getvalue()
    assert error["level"] == "ERROR" and error["request_id"] is None


def test_the_log_settings_default_to_json_in_production_and_are_checked() -> None:
    assert log_settings({}) == ("text", "INFO")
    assert log_settings({"GRIDSERVE_ENV": "production"}) == ("json", "INFO")
    assert log_settings({"GRIDSERVE_LOG_FORMAT": "JSON", "GRIDSERVE_LOG_LEVEL": "debug"}) == (
        "json", "DEBUG")  # fmt: skip
    for bad in ({"GRIDSERVE_LOG_FORMAT": "xml"}, {"GRIDSERVE_LOG_LEVEL": "loud"}):
        with pytest.raises(ConfigError):
            log_settings(bad)


def test_a_database_conflict_is_logged_by_its_constraint_never_by_the_values(
    clean_app, caplog
) -> None:
    from sqlalchemy.exc import IntegrityError

    from gridserve import errors

    class Diag:
        constraint_name = "uq_households_phone"

    class Orig(Exception):
        diag = Diag()

    orig = Orig("duplicate key value\nDETAIL:  Key (phone)=(13812345678) already exists.")
    exc = IntegrityError("INSERT INTO households ...", {"phone": PHONE}, orig)
    with clean_app.test_request_context(), caplog.at_level(logging.INFO, "gridserve.errors"):
        resp = errors.handle_integrity_error(exc)
    assert resp.status_code == 409 and "uq_households_phone" in caplog.text
    assert PHONE not in caplog.text
    with clean_app.app_context():
        assert db.engine.hide_parameters  # errors quote no row values either


def test_the_development_server_logs_the_same_access_line(caplog) -> None:
    from gridserve.http_security import QuietRequestHandler

    handler = object.__new__(QuietRequestHandler)  # no socket: only its log_request is used
    handler.environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/health",
                       "QUERY_STRING": "phone=13812345678", "REMOTE_ADDR": "127.0.0.1",
                       logs.ENVIRON_KEY: {"request_id": "r1", "user_id": None}}  # fmt: skip
    with caplog.at_level(logging.INFO, "gridserve.access"):
        handler.log_request(200, 17)
    (record,) = [r for r in caplog.records if r.name == "gridserve.access"]
    assert (record.method, record.path, record.status, record.bytes) == (
        "GET", "/api/v1/health", 200, 17)  # fmt: skip
    assert record.log_context["request_id"] == "r1" and PHONE not in caplog.text


def test_the_scan_finds_a_demo_number_however_it_is_written() -> None:
    demo = frozenset({"13900000001", "51010419700101100X"})
    for line in ('{"to": "+8613900000001"}', "tel 139 0000 0001;", "86-139-0000-0001",
                 "id 51010419700101100x"):  # fmt: skip
        assert _leaked(line, demo), line
    assert not _leaked('{"ts": "2026-12-01T08:00:00Z", "to": 13900000002, "id": 1}', demo)
    assert _numbers("+8613900000001 and 51010419700101100x") == set(demo)
