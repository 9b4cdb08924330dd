"""SMS gateway adapters: how an institution's channel hands a finished text to a carrier.

The dispatcher builds one gateway per channel with :func:`build_gateway` and calls
``submit(OutboundMessage)`` for each outbox row, ``poll()`` now and then for delivery receipts
and replies, and ``close()`` when it stops. ``body`` is the final text, signature 【签名】
included: gateways send it exactly as given. ``settings`` are the channel's non-secret settings
(from the database), ``secrets`` the entry named by the channel's ``credentials_ref`` (from
the configuration); unknown setting keys are ignored.

Errors are :class:`GatewayError` with ``transient`` (retry later) and a ``code``:

- ``gateway_misconfigured`` (permanent): the channel cannot work as configured (unknown kind,
  missing or invalid setting, bad credentials: HTTP 401/403, SMPP bind refused for the
  system id or password). Every message would fail the same way: mark the channel down.
- ``invalid_message`` (permanent): this message cannot be sent (empty body, recipient not a
  phone number).
- ``gateway_rejected`` (permanent): the provider refused this message (HTTP 4xx, SMPP error
  status other than the throttling ones), with the provider's reason in ``message``.
- ``gateway_throttled`` (transient): HTTP 429, SMPP ESME_RTHROTTLED / ESME_RMSGQFUL.
- ``gateway_unreachable`` (transient): connection refused or failed, SMPP bind failed for
  another reason; nothing was sent.
- ``gateway_error`` (transient): HTTP 5xx, SMPP ESME_RSYSERR, an unparseable 2xx answer.
- ``gateway_outcome_unknown`` (transient): the request was sent and the answer never came
  (timeout, connection lost). On an ``idempotent`` gateway a retry with the same key is safe;
  on SMPP it may send the text twice.
- ``gateway_partial`` (transient or not, as the failing part's status): SMPP, a later part
  of a concatenated text failed after the first ones were accepted.

Adapters
--------

``file`` — :class:`FileGateway`, for demos, tests and carriers that take batch files.
    settings: ``path`` (required; relative to ``base_dir`` or absolute), ``fsync`` (bool,
    default false). Appends one JSON line per message, ``{"key", "to", "body", "sender",
    "segments", "at"}`` (UTF-8, not ASCII-escaped), and flushes it before ``submit`` returns,
    so a killed process never loses a line the database believes accepted (``fsync`` also
    survives a power cut, at a large cost in speed). Parent directories are created. The file
    stays open. ``idempotent``: on first use the keys already in the file are loaded; a key
    seen before returns ``Accepted(duplicate=True)`` and writes nothing. A last line cut short
    by a crash is removed (it was never acknowledged) unless it is a complete record, which
    is kept. ``gateway_id`` is the key. One process per file (keys are not shared between
    processes writing the same file).

``http`` — :class:`HttpGateway`, a generic JSON API (cloud SMS providers, the loopback peer).
    settings: ``url`` (required, http or https), ``method`` (``POST`` or ``PUT``, default
    ``POST``), ``timeout`` (seconds, default 5), ``field_map`` (our names ``key``, ``to``,
    ``body``, ``sender`` → the provider's JSON field names; identity by default),
    ``extra_fields`` (constant fields added to every request body, e.g. a template code),
    ``id_field`` (field of the response holding the provider's message id, default ``id``;
    a dotted path such as ``data.0.msgId`` reaches into nested objects and lists),
    ``auth_header`` (default ``Authorization``). secrets: ``token`` (optional, sent verbatim as
    the auth header's value, e.g. ``"Bearer xyz"``). One keep-alive connection, reopened after
    a failure; a request that fails on a reused connection before any answer (the server had
    closed it) is retried once on a new one. The key goes in the body (field ``key`` unless
    mapped) and in the ``Idempotency-Key`` header. ``idempotent`` on the documented
    assumption that the provider deduplicates on that key (the loopback peer does); do not use
    this adapter with a provider that does not. Answers: 2xx with the id → ``Accepted``
    (``duplicate`` from ``{"duplicate": true}``); 2xx without a parseable id, 5xx, 408, 409,
    425 and 429, connection errors and timeouts → transient; 401/403 and 3xx →
    ``gateway_misconfigured``; other 4xx → ``gateway_rejected`` with the provider's message.
    A provider that answers 200 with an error code in the body is seen as an answer without
    an id (transient).

``smpp`` — :class:`SmppGateway`, SMPP 3.4 (through smpplib) to a carrier's SMSC.
    settings: ``host``, ``port`` (required), ``system_id`` (required, at most 15 characters),
    ``bind`` (``transceiver``, default, or ``transmitter``), ``system_type`` (default empty),
    ``service_type`` (default empty), ``source_addr`` (sender id or short code, required),
    ``source_addr_ton`` / ``source_addr_npi`` (default 5/0 for an alphanumeric sender id, 1/1
    for ``+digits``, 0/1 for other digits), ``destination_format`` (``international``: digits
    with the country code, TON 1, the default; ``national``: the national number, TON 0),
    ``default_region`` (for numbers in replies without a country code, default ``CN``),
    ``timeout`` (seconds for connect, bind and each response, default 10),
    ``enquire_link_interval`` (seconds of silence before ``poll`` sends an enquire_link,
    default 30), ``receipt_timezone`` (IANA zone of the dates in receipt texts, default UTC).
    secrets: ``password`` (at most 8 characters). Connects and binds on the first ``submit``
    (or, for a transceiver, the first ``poll``, so receipts arrive after a restart). Text in
    the GSM 03.38 alphabet goes as GSM default (data_coding 0, one septet per octet), anything
    else as UCS-2 (data_coding 8); a text longer than one message is split the way
    :func:`gridserve.sms.text.split` counts it (153 septets / 67 UTF-16 units, never splitting
    an escape or a surrogate pair) with an 8-bit concatenation UDH. Each ``submit_sm_resp`` is
    awaited; deliver_sm and enquire_link arriving meanwhile are answered and their events
    queued for ``poll``. ``gateway_id`` is the first part's message_id, and only the first
    part asks for a receipt (``registered_delivery=1``; 0 on the others): its receipt is the
    text's, with no state to keep between gateway instances. Error statuses:
    ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR → transient, others
    permanent; a failed bind with ESME_RINVPASWD, ESME_RINVSYSID or ESME_RINVSYSTYP →
    ``gateway_misconfigured`` (permanent), any other bind failure → transient. Socket errors
    drop the connection (the next call binds again). Not ``idempotent``: SMPP has no
    idempotency key, a retry after ``gateway_outcome_unknown`` may send twice.
    Receipts: the receipted_message_id / message_state TLVs when present, else the standard
    text ``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:…``; DELIVRD → delivered,
    EXPIRED → expired, UNDELIV / REJECTD / DELETED / UNKNOWN → failed; intermediate states
    (ENROUTE, ACCEPTD) give no event. Other deliver_sm are replies (:class:`Inbound`, parts
    of a concatenated reply joined).

:func:`parse_http_receipts` reads what an HTTP provider posts to the receipts callback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import http.client
import ipaddress
import json
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from smpplib import client as smpp_client
from smpplib import consts as smpp_consts
from smpplib import exceptions as smpp_exc
from smpplib import smpp

from gridserve.db import utcnow
from gridserve.sms import text as sms_text

log = logging.getLogger(__name__)

# --- public types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundMessage:
    key: str
    """Idempotency key, unique per outbox row, e.g. ``"gs-12345"``."""
    to: str
    """E.164, e.g. ``"+8613800138000"``."""
    body: str
    """The final text, signature included."""
    sender: str
    """Institution code, e.g. ``"ICBC"`` (informational)."""


@dataclass(frozen=True)
class Accepted:
    gateway_id: str
    """The provider's message id, used to match delivery receipts."""
    segments: int
    """How many SMS parts were submitted."""
    duplicate: bool = False
    """The gateway recognised the key as already accepted."""


