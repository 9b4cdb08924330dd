"""One logging setup for the app, the CLI's long-running commands and gunicorn.

Settings (read by :func:`gridserve.config.load_settings`):

- ``GRIDSERVE_LOG_FORMAT``: ``json`` (one JSON object per line) or ``text``. Default ``json``
  when ``GRIDSERVE_ENV=production``, ``text`` otherwise (quick start, tests).
- ``GRIDSERVE_LOG_LEVEL``: ``DEBUG``, ``INFO`` (default), ``WARNING`` or ``ERROR``.

A JSON line::

    {"ts": "2026-12-01T03:04:05.123Z", "level": "INFO", "logger": "gridserve.sms",
     "message": "...", "request_id": "9f1c...", "user_id": 12, "role": "grid_worker",
     "device_id": null, "job": null}

``request_id``, ``user_id``, ``role`` and ``device_id`` come from the request being served
(``flask.g``: set by :mod:`gridserve.auth`); outside a request, from :func:`job_context`
(the scheduler names its ``job``; a job run by the pool or a worker gives its kind, the
request that asked for it and its requester's id and role). Absent values
are ``null``. Access lines (gunicorn's, through :class:`GunicornLogger`, and ``gridserve
run``'s) add ``method``, ``path`` (never the query string), ``status``, ``bytes``,
``duration_ms`` and ``remote_addr``; a logged exception adds ``exc``.

Personal data is never logged: log ids, codes and counts, never phones, ID numbers, names
or message bodies. As a last line of defence every handler set up here carries
:class:`MaskFilter`, which replaces anything looking like a mainland mobile number
(``1[3-9]`` + 9 digits, with or without ``+86``/``86``, spaces or dashes) or a resident ID
number (17 digits + a digit or X) in a record's message, arguments and traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from flask import g, has_request_context, request

from gridserve.config import log_settings

CONTEXT_KEYS = ("request_id", "user_id", "role", "device_id", "job")
ACCESS_KEYS = ("method", "path", "status", "bytes", "duration_ms", "remote_addr")
ENVIRON_KEY = "gridserve.log_context"  # the request's context, for the server's access line
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user_id)s] %(message)s"

_PHONE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_job: ContextVar[dict[str, Any] | None] = ContextVar("gridserve_log_job", default=None)


def mask(text: str) -> str:
    """``text`` with mobile numbers and ID numbers replaced by ``[phone]`` / ``[id-number]``."""
    return _PHONE.sub("[phone]", _ID_NUMBER.sub("[id-number]", text))


@contextlib.contextmanager
def job_context(job: str, **fields: Any) -> Iterator[None]:
    """Lines logged inside carry ``job`` (and ``request_id``, ``user_id``, ``role`` and
    ``device_id`` when given: a job passes its requester's)."""
    token = _job.set({"job": job, **fields})
    try:
        yield
    finally:
        _job.reset(token)


def current_context() -> dict[str, Any]:
    """The context fields for a line logged now (all keys, ``None`` when unknown)."""
    out: dict[str, Any] = dict.fromkeys(CONTEXT_KEYS)
    if has_request_context():
        out["request_id"] = g.get("request_id")
        principal = g.get("principal")
        if principal is not None:
            out["user_id"] = principal.user_id
            out["role"] = principal.role
            out["device_id"] = principal.device_id
    else:
        out.update({k: v for k, v in (_job.get() or {}).items() if k in out})
    return out


class ContextFilter(logging.Filter):
    """Stamps each record with :func:`current_context` (unless it brought its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        given = getattr(record, "log_context", None)
        context = given if given is not None else current_context()
        for key in CONTEXT_KEYS:
            setattr(record, key, context.get(key))
        return True


class MaskFilter(logging.Filter):
    """Masks phone and ID numbers in the message, its arguments and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is, masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        path = getattr(record, "path", None)
        if isinstance(path, str):
            record.path = mask(path)
        return True


def _utc(created: float) -> str:
    stamp = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for its keys)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            line[key] = getattr(record, key, None)
        for key in ACCESS_KEYS:
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``ts level logger [request_id user_id] message`` for a terminal."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        for key in CONTEXT_KEYS:
            if getattr(record, key, None) is None:
                setattr(record, key, "-")
        return super().format(record)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def prepare(handler: logging.Handler, fmt: str) -> logging.Handler:
    """Give ``handler`` this module's formatter and filters (context first, then masking)."""
    handler.setFormatter(formatter(fmt))
    for existing in list(handler.filters):
        if isinstance(existing, ContextFilter | MaskFilter):
            handler.removeFilter(existing)
    handler.addFilter(ContextFilter())
    handler.addFilter(MaskFilter())
    return handler


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped, e.g. by pytest)."""

    _gridserve = True

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(fmt: str = "text", level: str = "INFO") -> None:
    """Route the root logger to stderr in ``fmt`` at ``level``; calling it again replaces it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_gridserve", False):
            root.removeHandler(handler)
    root.addHandler(prepare(_StderrHandler(), fmt))
    root.setLevel(level)


def remember_request_context() -> None:
    """Keep the request's context in the WSGI environ: the server writes its access line
    after Flask's request context is gone."""
    request.environ[ENVIRON_KEY] = current_context()


def access(
    logger: logging.Logger,
    environ: dict[str, Any],
    status: int | str,
    size: int | str | None,
    duration_ms: float | None,
) -> None:
    """Log one access line: method, path (no query string), status, size, time, context."""
    method = environ.get("REQUEST_METHOD", "-")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    with contextlib.suppress(ValueError, IndexError):
        status = int(str(status).split()[0])
    extra = {
        "method": method,
        "path": path,
        "status": status,
        "bytes": size if isinstance(size, int) else None,
        "duration_ms": round(duration_ms, 1) if duration_ms is not None else None,
        "remote_addr": environ.get("REMOTE_ADDR"),
        "log_context": environ.get(ENVIRON_KEY) or dict.fromkeys(CONTEXT_KEYS),
    }
    logger.info("%s %s %s", method, path, status, extra=extra)


def init_app(app, fmt: str, level: str) -> None:
    """Set up logging for ``app`` and keep each request's context for the access line."""
    setup(fmt, level)
    app.teardown_request(lambda _exc: remember_request_context())


try:  # gunicorn is a production dependency; the class is only defined where it is installed
    from gunicorn.glogging import Logger as _GunicornBase
except ImportError:  # pragma: no cover
    _GunicornBase = None


if _GunicornBase is not None:

    class GunicornLogger(_GunicornBase):
        """gunicorn's error and access logs in this module's format (``logger_class`` in
        ``gridserve/gunicorn_conf.py``); access lines carry the request's context."""

        def setup(self, cfg) -> None:
            super().setup(cfg)
            fmt, _level = log_settings(dict(os.environ))
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    prepare(handler, fmt)

        def access(self, resp, req, environ, request_time) -> None:
            if not self.access_log_enabled:
                return
            size = getattr(resp, "sent", None)
            took = request_time.total_seconds() * 1000 if request_time is not None else None
            access(self.access_log, environ, getattr(resp, "status", "-"), size, took)
