"""The ``smpp`` adapter: SMPP 3.4 (through smpplib) to a carrier's SMSC, with GSM 03.38
encoding (see the package docstring for its settings and behaviour)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import select
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from smpplib import client as smpp_client
from smpplib import consts as smpp_consts
from smpplib import exceptions as smpp_exc
from smpplib import smpp

from gridserve.sms import text as sms_text
from gridserve.sms.gateways.base import (
    NON_FINAL_STATS,
    RECEIPT_STATS,
    Accepted,
    GatewayError,
    Inbound,
    OutboundMessage,
    Receipt,
    _check_message,
    _misconfigured,
    _utcnow,
    log,
    normalise_phone,
)
from gridserve.sms.gateways.destinations import connect_checked
from gridserve.sms.gateways.gsm import gsm_decode, gsm_encode

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
            # Not the receipt's text: its "text:" field quotes the start of the message.
            log.warning(
                "smpp %s:%s: receipt without id or state (%d characters)",
                self.host,
                self.port,
                len(text),
            )
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