@dataclass(frozen=True)
class Receipt:
    """A delivery report."""

    gateway_id: str
    status: str
    """``"delivered"``, ``"failed"`` or ``"expired"``."""
    error: str | None = None
    at: dt.datetime | None = None
    """Aware UTC."""


@dataclass(frozen=True)
class Inbound:
    """A mobile-originated reply (opt-outs such as ``T``, ``TD``, ``退订``, ``STOP``)."""

    sender_phone: str
    """E.164 if it can be normalised, else as received."""
    text: str
    at: dt.datetime | None = None


class GatewayError(Exception):
    """A submit that did not succeed; ``transient`` says whether a retry may."""

    def __init__(self, message: str, *, transient: bool, code: str = "gateway_error") -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code

    def __repr__(self) -> str:
        return f"GatewayError({self.message!r}, transient={self.transient}, code={self.code!r})"


@runtime_checkable
class Gateway(Protocol):
    name: str
    """Adapter kind: ``"file"``, ``"http"`` or ``"smpp"``."""
    idempotent: bool
    """True if re-submitting the same key never sends twice."""

    def submit(self, message: OutboundMessage) -> Accepted: ...

    def poll(self) -> list[Receipt | Inbound]: ...

    def close(self) -> None: ...


RECEIPT_STATUSES = ("delivered", "failed", "expired")

MISCONFIGURED = "gateway_misconfigured"


def _misconfigured(message: str) -> GatewayError:
    return GatewayError(message, transient=False, code=MISCONFIGURED)


def _utcnow() -> dt.datetime:
    return utcnow()  # the one clock (tests travel with it)


_PHONE = re.compile(r"^\+?[0-9]{3,20}$")


def _check_message(message: OutboundMessage) -> None:
    if not message.key:
        raise GatewayError(
            "the message has no idempotency key", transient=False, code="invalid_message"
        )
    if not message.body:
        raise GatewayError("the message body is empty", transient=False, code="invalid_message")
    if not _PHONE.match(message.to or ""):
        raise GatewayError(
            f"the recipient {message.to!r} is not a phone number",
            transient=False,
            code="invalid_message",
        )


# --- where a gateway may connect -------------------------------------------------------------
#
# A channel's ``url`` / ``host`` is typed by a coordinator; without a check it could make the
# dispatcher talk to the cloud's metadata service (169.254.169.254) or to whatever answers on
# 0.0.0.0. A destination is refused when any address its name resolves to is link-local
# (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0, ::), multicast or the IPv4 broadcast
# address, or, when an allow-list is configured (``GRIDSERVE_SMS_ALLOWED_HOSTS``), when the
# host name matches none of its entries. Loopback and private addresses stay allowed (the
# tests, the demo and carriers' private links use them). The check runs when a channel is
# configured (:func:`check_destination`) and again at every connect (:func:`connect_checked`,
# which resolves once, checks, and connects to the very address it checked: a name that
# changes its answer between the two — DNS rebinding — gains nothing).

