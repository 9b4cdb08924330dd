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

Modules: :mod:`.base` (the types, the protocol, errors), :mod:`.destinations` (where a gateway
may connect), :mod:`.file`, :mod:`.http` (with the receipts callback parser), :mod:`.smpp`
(with :mod:`.gsm`, the GSM 03.38 alphabet) and :mod:`.build` (:func:`build_gateway`). This
package re-exports the public names.

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

from gridserve.sms.gateways.base import (
    Accepted,
    Gateway,
    GatewayError,
    Inbound,
    OutboundMessage,
    Receipt,
    normalise_phone,
)
from gridserve.sms.gateways.build import build_gateway
from gridserve.sms.gateways.destinations import (
    check_destination,
    connect_checked,
    host_allowed,
    resolve_checked,
)
from gridserve.sms.gateways.file import FileGateway
from gridserve.sms.gateways.gsm import (
    GSM_DEFAULT_ALPHABET,
    GSM_EXTENSION_TABLE,
    gsm_decode,
    gsm_encode,
)
from gridserve.sms.gateways.http import RECEIPT_FIELDS, HttpGateway, parse_http_receipts
from gridserve.sms.gateways.smpp import SmppGateway

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
    "check_destination",
    "connect_checked",
    "gsm_decode",
    "gsm_encode",
    "host_allowed",
    "normalise_phone",
    "parse_http_receipts",
    "resolve_checked",
]
