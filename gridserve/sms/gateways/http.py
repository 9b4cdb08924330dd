"""The ``http`` adapter (a generic JSON API) and the parser for what HTTP providers post to
the receipts callback (see the package docstring)."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import ssl
import threading
import urllib.parse
from typing import Any

from gridserve.sms.gateways.base import (
    MISCONFIGURED,
    NON_FINAL_STATS,
    RECEIPT_STATS,
    RECEIPT_STATUSES,
    Accepted,
    GatewayError,
    Inbound,
    OutboundMessage,
    Receipt,
    _check_message,
    _misconfigured,
    _segments,
    log,
    normalise_phone,
)
from gridserve.sms.gateways.destinations import connect_checked

# --- http --------------------------------------------------------------------------------------

_TRANSIENT_4XX = {408, 409, 425, 429}
_RETRY_ON_REUSED = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


def _dig(data: Any, path: str) -> Any:
    """``data["a"]["b"][0]`` for the path ``"a.b.0"``; None when any step is missing."""
    current = data
    for step in path.split("."):
        if isinstance(current, dict):
            if step not in current:
                return None
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


def _provider_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for name in ("message", "error_description", "error", "msg", "Message", "detail"):
            value = data.get(name)
            if isinstance(value, dict):
                value = value.get("message") or json.dumps(value, ensure_ascii=False)
            if value:
                return str(value)[:500]
    return raw.decode("utf-8", "replace").strip()[:500] or "(empty answer)"


class HttpGateway:
    """A JSON HTTP API over one keep-alive connection; see the module docstring."""

    name = "http"
    idempotent = True

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        timeout: float = 5.0,
        field_map: dict[str, str] | None = None,
        extra_fields: dict[str, Any] | None = None,
        id_field: str = "id",
        auth_header: str = "Authorization",
        token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _misconfigured(f"http gateway: url must be http(s)://host/..., got {url!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise _misconfigured(f"http gateway: bad port in {url!r}") from exc
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.method = method.upper()
        if self.method not in ("POST", "PUT"):
            raise _misconfigured(f"http gateway: method must be POST or PUT, got {method!r}")
        self.timeout = timeout
        self.field_map = {k: k for k in ("key", "to", "body", "sender")} | (field_map or {})
        self.extra_fields = dict(extra_fields or {})
        self.id_field = id_field
        self.auth_header = auth_header
        self.token = token
        self.allowed_hosts = tuple(allowed_hosts)
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is not None:
            return self._conn, True
        if self.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        # Connect through an address checked right now (see connect_checked); the Host header,
        # SNI and certificate check still use the name.
        conn._create_connection = self._open_socket  # type: ignore[attr-defined]
        self._conn = conn
        return conn, False

    @property
    def destination(self) -> tuple[str, int, tuple[str, ...]]:
        port = self.port or (443 if self.scheme == "https" else 80)
        return self.host, port, self.allowed_hosts

    def _open_socket(self, address: tuple[str, int], timeout: Any, source: Any = None) -> Any:
        host, port, allowed = self.destination
        return connect_checked(host, port, self.timeout, allowed)

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _request(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        for attempt in (1, 2):
            conn, reused = self._connection()
            sent = False
            try:
                conn.request(self.method, self.target, body=body, headers=headers)
                sent = True
                response = conn.getresponse()
                raw = response.read()
                reason = response.reason
                if response.will_close:
                    self._drop()
                return response.status, raw, reason
            except _RETRY_ON_REUSED as exc:
                self._drop()
                if reused and attempt == 1:
                    log.debug(
                        "http gateway %s: kept-alive connection closed (%s), retrying",
                        self.url,
                        exc,
                    )
                    continue
                raise self._network_error(exc, sent) from exc
            except GatewayError:
                self._drop()  # the destination was refused or does not resolve: nothing sent
                raise
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise self._network_error(exc, sent) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _network_error(self, exc: BaseException, sent: bool) -> GatewayError:
        if isinstance(exc, TimeoutError):
            what = "timed out waiting for" if sent else "timed out connecting to"
            code = "gateway_outcome_unknown" if sent else "gateway_unreachable"
            return GatewayError(f"{what} {self.url}", transient=True, code=code)
        code = "gateway_outcome_unknown" if sent else "gateway_unreachable"
        return GatewayError(
            f"{self.url}: {exc.__class__.__name__}: {exc}", transient=True, code=code
        )

    def submit(self, message: OutboundMessage) -> Accepted:
        _check_message(message)
        payload = dict(self.extra_fields)
        for ours in ("key", "to", "body", "sender"):
            payload[self.field_map[ours]] = getattr(message, ours)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": message.key,
            "User-Agent": "gridserve-sms",
        }
        if self.token:
            headers[self.auth_header] = self.token
        with self._lock:
            status, raw, reason = self._request(body, headers)
        if 200 <= status < 300:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            gateway_id = _dig(data, self.id_field) if isinstance(data, dict | list) else None
            if gateway_id is None or isinstance(gateway_id, dict | list | bool) or gateway_id == "":
                raise GatewayError(
                    f"{self.url} answered {status} without a message id in {self.id_field!r}: "
                    f"{raw[:200].decode('utf-8', 'replace')}",
                    transient=True,
                    code="gateway_error",
                )
            duplicate = isinstance(data, dict) and data.get("duplicate") is True
            return Accepted(
                gateway_id=str(gateway_id), segments=_segments(message.body), duplicate=duplicate
            )
        detail = f"{self.url} answered {status} {reason}: {_provider_message(raw)}"
        if status == 429:
            raise GatewayError(detail, transient=True, code="gateway_throttled")
        if status >= 500 or status in _TRANSIENT_4XX:
            raise GatewayError(detail, transient=True, code="gateway_error")
        if status in (401, 403) or 300 <= status < 400:
            raise GatewayError(detail, transient=False, code=MISCONFIGURED)
        raise GatewayError(detail, transient=False, code="gateway_rejected")

    def poll(self) -> list[Receipt | Inbound]:
        return []

    def close(self) -> None:
        with self._lock:
            self._drop()


# --- HTTP receipts callback --------------------------------------------------------------------

RECEIPT_FIELDS = {
    "id": "id",
    "status": "status",
    "error": "error",
    "at": "at",
    "from": "from",
    "text": "text",
}


def _parse_at(value: Any, where: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where}: 'at' must be an ISO 8601 date-time or a Unix time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds when that large
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"{where}: 'at' {value!r} is out of range") from exc
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{where}: 'at' {value!r} is not an ISO 8601 date-time") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    raise ValueError(f"{where}: 'at' must be an ISO 8601 date-time or a Unix time")


def _receipt_status(raw: Any, status_map: dict[str, Any], where: str) -> str | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw).strip() == "":
        raise ValueError(f"{where}: 'status' is missing or not a string")
    value = str(raw).strip()
    folded = {str(k).upper(): v for k, v in status_map.items()}
    if value.upper() in folded:
        mapped = folded[value.upper()]
        if mapped == "ignore":
            return None
        if mapped in RECEIPT_STATUSES:
            return mapped
        raise ValueError(
            f"settings 'receipt_status_map' maps {value!r} to {mapped!r}, "
            "not delivered, failed, expired or ignore"
        )
    if value.lower() in RECEIPT_STATUSES:
        return value.lower()
    upper = value.upper()
    if upper in RECEIPT_STATS:
        return RECEIPT_STATS[upper]
    if upper in NON_FINAL_STATS:
        return None
    raise ValueError(
        f"{where}: unknown status {value!r} (delivered, failed, expired, DELIVRD, UNDELIV, "
        "EXPIRED, REJECTD, …; settings 'receipt_status_map' can map others)"
    )


def parse_http_receipts(payload: Any, settings: dict) -> list[Receipt | Inbound]:
    """Receipts and replies from a provider's callback body.

    ``payload`` is a JSON object or a list of them. A receipt has ``id`` (the gateway id),
    ``status`` (``delivered|failed|expired`` or an SMPP stat word such as ``DELIVRD``,
    ``UNDELIV``, ``EXPIRED``, ``REJECTD``), optional ``error`` and ``at`` (ISO 8601, or Unix
    seconds / milliseconds; a naive time is UTC). A reply has ``from`` (normalised to E.164
    when possible, region ``settings["default_region"]`` or CN), ``text`` and optional ``at``.
    ``settings["receipt_fields"]`` renames fields (our name → theirs, dotted paths allowed),
    ``settings["receipt_status_map"]`` maps provider statuses to ours (or to ``"ignore"``).
    Intermediate states (ENROUTE, ACCEPTD, SENT, …) are skipped. ValueError naming the item
    and the problem for anything malformed.
    """
    settings = settings or {}
    fields = dict(RECEIPT_FIELDS)
    custom = settings.get("receipt_fields") or {}
    if not isinstance(custom, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in custom.items()
    ):
        raise ValueError("settings 'receipt_fields' must map field names to field names")
    unknown = set(custom) - set(RECEIPT_FIELDS)
    if unknown:
        raise ValueError(f"settings 'receipt_fields': unknown names {sorted(unknown)}")
    fields.update(custom)
    status_map = settings.get("receipt_status_map") or {}
    if not isinstance(status_map, dict):
        raise ValueError("settings 'receipt_status_map' must be an object")
    region = settings.get("default_region") or "CN"

    if isinstance(payload, dict):
        items: list[Any] = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise ValueError("the receipts payload must be a JSON object or a list of objects")

    events: list[Receipt | Inbound] = []
    for index, item in enumerate(items):
        where = f"item {index}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not a JSON object")
        gateway_id = _dig(item, fields["id"])
        sender = _dig(item, fields["from"])
        at = _parse_at(_dig(item, fields["at"]), where)
        if gateway_id is not None:
            if isinstance(gateway_id, bool) or not isinstance(gateway_id, str | int):
                raise ValueError(f"{where}: {fields['id']!r} must be a string")
            if str(gateway_id).strip() == "":
                raise ValueError(f"{where}: {fields['id']!r} is empty")
            status = _receipt_status(_dig(item, fields["status"]), status_map, where)
            if status is None:
                continue
            error = _dig(item, fields["error"])
            if error is not None and not isinstance(error, str | int | float):
                raise ValueError(f"{where}: {fields['error']!r} must be a string")
            events.append(
                Receipt(
                    gateway_id=str(gateway_id).strip(),
                    status=status,
                    error=None if error in (None, "") else str(error),
                    at=at,
                )
            )
        elif sender is not None:
            if (
                not isinstance(sender, str | int)
                or isinstance(sender, bool)
                or str(sender).strip() == ""
            ):
                raise ValueError(f"{where}: {fields['from']!r} must be a phone number")
            message = _dig(item, fields["text"])
            if not isinstance(message, str):
                raise ValueError(f"{where}: {fields['text']!r} is missing or not a string")
            events.append(
                Inbound(sender_phone=normalise_phone(str(sender), region), text=message, at=at)
            )
        else:
            raise ValueError(
                f"{where}: neither a receipt ({fields['id']!r}, {fields['status']!r}) "
                f"nor a reply ({fields['from']!r}, {fields['text']!r})"
            )
    return events
