"""Loopback SMS peers for tests and benches: an HTTP JSON SMS API and an SMPP 3.4 SMSC.

Both listen on 127.0.0.1 and run in-process (threads)::

    with HttpPeer(log_path=path, token="Bearer t").start() as peer:
        ...  # peer.port, peer.messages, peer.requests

    with SmppPeer(system_id="gridserve", password="secret").start() as peer:
        ...  # peer.port, peer.messages, peer.submits, peer.inject_mo("+8613800138000", "TD")

or as a subprocess, printing ``LISTENING <port>`` on stdout once ready and stopping on
SIGTERM / SIGINT::

    python -m tests.sms.peers http --port 0 --log out.jsonl [--delay-ms N] [--fail-every N]
                                   [--token "Bearer t"]
    python -m tests.sms.peers smpp --port 0 --log out.jsonl [--delay-ms N] [--fail-every N]
                                   [--system-id gridserve] [--password secret] [--throttle N]
                                   [--no-receipts] [--receipt-stat DELIVRD]

HTTP peer: ``POST /send`` with JSON ``{key, to, body, sender}`` (field names configurable) and
an ``Idempotency-Key`` header. A new key is recorded (``messages``, and a JSON line
``{"key", "to", "body", "sender", "id", "at"}`` flushed to the log) and answered
``{"id": "peer-000001"}``; a key seen before answers the same id with ``"duplicate": true`` and
records nothing new. Every request, duplicates and failures included, is in ``requests``.
``delay_ms`` delays each answer, ``fail_every=N`` answers every Nth request 503, a body
containing ``REJECTME`` is answered 400 ``{"message": "rejected by peer"}``, and a ``token``
requires that exact ``Authorization`` header value (401 otherwise). Kept-alive connections
(HTTP/1.1) are served and closed by ``stop()``.

SMPP peer: accepts bind_transmitter / bind_transceiver / bind_receiver (wrong system_id →
ESME_RINVSYSID, wrong password → ESME_RINVPASWD), submit_sm (answered with a hex message_id),
enquire_link and unbind. Each submit_sm is in ``submits`` (destination, data coding, decoded
text, concatenation reference / total / sequence from the UDH); parts are reassembled into
``messages`` (and the log). After a complete message on a transceiver bind, it sends a
delivery receipt for each part that asked for one (esm_class 0x04, the standard text
``id:… sub:001 dlvrd:001 submit date:… done date:… stat:DELIVRD err:000 text:`` plus the
receipted_message_id / message_state TLVs unless ``receipt_tlvs=False``). ``throttle(n)``
answers the next n submits ESME_RTHROTTLED (so does every Nth with ``fail_every``);
``inject_mo(phone, text)`` sends a mobile-originated deliver_sm to the bound transceivers;
``send_enquire_link()`` asks them for an enquire_link_resp (counted in ``enquire_link_resps``).

Both peers can hold a submission: after ``hold_next()`` the next ``POST /send`` or submit_sm
waits (``held`` is set) until ``release()``, then goes on as usual, so a test can kill the
sender while a text is in flight.
PDUs are encoded and decoded with smpplib's command classes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from smpplib import consts as smpp_consts
from smpplib import smpp

from gridserve.sms.gateways import gsm_decode, gsm_encode

HOST = "127.0.0.1"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class _JsonLog:
    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._handle: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _Hold:
    """Holds the next submission until released (see the module docstring)."""

    def __init__(self) -> None:
        self.held = threading.Event()  # a submission is waiting
        self._armed = False
        self._go = threading.Event()
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            self._armed = True
            self.held.clear()
            self._go.clear()

    def release(self) -> None:
        self._go.set()

    def here(self) -> None:
        """Called by a submission: waits if it is the one to hold (at most 60 s)."""
        with self._lock:
            if not self._armed:
                return
            self._armed = False
        self.held.set()
        self._go.wait(60)


class _Holding:
    """``hold_next()``, ``held`` and ``release()`` for both peers."""

    _hold: _Hold

    @property
    def held(self) -> threading.Event:
        return self._hold.held

    def hold_next(self) -> None:
        """Hold the next submission until :meth:`release`."""
        self._hold.arm()

    def release(self) -> None:
        self._hold.release()


# --- HTTP --------------------------------------------------------------------------------------


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: with Nagle and delayed ACKs a keep-alive client
    # would otherwise wait 40 ms for every answer.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.peer._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.peer._track(self.connection, False)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(405, {"message": "use POST /send"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        answer = self.server.peer._handle(self.command, self.path, dict(self.headers), data)
        with contextlib.suppress(OSError):  # the sender may be gone (killed mid-request)
            self._reply(*answer)

    do_PUT = do_POST


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    peer: HttpPeer


class HttpPeer(_Holding):
    """The loopback HTTP JSON SMS API; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = HOST,
        port: int = 0,
        log_path: str | Path | None = None,
        delay_ms: int = 0,
        fail_every: int = 0,
        token: str | None = None,
        fields: dict[str, str] | None = None,
        id_field: str = "id",
    ) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self.delay_ms = delay_ms
        self.fail_every = fail_every
        self.token = token
        self.fields = {k: k for k in ("key", "to", "body", "sender")} | (fields or {})
        self.id_field = id_field
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._ids: dict[str, str] = {}
        self._hold = _Hold()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._log: _JsonLog | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/send"

    def start(self) -> HttpPeer:
        self._log = _JsonLog(self.log_path)
        server = _HttpServer((self.host, self.port), _HttpHandler)
        server.peer = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()  # a held request must not keep a thread waiting
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> HttpPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(
        self, method: str, path: str, headers: dict[str, str], data: Any
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "json": data})
            number = len(self.requests)
        if path.split("?")[0] == "/send":
            self._hold.here()
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        if path.split("?")[0] != "/send":
            return 404, {"message": f"no such endpoint {path}"}
        if self.fail_every and number % self.fail_every == 0:
            return 503, {"message": "peer busy (fail_every)"}
        if self.token is not None and headers.get("Authorization") != self.token:
            return 401, {"message": "missing or wrong token"}
        if not isinstance(data, dict):
            return 400, {"message": "the body must be a JSON object"}
        values = {ours: data.get(theirs) for ours, theirs in self.fields.items()}
        key = values["key"] or headers.get("Idempotency-Key")
        if not isinstance(key, str) or not key:
            return 400, {"message": "no idempotency key"}
        if not isinstance(values["to"], str) or not isinstance(values["body"], str):
            return 400, {"message": "to and body are required strings"}
        if "REJECTME" in values["body"]:
            return 400, {"message": "rejected by peer"}
        with self._lock:
            known = self._ids.get(key)
            if known is not None:
                return 200, {self.id_field: known, "duplicate": True}
            message_id = f"peer-{len(self.messages) + 1:06d}"
            record = {
                "key": key,
                "to": values["to"],
                "body": values["body"],
                "sender": values["sender"],
                "id": message_id,
                "at": _now(),
            }
            self._ids[key] = message_id
            self.messages.append(record)
            if self._log is not None:
                self._log.write(record)
        return 200, {self.id_field: message_id}