_getaddrinfo = socket.getaddrinfo  # tests replace it to simulate names; never the network


def _forbidden(address: str) -> str | None:
    """Why ``address`` may not be connected to, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    return None


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether ``host`` matches an allow-list entry (exact name or address, or a shell-style
    pattern such as ``*.sms.example.com``; case-insensitive). An empty list allows every host."""
    if not allowed_hosts:
        return True
    name = host.strip("[]").rstrip(".").lower()
    return any(fnmatch.fnmatchcase(name, p.strip("[]").rstrip(".").lower()) for p in allowed_hosts)


def resolve_checked(
    host: str, port: int, allowed_hosts: tuple[str, ...] = ()
) -> list[tuple[int, tuple[Any, ...]]]:
    """Resolve ``host`` once and return its ``(family, sockaddr)`` pairs, all of them allowed.

    ``gateway_misconfigured`` (permanent) for a host outside the allow-list or any forbidden
    address; ``gateway_unreachable`` (transient) when the name does not resolve.
    """
    label = f"{host}:{port}"
    if not host_allowed(host, allowed_hosts):
        raise _misconfigured(
            f"{host} is not in GRIDSERVE_SMS_ALLOWED_HOSTS ({', '.join(allowed_hosts)})"
        )
    try:
        infos = _getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise GatewayError(
            f"{label}: the name does not resolve ({exc})",
            transient=True,
            code="gateway_unreachable",
        ) from exc
    out: list[tuple[int, tuple[Any, ...]]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        reason = _forbidden(str(sockaddr[0]))
        if reason is not None:
            raise _misconfigured(f"{label} resolves to {sockaddr[0]}, a {reason} address: refused")
        out.append((family, sockaddr))
    if not out:
        raise GatewayError(
            f"{label}: the name has no IP address", transient=True, code="gateway_unreachable"
        )
    return out


def connect_checked(
    host: str, port: int, timeout: float | None, allowed_hosts: tuple[str, ...] = ()
) -> socket.socket:
    """A TCP connection to ``host`` through an address checked by :func:`resolve_checked`."""
    last: OSError | None = None
    for family, sockaddr in resolve_checked(host, port, allowed_hosts):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    assert last is not None
    raise last


def check_destination(gateway: Gateway) -> None:
    """Refuse (``gateway_misconfigured``) a gateway whose destination is forbidden now.

    An unresolvable name is refused as well: a channel is configured to be used.
    """
    target = getattr(gateway, "destination", None)
    if target is None:
        return
    host, port, allowed = target
    try:
        resolve_checked(host, port, allowed)
    except GatewayError as exc:
        if exc.code == MISCONFIGURED:
            raise
        raise _misconfigured(exc.message) from exc


def _segments(body: str) -> int:
    return max(1, len(sms_text.split(body)))


# --- GSM 03.38 ---------------------------------------------------------------------------------

GSM_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet, indexed by septet value (0x1B is the escape)."""
GSM_EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
"""Characters of the extension table: sent as 0x1B then this value."""
assert len(GSM_DEFAULT_ALPHABET) == 128
_GSM_INDEX = {ch: i for i, ch in enumerate(GSM_DEFAULT_ALPHABET) if ch != "\x1b"}
_GSM_EXT_REVERSE = {v: k for k, v in GSM_EXTENSION_TABLE.items()}


def gsm_encode(text: str) -> bytes:
    """Unpacked GSM 03.38 (one septet per octet, as SMPP data_coding 0 carries it).

    ValueError for a character outside the default alphabet and its extension table.
    """
    out = bytearray()
    for ch in text:
        index = _GSM_INDEX.get(ch)
        if index is not None:
            out.append(index)
        elif ch in GSM_EXTENSION_TABLE:
            out += bytes((0x1B, GSM_EXTENSION_TABLE[ch]))
        else:
            raise ValueError(f"{ch!r} is not in the GSM 03.38 alphabet")
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    """The inverse of :func:`gsm_encode`; an unknown escape gives a space, as handsets do."""
    out: list[str] = []
    escape = False
    for byte in data:
        septet = byte & 0x7F
        if escape:
            out.append(_GSM_EXT_REVERSE.get(septet, " "))
            escape = False
        elif septet == 0x1B:
            escape = True
        else:
            out.append(GSM_DEFAULT_ALPHABET[septet])
    return "".join(out)


# --- file --------------------------------------------------------------------------------------


class FileGateway:
    """Appends JSON lines to a file; see the module docstring."""

    name = "file"
    idempotent = True

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self._handle: Any = None
        self._keys: dict[str, int] = {}
        self._lock = threading.Lock()

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+b")  # noqa: SIM115 - kept open for the gateway's life
        except OSError as exc:
            raise _misconfigured(f"cannot open the outbox file {self.path}: {exc}") from exc
        try:
            self._keys = self._load(handle)
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def _load(self, handle: Any) -> dict[str, int]:
        handle.seek(0)
        keys: dict[str, int] = {}
        tail = b""
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                tail = raw  # only the last line can lack its newline
                break
            record = _record(raw)
            if record is None:
                if raw.strip():
                    log.warning("%s: line %d is not a message record, ignored", self.path, number)
                continue
            keys[record["key"]] = int(record.get("segments") or 1)
        if tail:
            size = handle.tell()
            record = _record(tail)
            if record is not None:
                # A complete record that lost only its newline stays: it may have been reported.
                keys[record["key"]] = int(record.get("segments") or 1)
                handle.write(b"\n")
            else:
                # Cut short by a crash before submit returned: never acknowledged, so removed.
                log.warning("%s: removing a truncated last line (%d bytes)", self.path, len(tail))
                handle.truncate(size - len(tail))
            handle.flush()
        return keys

    def submit(self, message: OutboundMessage) -> Accepted:
        _check_message(message)
        with self._lock:
            if self._handle is None:
                self._open()
            known = self._keys.get(message.key)
            if known is not None:
                return Accepted(gateway_id=message.key, segments=known, duplicate=True)
            segments = _segments(message.body)
            line = json.dumps(
                {
                    "key": message.key,
                    "to": message.to,
                    "body": message.body,
                    "sender": message.sender,
                    "segments": segments,
                    "at": _utcnow().isoformat(timespec="milliseconds"),
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            try:
                self._handle.write(line.encode("utf-8") + b"\n")
                self._handle.flush()
                if self.fsync:
                    os.fsync(self._handle.fileno())
            except OSError as exc:
                # The line may be half written: reopen (and repair) on the next submit.
                self._close_handle()
                raise GatewayError(
                    f"cannot write the outbox file {self.path}: {exc}",
                    transient=True,
                    code="gateway_error",
                ) from exc
            self._keys[message.key] = segments
            return Accepted(gateway_id=message.key, segments=segments)

    def poll(self) -> list[Receipt | Inbound]:
        return []

    def _close_handle(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None

    def close(self) -> None:
        with self._lock:
            self._close_handle()


def _record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if isinstance(record, dict) and isinstance(record.get("key"), str):
        return record
    return None


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


# --- smpp --------------------------------------------------------------------------------------

ESME_ROK = 0x00
ESME_RSYSERR = 0x08
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RINVSYSTYP = 0x53
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64
SMPP_TRANSIENT = {ESME_RTHROTTLED: "gateway_throttled", ESME_RMSGQFUL: "gateway_throttled"}
SMPP_TRANSIENT[ESME_RSYSERR] = "gateway_error"
SMPP_BAD_CREDENTIALS = {ESME_RINVPASWD, ESME_RINVSYSID, ESME_RINVSYSTYP}

DATA_CODING_GSM = 0x00
DATA_CODING_UCS2 = 0x08
ESM_UDHI = 0x40
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_INTERMEDIATE = 0x20

RECEIPT_STATS = {
    "DELIVRD": "delivered",
    "DELIVERED": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "UNDELIVERABLE": "failed",
    "REJECTD": "failed",
    "REJECTED": "failed",
    "DELETED": "failed",
    "UNKNOWN": "failed",
    "FAILED": "failed",
}
"""Final receipt states (SMPP 3.4 appendix B stat words and their long forms)."""
NON_FINAL_STATS = {"ENROUTE", "ACCEPTD", "ACCEPTED", "BUFFERED", "PENDING", "SENT", "SUBMITTED"}
MESSAGE_STATE_TLV = {
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    7: "UNKNOWN",
    8: "REJECTD",
    1: "ENROUTE",
    6: "ACCEPTD",
}

_RECEIPT_TEXT = re.compile(r"\bid:(?P<id>[^\s]+)", re.IGNORECASE)
_RECEIPT_STAT = re.compile(r"\bstat:(?P<stat>[A-Za-z_]+)", re.IGNORECASE)
_RECEIPT_ERR = re.compile(r"\berr:(?P<err>[0-9A-Za-z]+)", re.IGNORECASE)
_RECEIPT_DONE = re.compile(r"\bdone date:(?P<done>\d{10,12})\b", re.IGNORECASE)

_MAX_PENDING_REPLIES = 1000


def _decode_short_message(data: bytes, data_coding: int) -> str:
    coding = data_coding & 0xFF
    if coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", "replace")
    if coding in (0x01,):
        return data.decode("ascii", "replace")
    if coding in (0x03, 0x02, 0x04):
        return data.decode("latin-1")
    if coding == DATA_CODING_GSM or coding & 0xF0 in (0xF0, 0x00):
        return gsm_decode(data)
    return data.decode("latin-1")


def _split_udh(data: bytes) -> tuple[bytes, tuple[int, int, int] | None]:
    """(payload, (reference, total, sequence) of a concatenated part or None)."""
    if not data:
        return data, None
    length = data[0]
    header, payload = data[1 : 1 + length], data[1 + length :]
    concat = None
    pos = 0
    while pos + 2 <= len(header):
        iei, iel = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + iel]
        if iei == 0x00 and iel == 3 and len(value) == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4 and len(value) == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + iel
    return payload, concat


def normalise_phone(value: str, region: str = "CN", ton: int | None = None) -> str:
    """E.164 when ``phonenumbers`` recognises the number, else ``value`` unchanged."""
    raw = value.strip()
    candidate = raw
    if ton == 1 and raw and not raw.startswith("+"):
        candidate = "+" + raw
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_possible_number(number):
        return raw
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


def _parse_done_date(value: str, zone: dt.tzinfo) -> dt.datetime | None:
    fmt = "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
    try:
        local = dt.datetime.strptime(value, fmt).replace(tzinfo=zone)
    except ValueError:
        return None
    return local.astimezone(dt.UTC)


class SmppGateway:
    """SMPP 3.4 through smpplib, one bind, synchronous submits; see the module docstring."""

    name = "smpp"
    idempotent = False

    def __init__(
        self,
        *,
        host: str,
        port: int,
        system_id: str,
        password: str,
        source_addr: str,
        bind: str = "transceiver",
        system_type: str = "",
        service_type: str = "",
        source_addr_ton: int | None = None,
        source_addr_npi: int | None = None,
        destination_format: str = "international",
        default_region: str = "CN",
        timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        receipt_timezone: str = "UTC",
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        if bind not in ("transceiver", "transmitter"):
            raise _misconfigured(
                f"smpp gateway: bind must be transceiver or transmitter, got {bind!r}"
            )
        if destination_format not in ("international", "national"):
            raise _misconfigured(
                f"smpp gateway: destination_format must be international or national, "
                f"got {destination_format!r}"
            )
        for label, value, limit in (
            ("system_id", system_id, 15),
            ("password", password, 8),
            ("system_type", system_type, 12),
            ("service_type", service_type, 5),
            ("source_addr", source_addr, 20),
        ):
            if len(value) > limit or not value.isascii():
                raise _misconfigured(
                    f"smpp gateway: {label} must be at most {limit} ASCII characters"
                )
        try:
            zone = ZoneInfo(receipt_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _misconfigured(
                f"smpp gateway: unknown receipt_timezone {receipt_timezone!r}"
            ) from exc
        self.host = host
        self.port = port
        self.system_id = system_id
        self.password = password
        self.source_addr = source_addr
        self.bind = bind
        self.system_type = system_type
        self.service_type = service_type
        default_ton, default_npi = _default_source_ton_npi(source_addr)
        self.source_addr_ton = default_ton if source_addr_ton is None else source_addr_ton
        self.source_addr_npi = default_npi if source_addr_npi is None else source_addr_npi
        self.destination_format = destination_format
        self.default_region = default_region
        self.timeout = timeout
        self.enquire_link_interval = enquire_link_interval
        self.receipt_zone: dt.tzinfo = zone
        self.allowed_hosts = tuple(allowed_hosts)
        self._client: Any = None
        self._last_io = 0.0
        self._retry_connect_at = 0.0
        self._closing = False
        self._closed = False
        self._events: list[Receipt | Inbound] = []
        self._mo_parts: dict[tuple[str, int, int], dict[int, bytes]] = {}
        self._ref = int.from_bytes(os.urandom(1), "big")
        self._lock = threading.RLock()

    # -- connection

    @property
    def destination(self) -> tuple[str, int, tuple[str, ...]]:
        return self.host, self.port, self.allowed_hosts

    def _bind_now(self) -> Any:
        client = smpp_client.Client(
            self.host, self.port, timeout=self.timeout, allow_unknown_opt_params=True
        )
        try:
            # smpplib's connect() would resolve the name again: connect through the address
            # checked now (see connect_checked) and hand smpplib the open socket.
            client._socket = connect_checked(self.host, self.port, self.timeout, self.allowed_hosts)
            client.state = smpp_consts.SMPP_CLIENT_STATE_OPEN
        except GatewayError:
            _discard(client)  # refused destination, or the name does not resolve
            raise
        except OSError as exc:
            _discard(client)
            raise GatewayError(
                f"smpp {self.host}:{self.port}: cannot connect",
                transient=True,
                code="gateway_unreachable",
            ) from exc
        bind = client.bind_transceiver if self.bind == "transceiver" else client.bind_transmitter
        try:
            bind(
                system_id=self.system_id,
                password=self.password,
                system_type=self.system_type,
                addr_ton=0,
                addr_npi=0,
                address_range="",
            )
        except smpp_exc.PDUError as exc:
            _discard(client)
            status = exc.args[1] if len(exc.args) > 1 else None
            if status in SMPP_BAD_CREDENTIALS:
                raise _misconfigured(
                    f"smpp {self.host}:{self.port}: bind refused for system_id "
                    f"{self.system_id!r}: {exc.args[0]}"
                ) from exc
            raise GatewayError(
                f"smpp {self.host}:{self.port}: bind failed: {exc.args[0] if exc.args else exc}",
                transient=True,
                code="gateway_unreachable",
            ) from exc
        except (smpp_exc.ConnectionError, OSError, smpp_exc.UnknownCommandError) as exc:
            _discard(client)
            raise GatewayError(
                f"smpp {self.host}:{self.port}: connection lost during bind",
                transient=True,
                code="gateway_unreachable",
            ) from exc
        self._client = client
        self._last_io = time.monotonic()
        log.info("smpp %s:%s bound as %s (%s)", self.host, self.port, self.system_id, self.bind)
        return client

    def _ensure_bound(self) -> Any:
        if self._client is None:
            self._closed = False
            return self._bind_now()
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            _discard(self._client)
            self._client = None

    def _send(self, pdu: Any) -> None:
        self._client.send_pdu(pdu)
        self._last_io = time.monotonic()

    def _read(self, wait: float) -> Any:
        """The next PDU, or None if nothing arrives within ``wait`` seconds."""
        client = self._client
        readable, _, _ = select.select([client._socket], [], [], max(wait, 0))
        if not readable:
            return None
        pdu = client.read_pdu()  # a started PDU is read whole, within the socket timeout
        self._last_io = time.monotonic()
        return pdu

    def _respond(self, command: str, request: Any, status: int = ESME_ROK) -> None:
        response = smpp.make_pdu(command, client=self._client, status=status)
        response.sequence = request.sequence
        self._send(response)

    def _handle_unsolicited(self, pdu: Any) -> None:
        """deliver_sm, enquire_link, unbind and stray responses seen while reading."""
        command = pdu.command
        if command == "deliver_sm":
            if self._closing:
                # Let the SMSC deliver it again on the next bind rather than lose it here.
                self._respond("deliver_sm_resp", pdu, ESME_RX_T_APPN)
                return
            try:
                event = self._event_from(pdu)
            except Exception:  # a malformed deliver_sm must not kill the bind
                log.exception("smpp %s:%s: unreadable deliver_sm ignored", self.host, self.port)
                event = None
            self._respond("deliver_sm_resp", pdu)
            if event is not None:
                self._events.append(event)
        elif command == "enquire_link":
            self._respond("enquire_link_resp", pdu)
        elif command == "unbind":
            self._respond("unbind_resp", pdu)
            raise ConnectionError("the SMSC unbound")
        elif command in ("enquire_link_resp", "unbind_resp", "generic_nack", "deliver_sm_resp"):
            pass
        else:
            log.debug("smpp %s:%s: %s ignored", self.host, self.port, command)

    def _await(self, sequence: int, command: str) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {command} within {self.timeout:g} s")
            pdu = self._read(remaining)
            if pdu is None:
                continue
            if pdu.sequence == sequence and pdu.command in (command, "generic_nack"):
                return pdu
            self._handle_unsolicited(pdu)

    # -- events

    def _event_from(self, pdu: Any) -> Receipt | Inbound | None:
        esm = int(pdu.esm_class or 0)
        kind = esm & ESM_TYPE_MASK
        receipted = _text(getattr(pdu, "receipted_message_id", None)).strip("\x00")
        data = pdu.short_message or b""
        if not data and getattr(pdu, "message_payload", None):
            data = pdu.message_payload
        coding = int(pdu.data_coding or 0)
        if kind in (ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE) or receipted:
            receipt = self._receipt_from(pdu, receipted, _decode_short_message(data, coding))
            return receipt
        ton = int(pdu.source_addr_ton or 0)
        phone = normalise_phone(_text(pdu.source_addr), self.default_region, ton)
        if esm & ESM_UDHI:
            data, concat = _split_udh(data)
            if concat is not None:
                reference, total, seq = concat
                key = (phone, reference, total)
                if key not in self._mo_parts and len(self._mo_parts) >= _MAX_PENDING_REPLIES:
                    del self._mo_parts[next(iter(self._mo_parts))]  # the oldest never completed
                parts = self._mo_parts.setdefault(key, {})
                parts[seq] = data
                if len(parts) < total:
                    return None
                del self._mo_parts[key]
                data = b"".join(parts[i] for i in sorted(parts))
        return Inbound(sender_phone=phone, text=_decode_short_message(data, coding), at=_utcnow())

    def _receipt_from(self, pdu: Any, receipted: str, text: str) -> Receipt | None:
        match = _RECEIPT_TEXT.search(text)
        gateway_id = receipted or (match.group("id") if match else "")
        state = getattr(pdu, "message_state", None)
        stat_match = _RECEIPT_STAT.search(text)
        if state is not None and int(state) in MESSAGE_STATE_TLV:
            stat = MESSAGE_STATE_TLV[int(state)]
        elif stat_match:
            stat = stat_match.group("stat").upper()
        else:
            stat = ""
        if not gateway_id or not stat:
            log.warning("smpp %s:%s: receipt without id or state: %r", self.host, self.port, text)
            return None
        if stat in NON_FINAL_STATS:
            return None
        status = RECEIPT_STATS.get(stat)
        if status is None:
            log.warning("smpp %s:%s: unknown receipt state %r", self.host, self.port, stat)
            status = "failed"
        err_match = _RECEIPT_ERR.search(text)
        error = None
        if status != "delivered":
            error = stat + (f" err:{err_match.group('err')}" if err_match else "")
        done = _RECEIPT_DONE.search(text)
        at = _parse_done_date(done.group("done"), self.receipt_zone) if done else None
        return Receipt(gateway_id=gateway_id, status=status, error=error, at=at or _utcnow())

    # -- submit

    def _destination(self, to: str) -> tuple[str, int, int]:
        digits = to.lstrip("+")
        if self.destination_format == "national" and to.startswith("+"):
            try:
                number = phonenumbers.parse(to, None)
                return phonenumbers.national_significant_number(number), 0, 1
            except phonenumbers.NumberParseException:
                return digits, 0, 1
        return digits, 1, 1

    def _encode(self, body: str) -> tuple[list[bytes], int, int]:
        """(short_message per part, data_coding, esm_class)."""
        chunks = sms_text.split(body)
        if sms_text.encoding(body) == "GSM-7":
            coding, encode = DATA_CODING_GSM, gsm_encode
        else:
            coding, encode = DATA_CODING_UCS2, lambda s: s.encode("utf-16-be")
        if len(chunks) == 1:
            return [encode(chunks[0])], coding, 0
        if len(chunks) > 255:
            raise GatewayError(
                "the text needs more than 255 parts", transient=False, code="invalid_message"
            )
        self._ref = (self._ref + 1) % 256
        total = len(chunks)
        return (
            [
                bytes((5, 0, 3, self._ref, total, i)) + encode(c)
                for i, c in enumerate(chunks, start=1)
            ],
            coding,
            ESM_UDHI,
        )

    def _submit_part(self, pdu: Any) -> Any:
        self._send(pdu)
        return self._await(pdu.sequence, "submit_sm_resp")

    def submit(self, message: OutboundMessage) -> Accepted:
        _check_message(message)
        parts, coding, esm = self._encode(message.body)
        destination, dest_ton, dest_npi = self._destination(message.to)
        with self._lock:
            self._ensure_bound()
            ids: list[str] = []
            for index, part in enumerate(parts):
                attempts = 1 if index == 0 else 4
                for attempt in range(attempts):
                    pdu = smpp.make_pdu(
                        "submit_sm",
                        client=self._client,
                        service_type=self.service_type,
                        source_addr_ton=self.source_addr_ton,
                        source_addr_npi=self.source_addr_npi,
                        source_addr=self.source_addr,
                        dest_addr_ton=dest_ton,
                        dest_addr_npi=dest_npi,
                        destination_addr=destination,
                        esm_class=esm,
                        registered_delivery=1 if index == 0 else 0,
                        data_coding=coding,
                        short_message=part,
                    )
                    try:
                        resp = self._submit_part(pdu)
                    except (
                        OSError,
                        ConnectionError,
                        smpp_exc.ConnectionError,
                        smpp_exc.PDUError,
                        smpp_exc.UnknownCommandError,
                    ) as exc:
                        self._drop()
                        where = f"part {index + 1}/{len(parts)} " if len(parts) > 1 else ""
                        raise GatewayError(
                            f"smpp {self.host}:{self.port}: {where}submit_sm without answer: {exc}",
                            transient=True,
                            code="gateway_partial" if ids else "gateway_outcome_unknown",
                        ) from exc
                    status = int(resp.status or 0)
                    if status == ESME_ROK:
                        break
                    if status in SMPP_TRANSIENT and attempt + 1 < attempts:
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    description = smpp_consts.DESCRIPTIONS.get(status, "unknown status")
                    detail = (
                        f"smpp {self.host}:{self.port}: submit_sm refused "
                        f"(0x{status:02X} {description})"
                    )
                    if ids:
                        detail += f" at part {index + 1}/{len(parts)} after {', '.join(ids)}"
                        raise GatewayError(
                            detail, transient=status in SMPP_TRANSIENT, code="gateway_partial"
                        )
                    if status in SMPP_TRANSIENT:
                        raise GatewayError(detail, transient=True, code=SMPP_TRANSIENT[status])
                    raise GatewayError(detail, transient=False, code="gateway_rejected")
                message_id = _text(resp.message_id).strip("\x00").strip()
                if not message_id:
                    self._drop()
                    raise GatewayError(
                        f"smpp {self.host}:{self.port}: submit_sm_resp without message_id",
                        transient=True,
                        code="gateway_partial" if ids else "gateway_outcome_unknown",
                    )
                ids.append(message_id)
            return Accepted(gateway_id=ids[0], segments=len(parts))

    # -- poll / close

    def poll(self) -> list[Receipt | Inbound]:
        with self._lock:
            if (
                self._client is None
                and self.bind == "transceiver"
                and not self._closed
                and time.monotonic() >= self._retry_connect_at
            ):
                try:
                    self._bind_now()
                except GatewayError as exc:
                    self._retry_connect_at = time.monotonic() + 5.0
                    log.warning("smpp poll: %s", exc.message)
            if self._client is not None:
                try:
                    deadline = time.monotonic() + 0.05
                    while True:
                        pdu = self._read(max(0.0, deadline - time.monotonic()))
                        if pdu is None:
                            break
                        self._handle_unsolicited(pdu)
                    if time.monotonic() - self._last_io > self.enquire_link_interval:
                        self._send(smpp.make_pdu("enquire_link", client=self._client))
                except (
                    OSError,
                    ConnectionError,
                    smpp_exc.ConnectionError,
                    smpp_exc.PDUError,
                    smpp_exc.UnknownCommandError,
                ) as exc:
                    log.warning(
                        "smpp %s:%s: connection dropped while polling: %s",
                        self.host,
                        self.port,
                        exc,
                    )
                    self._drop()
            events, self._events = self._events, []
            return events

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._client is None:
                return
            self._closing = True
            try:
                unbind = smpp.make_pdu("unbind", client=self._client)
                self._send(unbind)
                self._await(unbind.sequence, "unbind_resp")
            except Exception as exc:  # closing anyway
                log.debug("smpp %s:%s: unbind: %s", self.host, self.port, exc)
            finally:
                self._drop()
                self._closing = False


def _default_source_ton_npi(source_addr: str) -> tuple[int, int]:
    if source_addr.startswith("+") and source_addr[1:].isdigit():
        return 1, 1
    if source_addr.isdigit():
        return 0, 1
    return 5, 0


def _discard(client: Any) -> None:
    sock = getattr(client, "_socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
    client._socket = None
    client.state = 0


# --- building from a channel -------------------------------------------------------------------


def _setting_str(
    settings: dict, name: str, kind: str, *, required: bool = False, default: str = ""
) -> str:
    value = settings.get(name)
    if value is None or value == "":
        if required:
            raise _misconfigured(f"{kind} gateway: setting {name!r} is required")
        return default
    if not isinstance(value, str):
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be a string")
    return value


def _setting_num(
    settings: dict, name: str, kind: str, default: float, *, minimum: float = 0.0
) -> float:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > minimum:
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be a number above {minimum:g}")
    return float(value)


def _setting_int(settings: dict, name: str, kind: str, *, low: int, high: int) -> int | None:
    value = settings.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be an integer {low}–{high}")
    return value


def _setting_map(settings: dict, name: str, kind: str) -> dict[str, Any]:
    value = settings.get(name) or {}
    if not isinstance(value, dict):
        raise _misconfigured(f"{kind} gateway: setting {name!r} must be an object")
    return value


def build_gateway(
    kind: str,
    settings: dict,
    secrets: dict,
    base_dir: Path,
    *,
    allowed_hosts: tuple[str, ...] = (),
) -> Gateway:
    """The adapter for a channel. ``GatewayError(transient=False, code="gateway_misconfigured")``
    for an unknown ``kind`` or a missing or invalid setting or secret. ``allowed_hosts``: the
    hosts an http or smpp gateway may connect to (empty: any; see :func:`resolve_checked`)."""
    if not isinstance(settings, dict):
        raise _misconfigured("gateway settings must be an object")
    secrets = secrets or {}
    if kind == "file":
        path = Path(_setting_str(settings, "path", kind, required=True))
        if not path.is_absolute():
            path = Path(base_dir) / path
        fsync = settings.get("fsync", False)
        if not isinstance(fsync, bool):
            raise _misconfigured("file gateway: setting 'fsync' must be true or false")
        return FileGateway(path, fsync=fsync)
    if kind == "http":
        field_map = _setting_map(settings, "field_map", kind)
        unknown = set(field_map) - {"key", "to", "body", "sender"}
        if unknown or not all(isinstance(v, str) and v for v in field_map.values()):
            raise _misconfigured(
                "http gateway: field_map maps key, to, body, sender to non-empty field names"
            )
        token = secrets.get("token")
        if token is not None and not isinstance(token, str):
            raise _misconfigured("http gateway: secret 'token' must be a string")
        return HttpGateway(
            _setting_str(settings, "url", kind, required=True),
            method=_setting_str(settings, "method", kind, default="POST"),
            timeout=_setting_num(settings, "timeout", kind, 5.0),
            field_map=field_map,
            extra_fields=_setting_map(settings, "extra_fields", kind),
            id_field=_setting_str(settings, "id_field", kind, default="id"),
            auth_header=_setting_str(settings, "auth_header", kind, default="Authorization"),
            token=token or None,
            allowed_hosts=allowed_hosts,
        )
    if kind == "smpp":
        port = _setting_int(settings, "port", kind, low=1, high=65535)
        if port is None:
            raise _misconfigured("smpp gateway: setting 'port' is required")
        password = secrets.get("password")
        if not isinstance(password, str):
            raise _misconfigured("smpp gateway: secret 'password' is required")
        return SmppGateway(
            host=_setting_str(settings, "host", kind, required=True),
            port=port,
            system_id=_setting_str(settings, "system_id", kind, required=True),
            password=password,
            source_addr=_setting_str(settings, "source_addr", kind, required=True),
            bind=_setting_str(settings, "bind", kind, default="transceiver"),
            system_type=_setting_str(settings, "system_type", kind),
            service_type=_setting_str(settings, "service_type", kind),
            source_addr_ton=_setting_int(settings, "source_addr_ton", kind, low=0, high=6),
            source_addr_npi=_setting_int(settings, "source_addr_npi", kind, low=0, high=18),
            destination_format=_setting_str(
                settings, "destination_format", kind, default="international"
            ),
            default_region=_setting_str(settings, "default_region", kind, default="CN"),
            timeout=_setting_num(settings, "timeout", kind, 10.0),
            enquire_link_interval=_setting_num(settings, "enquire_link_interval", kind, 30.0),
            receipt_timezone=_setting_str(settings, "receipt_timezone", kind, default="UTC"),
            allowed_hosts=allowed_hosts,
        )
    raise _misconfigured(f"unknown gateway kind {kind!r} (file, http or smpp)")


# --- HTTP receipts callback --------------------------------------------------------------------

RECEIPT_FIELDS = {
    "id": "id",
    "status": "status",
    "error": "error",
    "at": "at",
    "from": "from",
    "text": "text",
}
"""Default field names of a posted receipt / reply; ``settings["receipt_fields"]`` renames them."""


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


__all__ = [
    "GSM_DEFAULT_ALPHABET",
    "GSM_EXTENSION_TABLE",
    "RECEIPT_FIELDS",
    "Accepted",
    "FileGateway",
    "Gateway",
    "GatewayError",
    "HttpGateway",
    "Inbound",
    "OutboundMessage",
    "Receipt",
    "SmppGateway",
    "build_gateway",
    "gsm_decode",
    "gsm_encode",
    "normalise_phone",
    "parse_http_receipts",
]
