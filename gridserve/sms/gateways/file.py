"""The ``file`` adapter: one JSON line per message, for demos, tests and batch-file carriers
(see the package docstring)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from gridserve.sms.gateways.base import (
    Accepted,
    GatewayError,
    Inbound,
    OutboundMessage,
    Receipt,
    _check_message,
    _misconfigured,
    _segments,
    _utcnow,
    log,
)

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
