"""What every gateway adapter shares: the message, answer, receipt and reply types, the
:class:`Gateway` protocol, :class:`GatewayError` and its codes, the receipt states carriers
report (see the package docstring for the error codes and each adapter)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import phonenumbers

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


def _segments(body: str) -> int:
    return max(1, len(sms_text.split(body)))


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


"""Default field names of a posted receipt / reply; ``settings["receipt_fields"]`` renames them."""