# --- SMPP --------------------------------------------------------------------------------------


class _Sequence:
    """The client object smpplib's PDU classes take: a sequence number source."""

    def __init__(self) -> None:
        self.sequence = 0
        self._lock = threading.Lock()

    def next_sequence(self) -> int:
        with self._lock:
            self.sequence = self.sequence % 0x7FFFFFFF + 1
            return self.sequence


_PARSER = _Sequence()


def parse_udh(data: bytes) -> tuple[bytes, tuple[int, int, int] | None]:
    """(payload, (reference, total, sequence) or None) of a short_message with a UDH."""
    if not data:
        return data, None
    header_len = data[0]
    header, payload = data[1 : 1 + header_len], data[1 + header_len :]
    concat = None
    pos = 0
    while pos + 2 <= len(header):
        iei, iel = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + iel]
        if iei == 0x00 and iel == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + iel
    return payload, concat


def decode_text(data: bytes, data_coding: int) -> str:
    if data_coding == 0x08:
        return data.decode("utf-16-be")
    if data_coding in (0x01,):
        return data.decode("ascii")
    if data_coding in (0x03,):
        return data.decode("latin-1")
    return gsm_decode(data)


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


class _SmppConnection:
    def __init__(self, peer: SmppPeer, sock: socket.socket) -> None:
        self.peer = peer
        self.sock = sock
        self.seq = _Sequence()
        self.bound: str | None = None
        self._write = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def send(self, pdu: Any) -> None:
        data = pdu.generate()
        with self._write:
            self.sock.sendall(data)

    def respond(self, command: str, request: Any, status: int = 0, **fields: Any) -> None:
        response = smpp.make_pdu(command, client=self.seq, status=status, **fields)
        response.sequence = request.sequence
        self.send(response)

    def _recv_exact(self, size: int) -> bytes | None:
        chunks = []
        while size:
            chunk = self.sock.recv(size)
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def run(self) -> None:
        try:
            while True:
                head = self._recv_exact(4)
                if head is None:
                    break
                (length,) = struct.unpack(">L", head)
                if length < 16 or length > 65536:
                    break
                rest = self._recv_exact(length - 4)
                if rest is None:
                    break
                data = head + rest
                try:
                    pdu = smpp.parse_pdu(data, client=_PARSER, allow_unknown_opt_params=True)
                except Exception:
                    nack = smpp.make_pdu("generic_nack", client=self.seq, status=0x03)
                    nack.sequence = struct.unpack(">L", data[12:16])[0]
                    self.send(nack)
                    continue
                if not self.handle(pdu):
                    break
        except OSError:
            pass
        finally:
            self.bound = None
            with contextlib.suppress(OSError):
                self.sock.close()
            self.peer._forget(self)

    def handle(self, pdu: Any) -> bool:
        command = pdu.command
        peer = self.peer
        if command in ("bind_transmitter", "bind_transceiver", "bind_receiver"):
            system_id, password = _s(pdu.system_id), _s(pdu.password)
            if self.bound:
                status = smpp_consts.SMPP_ESME_RALYBND
            elif system_id != peer.system_id:
                status = smpp_consts.SMPP_ESME_RINVSYSID
            elif password != peer.password:
                status = smpp_consts.SMPP_ESME_RINVPASWD
            else:
                status = 0
                self.bound = command.removeprefix("bind_")
            with peer._lock:
                peer.binds.append(
                    {
                        "bind": command.removeprefix("bind_"),
                        "system_id": system_id,
                        "system_type": _s(pdu.system_type),
                        "status": status,
                    }
                )
            self.respond(f"{command}_resp", pdu, status, system_id="gridpeer")
            return True
        if command == "unbind":
            self.respond("unbind_resp", pdu)
            return False
        if command == "enquire_link":
            self.respond("enquire_link_resp", pdu)
            return True
        if command == "enquire_link_resp":
            with peer._lock:
                peer.enquire_link_resps += 1
            return True
        if command == "deliver_sm_resp":
            with peer._lock:
                peer.deliver_acks.append({"sequence": pdu.sequence, "status": pdu.status})
            return True
        if command == "generic_nack":
            return True
        if not self.bound:
            self.respond("generic_nack", pdu, smpp_consts.SMPP_ESME_RINVBNDSTS)
            return True
        if command == "submit_sm":
            if self.bound == "receiver":
                self.respond("submit_sm_resp", pdu, smpp_consts.SMPP_ESME_RINVBNDSTS)
                return True
            self.submit(pdu)
            return True
        self.respond("generic_nack", pdu, smpp_consts.SMPP_ESME_RINVCMDID)
        return True

    def submit(self, pdu: Any) -> None:
        peer = self.peer
        peer._hold.here()
        if peer.delay_ms:
            time.sleep(peer.delay_ms / 1000)
        with peer._lock:
            peer._submit_count += 1
            throttled = peer._throttle > 0 or (
                peer.fail_every and peer._submit_count % peer.fail_every == 0
            )
            if peer._throttle > 0:
                peer._throttle -= 1
            if throttled:
                peer.throttled += 1
        if throttled:
            self.respond("submit_sm_resp", pdu, smpp_consts.SMPP_ESME_RTHROTTLED)
            return
        raw = pdu.short_message or b""
        esm = int(pdu.esm_class or 0)
        coding = int(pdu.data_coding or 0)
        payload, concat = parse_udh(raw) if esm & 0x40 else (raw, None)
        source, destination = _s(pdu.source_addr), _s(pdu.destination_addr)
        complete: dict[str, Any] | None = None
        with peer._lock:
            peer._next_id += 1
            message_id = f"{peer._next_id:08X}"
            part = {
                "id": message_id,
                "source": source,
                "source_ton": pdu.source_addr_ton or 0,
                "destination": destination,
                "dest_ton": pdu.dest_addr_ton or 0,
                "data_coding": coding,
                "esm_class": esm,
                "registered_delivery": pdu.registered_delivery or 0,
                "text": decode_text(payload, coding),
                "concat": concat,
            }
            peer.submits.append(part)
            if concat is None:
                parts = [part]
            else:
                reference, total, _ = concat
                key = (id(self), source, destination, reference, total)
                pending = peer._pending.setdefault(key, {})
                pending[concat[2]] = (part, payload)
                parts = []
                if len(pending) == total:
                    del peer._pending[key]
                    ordered = [pending[i] for i in sorted(pending)]
                    parts = [p for p, _ in ordered]
                    payload = b"".join(chunk for _, chunk in ordered)
            if parts:
                complete = {
                    "id": parts[0]["id"],
                    "ids": [p["id"] for p in parts],
                    "source": source,
                    "to": destination,
                    "text": decode_text(payload, coding),
                    "data_coding": coding,
                    "parts": len(parts),
                    "at": _now(),
                }
                peer.messages.append(complete)
                peer._log_write(complete)
        self.respond("submit_sm_resp", pdu, message_id=message_id)
        if complete is not None and self.bound == "transceiver" and peer.receipts:
            for p in parts:
                if p["registered_delivery"] & 0x01:
                    self.send(peer._receipt_pdu(self.seq, p))


