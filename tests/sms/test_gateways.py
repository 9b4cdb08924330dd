"""SMS gateways against real loopback peers on 127.0.0.1 (tests/sms/peers.py), no mocks."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gridserve.sms import text as sms_text
from gridserve.sms.gateways import (
    Accepted,
    FileGateway,
    Gateway,
    GatewayError,
    Inbound,
    OutboundMessage,
    Receipt,
    build_gateway,
    gsm_decode,
    gsm_encode,
    parse_http_receipts,
)
from tests.sms.peers import HttpPeer, SmppPeer

REPO = Path(__file__).resolve().parents[2]
PHONE = "+8613800138000"
SHORT_ZH = "【工商银行】小微企业金融服务宣传月，欢迎到网点咨询。回T退订"
LONG_ZH = (
    "【达州银行】小微企业金融服务宣传月：我行推出首贷、续贷、信用贷等多种产品，"
    "线上申请、当日审批，欢迎小微企业主和个体工商户到就近网点或通过手机银行咨询办理，"
    "详情请拨打客服热线。回T退订"
)


def msg(key: str, body: str = SHORT_ZH, to: str = PHONE, sender: str = "ICBC") -> OutboundMessage:
    return OutboundMessage(key=key, to=to, body=body, sender=sender)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll_until(
    gateway: Gateway, done: Callable[[list], bool], timeout: float = 3.0
) -> list[Receipt | Inbound]:
    events: list[Receipt | Inbound] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events += gateway.poll()
        if done(events):
            return events
        time.sleep(0.02)
    return events


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- file --------------------------------------------------------------------------------------


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_file_appends_utf8_lines_under_base_dir(tmp_path: Path) -> None:
    gateway = build_gateway("file", {"path": "sms-outbox/ICBC.jsonl"}, {}, tmp_path)
    assert gateway.name == "file" and gateway.idempotent
    first = gateway.submit(msg("gs-1"))
    second = gateway.submit(msg("gs-2", LONG_ZH))
    gateway.close()

    path = tmp_path / "sms-outbox" / "ICBC.jsonl"
    assert first == Accepted(gateway_id="gs-1", segments=1)
    assert second.segments == len(sms_text.split(LONG_ZH)) > 1
    assert "工商银行" in path.read_text(encoding="utf-8")  # not ASCII-escaped
    lines = _lines(path)
    assert [line["key"] for line in lines] == ["gs-1", "gs-2"]
    assert set(lines[0]) == {"key", "to", "body", "sender", "segments", "at"}
    assert lines[0]["body"] == SHORT_ZH and lines[0]["to"] == PHONE
    assert lines[0]["sender"] == "ICBC"
    assert dt.datetime.fromisoformat(lines[0]["at"]).utcoffset() == dt.timedelta(0)


def test_file_line_is_on_disk_before_submit_returns(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    gateway = FileGateway(path)
    gateway.submit(msg("gs-1"))
    # Another reader sees the line while the gateway still holds the file open.
    assert [line["key"] for line in _lines(path)] == ["gs-1"]
    gateway.close()


def test_file_dedupes_keys_across_a_reopen(tmp_path: Path) -> None:
    settings = {"path": str(tmp_path / "out.jsonl")}  # absolute path
    first = build_gateway("file", settings, {}, Path("/nonexistent"))
    accepted = first.submit(msg("gs-1", LONG_ZH))
    assert first.submit(msg("gs-1", LONG_ZH)).duplicate
    first.close()

    second = build_gateway("file", settings, {}, Path("/nonexistent"))
    again = second.submit(msg("gs-1", LONG_ZH))
    assert again == Accepted(
        gateway_id=accepted.gateway_id, segments=accepted.segments, duplicate=True
    )
    assert not second.submit(msg("gs-2")).duplicate
    second.close()
    assert [line["key"] for line in _lines(tmp_path / "out.jsonl")] == ["gs-1", "gs-2"]


def test_file_tolerates_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    good = json.dumps({"key": "gs-1", "to": PHONE, "body": "x", "sender": "A", "segments": 1})
    path.write_text(good + "\n" + '{"key": "gs-2", "to": "+86138', encoding="utf-8")

    gateway = FileGateway(path)
    assert gateway.submit(msg("gs-1")).duplicate
    assert not gateway.submit(msg("gs-2")).duplicate  # the cut line was never acknowledged
    gateway.close()
    assert [line["key"] for line in _lines(path)] == ["gs-1", "gs-2"]


def test_file_keeps_a_complete_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"key": "gs-1", "segments": 2}), encoding="utf-8")
    gateway = FileGateway(path)
    assert gateway.submit(msg("gs-1")) == Accepted("gs-1", 2, duplicate=True)
    gateway.submit(msg("gs-3"))
    gateway.close()
    assert [line["key"] for line in _lines(path)] == ["gs-1", "gs-3"]


def test_file_is_fast(tmp_path: Path) -> None:
    gateway = FileGateway(tmp_path / "out.jsonl")
    started = time.perf_counter()
    for i in range(10_000):
        gateway.submit(msg(f"gs-{i}"))
    elapsed = time.perf_counter() - started
    gateway.close()
    assert elapsed < 3.0, f"10,000 messages took {elapsed:.2f} s"


# --- http --------------------------------------------------------------------------------------


@pytest.fixture
def http_peer(tmp_path: Path) -> Iterator[HttpPeer]:
    with HttpPeer(log_path=tmp_path / "peer.jsonl", token="Bearer s3cret").start() as peer:
        yield peer


def http_gateway(peer: HttpPeer, token: str | None = "Bearer s3cret", **settings) -> Gateway:
    return build_gateway(
        "http", {"url": peer.url, **settings}, {"token": token} if token else {}, Path(".")
    )


def test_http_accepts_and_sends_key_and_token(http_peer: HttpPeer, tmp_path: Path) -> None:
    gateway = http_gateway(http_peer)
    assert gateway.name == "http" and gateway.idempotent
    accepted = gateway.submit(msg("gs-1"))
    gateway.submit(msg("gs-2", "Hello"))
    gateway.close()

    assert accepted == Accepted(gateway_id="peer-000001", segments=1)
    request = http_peer.requests[0]
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["Idempotency-Key"] == "gs-1"
    assert request["json"] == {"key": "gs-1", "to": PHONE, "body": SHORT_ZH, "sender": "ICBC"}
    logged = _lines(tmp_path / "peer.jsonl")
    assert [(line["key"], line["id"], line["body"]) for line in logged] == [
        ("gs-1", "peer-000001", SHORT_ZH),
        ("gs-2", "peer-000002", "Hello"),
    ]


def test_http_duplicate_key_is_not_recorded_twice(http_peer: HttpPeer) -> None:
    gateway = http_gateway(http_peer)
    first = gateway.submit(msg("gs-1"))
    again = gateway.submit(msg("gs-1"))
    gateway.close()
    assert again == Accepted(gateway_id=first.gateway_id, segments=1, duplicate=True)
    assert len(http_peer.messages) == 1
    assert len(http_peer.requests) == 2


def test_http_503_is_transient() -> None:
    with HttpPeer(fail_every=2).start() as peer:
        gateway = http_gateway(peer, token=None)
        gateway.submit(msg("gs-1"))
        with pytest.raises(GatewayError) as err:
            gateway.submit(msg("gs-2"))
        assert err.value.transient and err.value.code == "gateway_error"
        assert "503" in err.value.message
        assert gateway.submit(msg("gs-2")).gateway_id == "peer-000002"  # the retry goes through
        gateway.close()


def test_http_400_is_permanent_with_the_providers_message(http_peer: HttpPeer) -> None:
    gateway = http_gateway(http_peer)
    with pytest.raises(GatewayError) as err:
        gateway.submit(msg("gs-1", "REJECTME please"))
    gateway.close()
    assert not err.value.transient and err.value.code == "gateway_rejected"
    assert "rejected by peer" in err.value.message
    assert http_peer.messages == []


def test_http_wrong_token_is_misconfigured(http_peer: HttpPeer) -> None:
    gateway = http_gateway(http_peer, token="Bearer wrong")
    with pytest.raises(GatewayError) as err:
        gateway.submit(msg("gs-1"))
    gateway.close()
    assert not err.value.transient and err.value.code == "gateway_misconfigured"


def test_http_connection_refused_is_transient() -> None:
    gateway = build_gateway("http", {"url": f"http://127.0.0.1:{free_port()}/send"}, {}, Path("."))
    with pytest.raises(GatewayError) as err:
        gateway.submit(msg("gs-1"))
    assert err.value.transient and err.value.code == "gateway_unreachable"


def test_http_timeout_is_transient() -> None:
    with HttpPeer(delay_ms=600).start() as peer:
        gateway = http_gateway(peer, token=None, timeout=0.15)
        with pytest.raises(GatewayError) as err:
            gateway.submit(msg("gs-1"))
        gateway.close()
    assert err.value.transient and err.value.code == "gateway_outcome_unknown"


def test_http_reconnects_after_the_server_went_away() -> None:
    port = free_port()
    with HttpPeer(port=port).start() as peer:
        gateway = http_gateway(peer, token=None)
        gateway.submit(msg("gs-1"))
        assert len(peer.requests) == 1
    with HttpPeer(port=port).start() as peer:  # the kept-alive connection is now dead
        assert gateway.submit(msg("gs-2")).gateway_id == "peer-000001"
        assert [m["key"] for m in peer.messages] == ["gs-2"]
        gateway.close()


def test_http_field_map_and_nested_id() -> None:
    with HttpPeer(fields={"to": "mobile", "body": "content"}, id_field="bizId").start() as peer:
        gateway = http_gateway(
            peer,
            token=None,
            field_map={"to": "mobile", "body": "content"},
            id_field="bizId",
            extra_fields={"templateCode": "SMS_1"},
        )
        accepted = gateway.submit(msg("gs-1"))
        gateway.close()
        assert accepted.gateway_id == "peer-000001"
        sent = peer.requests[0]["json"]
        assert sent == {
            "templateCode": "SMS_1",
            "key": "gs-1",
            "mobile": PHONE,
            "content": SHORT_ZH,
            "sender": "ICBC",
        }


def _read_listening(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("LISTENING "):
                return int(line.split()[1])
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"no LISTENING line; stderr: {proc.stderr.read() if proc.stderr else ''}")


def test_http_peer_as_a_subprocess(tmp_path: Path) -> None:
    log = tmp_path / "sub.jsonl"
    with subprocess.Popen(
        [sys.executable, "-m", "tests.sms.peers", "http", "--port", "0", "--log", str(log)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as proc:
        try:
            port = _read_listening(proc)
            gateway = build_gateway("http", {"url": f"http://127.0.0.1:{port}/send"}, {}, Path("."))
            accepted = gateway.submit(msg("gs-1"))
            assert gateway.submit(msg("gs-1")).duplicate
            gateway.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert proc.returncode == 0
    assert [(line["key"], line["id"], line["body"]) for line in _lines(log)] == [
        ("gs-1", accepted.gateway_id, SHORT_ZH)
    ]


# --- smpp --------------------------------------------------------------------------------------


@pytest.fixture
def smpp_peer(tmp_path: Path) -> Iterator[SmppPeer]:
    with SmppPeer("gridserve", "secret", log_path=tmp_path / "smsc.jsonl").start() as peer:
        yield peer


def smpp_gateway(peer: SmppPeer, password: str = "secret", **settings) -> Gateway:
    base = {
        "host": "127.0.0.1",
        "port": peer.port,
        "system_id": "gridserve",
        "source_addr": "106900",
        "timeout": 3,
    }
    return build_gateway("smpp", base | settings, {"password": password}, Path("."))


@pytest.fixture
def smpp(smpp_peer: SmppPeer) -> Iterator[Gateway]:
    gateway = smpp_gateway(smpp_peer)
    yield gateway
    gateway.close()


def test_smpp_chinese_text_arrives_intact_in_ucs2(smpp: Gateway, smpp_peer: SmppPeer) -> None:
    assert smpp.name == "smpp" and not smpp.idempotent
    accepted = smpp.submit(msg("gs-1"))
    assert accepted.segments == 1
    assert smpp_peer.binds == [
        {"bind": "transceiver", "system_id": "gridserve", "system_type": "", "status": 0}
    ]
    [part] = smpp_peer.submits
    assert part["id"] == accepted.gateway_id
    assert part["data_coding"] == 0x08 and part["concat"] is None
    assert part["destination"] == "8613800138000" and part["dest_ton"] == 1
    assert part["source"] == "106900" and part["registered_delivery"] == 1
    assert smpp_peer.messages[0]["text"] == SHORT_ZH


def test_smpp_long_chinese_text_is_concatenated(smpp: Gateway, smpp_peer: SmppPeer) -> None:
    assert len(LONG_ZH) > 70
    accepted = smpp.submit(msg("gs-1", LONG_ZH))
    expected_parts = len(sms_text.split(LONG_ZH))
    assert accepted.segments == expected_parts >= 2
    [message] = smpp_peer.messages
    assert message["text"] == LONG_ZH
    assert message["parts"] == expected_parts and message["id"] == accepted.gateway_id
    concat = [part["concat"] for part in smpp_peer.submits]
    assert len({ref for ref, _, _ in concat}) == 1
    assert [(total, seq) for _, total, seq in concat] == [
        (expected_parts, i) for i in range(1, expected_parts + 1)
    ]
    assert all(part["esm_class"] & 0x40 for part in smpp_peer.submits)
    # Only the first part asks for a receipt: it stands for the whole text.
    assert [part["registered_delivery"] for part in smpp_peer.submits] == [1] + [0] * (
        expected_parts - 1
    )


def test_smpp_gsm_text_uses_the_default_alphabet(smpp: Gateway, smpp_peer: SmppPeer) -> None:
    body = "Rates from 3.5% {promo} €100 & more @ branch"
    smpp.submit(msg("gs-1", body))
    assert smpp_peer.submits[0]["data_coding"] == 0x00
    assert smpp_peer.messages[0]["text"] == body


def test_gsm_encoding_tables() -> None:
    assert gsm_encode("@£$A§¿à") == bytes((0x00, 0x01, 0x02, 0x41, 0x5F, 0x60, 0x7F))
    assert gsm_encode("€{}") == bytes((0x1B, 0x65, 0x1B, 0x28, 0x1B, 0x29))
    every = "".join(sorted(sms_text.GSM_BASIC | sms_text.GSM_EXTENSION))
    assert gsm_decode(gsm_encode(every)) == every
    with pytest.raises(ValueError):
        gsm_encode("中")


def test_smpp_receipt_arrives_through_poll(smpp: Gateway) -> None:
    short = smpp.submit(msg("gs-1"))
    long = smpp.submit(msg("gs-2", LONG_ZH))  # one receipt, for the first part
    events = poll_until(smpp, lambda ev: len(ev) >= 2)
    time.sleep(0.1)
    events += smpp.poll()
    receipts = {event.gateway_id: event for event in events if isinstance(event, Receipt)}
    assert len(events) == 2 and set(receipts) == {short.gateway_id, long.gateway_id}
    for receipt in receipts.values():
        assert receipt.status == "delivered" and receipt.error is None
        assert receipt.at is not None and receipt.at.utcoffset() == dt.timedelta(0)


def test_smpp_receipt_from_the_text_alone_failed() -> None:
    with SmppPeer(receipt_tlvs=False, receipt_stat="UNDELIV").start() as peer:
        gateway = smpp_gateway(peer)
        accepted = gateway.submit(msg("gs-1"))
        events = poll_until(gateway, bool)
        gateway.close()
    assert len(events) == 1
    assert events[0].gateway_id == accepted.gateway_id
    assert events[0].status == "failed" and "UNDELIV" in (events[0].error or "")


def test_smpp_reply_td_arrives_as_inbound(smpp: Gateway, smpp_peer: SmppPeer) -> None:
    smpp.poll()  # a transceiver binds on its first poll, to hear replies
    assert smpp_peer.inject_mo("+8613900139000", "TD") == 1
    smpp_peer.inject_mo("13700137000", "退订" * 40)  # national number, concatenated UCS-2
    events = poll_until(smpp, lambda ev: len(ev) >= 2)
    assert [(e.sender_phone, e.text) for e in events if isinstance(e, Inbound)] == [
        ("+8613900139000", "TD"),
        ("+8613700137000", "退订" * 40),
    ]
    assert all(ack["status"] == 0 for ack in smpp_peer.deliver_acks)


def test_smpp_answers_enquire_link_and_events_seen_during_submit(
    smpp: Gateway, smpp_peer: SmppPeer
) -> None:
    smpp.submit(msg("gs-1"))
    smpp_peer.send_enquire_link()
    smpp_peer.inject_mo("+8613900139000", "STOP")
    time.sleep(0.1)
    smpp.submit(msg("gs-2"))  # reads the enquire_link, receipt and reply while awaiting its resp
    assert wait_for(lambda: smpp_peer.enquire_link_resps == 1)
    events = poll_until(smpp, lambda ev: len(ev) >= 3)
    assert sum(isinstance(e, Receipt) for e in events) == 2
    assert [e.text for e in events if isinstance(e, Inbound)] == ["STOP"]


def test_smpp_throttled_is_transient(smpp: Gateway, smpp_peer: SmppPeer) -> None:
    smpp_peer.throttle(1)
    with pytest.raises(GatewayError) as err:
        smpp.submit(msg("gs-1"))
    assert err.value.transient and err.value.code == "gateway_throttled"
    assert smpp_peer.messages == []
    smpp.submit(msg("gs-1"))
    assert len(smpp_peer.messages) == 1


def test_smpp_wrong_password_is_permanent(smpp_peer: SmppPeer) -> None:
    gateway = smpp_gateway(smpp_peer, password="nope")
    with pytest.raises(GatewayError) as err:
        gateway.submit(msg("gs-1"))
    gateway.close()
    assert not err.value.transient and err.value.code == "gateway_misconfigured"
    assert smpp_peer.binds[0]["status"] == 0x0E
    assert smpp_peer.submits == []


def test_smpp_connection_loss_is_transient_and_rebinds() -> None:
    port = free_port()
    with SmppPeer(port=port).start() as peer:
        gateway = smpp_gateway(peer)
        gateway.submit(msg("gs-1"))
    with pytest.raises(GatewayError) as err:  # the SMSC is gone
        gateway.submit(msg("gs-2"))
    assert err.value.transient
    with SmppPeer(port=port).start() as peer:
        gateway.submit(msg("gs-2"))
        assert [m["text"] for m in peer.messages] == [SHORT_ZH]
        assert len(peer.binds) == 1
        gateway.close()


def test_smpp_connection_refused_is_transient() -> None:
    gateway = build_gateway(
        "smpp",
        {"host": "127.0.0.1", "port": free_port(), "system_id": "g", "source_addr": "106900"},
        {"password": "x"},
        Path("."),
    )
    with pytest.raises(GatewayError) as err:
        gateway.submit(msg("gs-1"))
    assert err.value.transient and err.value.code == "gateway_unreachable"
    gateway.close()


# --- build_gateway -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "settings", "secrets"),
    [
        ("fax", {}, {}),
        ("file", {}, {}),
        ("http", {"url": "ftp://example.com/send"}, {}),
        ("http", {"url": "http://example.com/send", "timeout": "fast"}, {}),
        ("smpp", {"host": "h", "port": 2775, "system_id": "s", "source_addr": "1"}, {}),
        (
            "smpp",
            {"host": "h", "port": 99999, "system_id": "s", "source_addr": "1"},
            {"password": "p"},
        ),
    ],
)
def test_build_gateway_misconfigured(kind: str, settings: dict, secrets: dict) -> None:
    with pytest.raises(GatewayError) as err:
        build_gateway(kind, settings, secrets, Path("."))
    assert not err.value.transient and err.value.code == "gateway_misconfigured"


# --- parse_http_receipts -----------------------------------------------------------------------


def test_parse_http_receipts_default_fields() -> None:
    events = parse_http_receipts(
        [
            {"id": "peer-1", "status": "DELIVRD", "at": "2026-04-09T08:00:05+08:00"},
            {
                "id": "peer-2",
                "status": "failed",
                "error": "blacklisted",
                "at": "2026-04-09T00:00:00",
            },
            {"id": "peer-3", "status": "EXPIRED"},
            {"id": "peer-4", "status": "ENROUTE"},  # not final: no event
            {"from": "13900139000", "text": "TD", "at": "2026-04-09T00:01:00Z"},
        ],
        {},
    )
    utc = dt.UTC
    assert events == [
        Receipt("peer-1", "delivered", None, dt.datetime(2026, 4, 9, 0, 0, 5, tzinfo=utc)),
        Receipt("peer-2", "failed", "blacklisted", dt.datetime(2026, 4, 9, tzinfo=utc)),
        Receipt("peer-3", "expired"),
        Inbound("+8613900139000", "TD", dt.datetime(2026, 4, 9, 0, 1, tzinfo=utc)),
    ]
    assert parse_http_receipts({"id": 7, "status": "UNDELIV"}, {}) == [Receipt("7", "failed")]


def test_parse_http_receipts_with_a_field_mapping() -> None:
    settings = {
        "receipt_fields": {
            "id": "biz_id",
            "status": "report.state",
            "error": "report.desc",
            "at": "time",
            "from": "mobile",
            "text": "content",
        },
        "receipt_status_map": {"SUCCESS": "delivered", "FAIL": "failed"},
    }
    events = parse_http_receipts(
        [
            {"biz_id": "B1", "report": {"state": "SUCCESS"}, "time": 1775692800},
            {"biz_id": "B2", "report": {"state": "FAIL", "desc": "MK:0001"}},
            {"mobile": "+8613900139000", "content": "退订"},
        ],
        settings,
    )
    assert events == [
        Receipt("B1", "delivered", None, dt.datetime(2026, 4, 9, tzinfo=dt.UTC)),
        Receipt("B2", "failed", "MK:0001"),
        Inbound("+8613900139000", "退订"),
    ]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("delivered", "JSON object or a list"),
        ([{"id": "x", "status": "delivered"}, 3], "item 1: not a JSON object"),
        ({"id": "x"}, "'status' is missing"),
        ({"id": "x", "status": "BOUNCED"}, "unknown status 'BOUNCED'"),
        ({"id": "x", "status": "delivered", "at": "yesterday"}, "not an ISO 8601"),
        ({"id": "", "status": "delivered"}, "'id' is empty"),
        ({"from": "+8613900139000"}, "'text' is missing"),
        ({"foo": "bar"}, "neither a receipt"),
    ],
)
def test_parse_http_receipts_malformed(payload: object, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_http_receipts(payload, {})
    assert fragment in str(err.value)