class SmppPeer(_Holding):
    """The loopback SMPP 3.4 SMSC; see the module docstring."""

    def __init__(
        self,
        system_id: str = "gridserve",
        password: str = "secret",
        *,
        host: str = HOST,
        port: int = 0,
        log_path: str | Path | None = None,
        delay_ms: int = 0,
        fail_every: int = 0,
        throttle: int = 0,
        receipts: bool = True,
        receipt_stat: str = "DELIVRD",
        receipt_tlvs: bool = True,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.host = host
        self.port = port
        self.log_path = log_path
        self.delay_ms = delay_ms
        self.fail_every = fail_every
        self.receipts = receipts
        self.receipt_stat = receipt_stat
        self.receipt_tlvs = receipt_tlvs
        self.messages: list[dict[str, Any]] = []
        self.submits: list[dict[str, Any]] = []
        self.binds: list[dict[str, Any]] = []
        self.deliver_acks: list[dict[str, Any]] = []
        self.enquire_link_resps = 0
        self._hold = _Hold()
        self.throttled = 0
        self._throttle = throttle
        self._submit_count = 0
        self._next_id = 0x5A000000
        self._pending: dict[tuple, dict[int, tuple[dict[str, Any], bytes]]] = {}
        self._connections: list[_SmppConnection] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._log: _JsonLog | None = None
        self._mo_ref = 0

    def start(self) -> SmppPeer:
        self._log = _JsonLog(self.log_path)
        server = socket.create_server((self.host, self.port))
        server.settimeout(0.05)
        self._server = server
        self.port = server.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _SmppConnection(self, sock)
            with self._lock:
                self._connections.append(conn)
            conn.thread.start()

    def stop(self) -> None:
        self.release()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            conn.thread.join(timeout=5)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> SmppPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forget(self, conn: _SmppConnection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)

    def _log_write(self, record: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.write(record)

    def throttle(self, count: int) -> None:
        """Answer the next ``count`` submit_sm with ESME_RTHROTTLED."""
        with self._lock:
            self._throttle = count

    def bound(self, kinds: tuple[str, ...] = ("transceiver", "receiver")) -> list[_SmppConnection]:
        with self._lock:
            return [c for c in self._connections if c.bound in kinds]

    def _receipt_pdu(self, seq: _Sequence, part: dict[str, Any]) -> Any:
        stamp = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M")
        stat = self.receipt_stat
        delivered = stat == "DELIVRD"
        text = (
            f"id:{part['id']} sub:001 dlvrd:{'001' if delivered else '000'} submit date:{stamp} "
            f"done date:{stamp} stat:{stat} err:{'000' if delivered else '001'} text:"
        )
        fields: dict[str, Any] = {}
        if self.receipt_tlvs:
            states = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "REJECTD": 8}
            fields = {"receipted_message_id": part["id"], "message_state": states.get(stat, 7)}
        return smpp.make_pdu(
            "deliver_sm",
            client=seq,
            source_addr_ton=part["dest_ton"],
            source_addr_npi=1,
            source_addr=part["destination"],
            dest_addr_ton=part["source_ton"],
            dest_addr_npi=1,
            destination_addr=part["source"],
            esm_class=0x04,
            data_coding=0,
            short_message=text.encode("ascii"),
            **fields,
        )

    def inject_mo(self, phone: str, text: str, *, destination: str = "106900") -> int:
        """Send a mobile-originated deliver_sm (split with a UDH if long) to every bound
        transceiver / receiver; the number of binds it went to. RuntimeError if none."""
        connections = self.bound()
        if not connections:
            raise RuntimeError("no transceiver is bound")
        try:
            encoded, coding, single, per_part = gsm_encode(text), 0x00, 160, 153
        except ValueError:
            encoded, coding, single, per_part = text.encode("utf-16-be"), 0x08, 140, 134
        if len(encoded) <= single:
            chunks, esm = [encoded], 0x00
        else:
            with self._lock:
                self._mo_ref = (self._mo_ref + 1) % 256
                ref = self._mo_ref
            pieces = [encoded[i : i + per_part] for i in range(0, len(encoded), per_part)]
            chunks = [
                bytes((5, 0, 3, ref, len(pieces), n)) + piece
                for n, piece in enumerate(pieces, start=1)
            ]
            esm = 0x40
        international = phone.startswith("+")
        for conn in connections:
            for chunk in chunks:
                conn.send(
                    smpp.make_pdu(
                        "deliver_sm",
                        client=conn.seq,
                        source_addr_ton=1 if international else 0,
                        source_addr_npi=1,
                        source_addr=phone.lstrip("+"),
                        dest_addr_ton=0,
                        dest_addr_npi=1,
                        destination_addr=destination,
                        esm_class=esm,
                        data_coding=coding,
                        short_message=chunk,
                    )
                )
        return len(connections)

    def send_enquire_link(self) -> int:
        """An enquire_link to every bound connection; the number sent."""
        connections = self.bound(("transceiver", "transmitter", "receiver"))
        for conn in connections:
            conn.send(smpp.make_pdu("enquire_link", client=conn.seq))
        return len(connections)


# --- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.sms.peers", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind in ("http", "smpp"):
        p = sub.add_parser(kind)
        p.add_argument("--host", default=HOST)
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--log", default=None, help="JSON lines file of accepted messages")
        p.add_argument("--delay-ms", type=int, default=0)
        p.add_argument("--fail-every", type=int, default=0)
        if kind == "http":
            p.add_argument("--token", default=None, help="required Authorization header value")
        else:
            p.add_argument("--system-id", default="gridserve")
            p.add_argument("--password", default="secret")
            p.add_argument("--throttle", type=int, default=0)
            p.add_argument("--no-receipts", action="store_true")
            p.add_argument("--receipt-stat", default="DELIVRD")
    args = parser.parse_args(argv)

    peer: HttpPeer | SmppPeer
    if args.kind == "http":
        peer = HttpPeer(
            host=args.host,
            port=args.port,
            log_path=args.log,
            delay_ms=args.delay_ms,
            fail_every=args.fail_every,
            token=args.token,
        )
    else:
        peer = SmppPeer(
            args.system_id,
            args.password,
            host=args.host,
            port=args.port,
            log_path=args.log,
            delay_ms=args.delay_ms,
            fail_every=args.fail_every,
            throttle=args.throttle,
            receipts=not args.no_receipts,
            receipt_stat=args.receipt_stat,
        )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    peer.start()
    print(f"LISTENING {peer.port}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        peer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
