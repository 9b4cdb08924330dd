"""Where an SMS channel may connect: never link-local (cloud metadata), unspecified, multicast or
broadcast addresses, only allow-listed hosts when a list is configured, checked when the channel
is set and again at every connect (DNS rebinding).

Names are resolved by a fake resolver (``gateways.destinations._getaddrinfo``), so no test
sends anything to an address other than 127.0.0.1.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gridserve.config import ConfigError, load_settings
from gridserve.sms import gateways
from gridserve.sms.gateways import GatewayError, OutboundMessage, build_gateway
from tests.sms.peers import HttpPeer, SmppPeer

REAL_GETADDRINFO = socket.getaddrinfo


class FakeDns:
    """Answers for invented names (each call may answer differently); addresses and
    ``localhost`` are resolved for real (no network involved)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.calls: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        self.calls.append(host)
        answers = self.answers.get(host)
        if answers is None:
            if host.endswith(".test"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(gateways.destinations, "_getaddrinfo", fake)
    return fake


@pytest.fixture
def no_outside_connections(monkeypatch):
    """Fail the test if anything tries to connect anywhere but 127.0.0.1."""
    real = socket.socket.connect

    def guarded(sock, address):
        assert address[0] == "127.0.0.1", f"attempted connection to {address}"
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def msg(key: str = "gs-1") -> OutboundMessage:
    return OutboundMessage(key=key, to="+8613800138000", body="【工行】测试", sender="ICBC")


# --- PUT /sms/channels/{code} -------------------------------------------------------------


def put_channel(client, headers, gateway: str, settings: dict, code: str = "DZCB"):
    body = {"gateway": gateway, "settings": settings, "signature": "达商行", "rate_per_second": 0}
    if gateway == "smpp":
        body["credentials_ref"] = "carrier"
    return client.put(f"/api/v1/sms/channels/{code}", json=body, headers=headers)


@pytest.fixture
def coordinator(client, auth_as, world, override_settings):
    override_settings(sms_accounts={"carrier": {"password": "secret"}})
    return auth_as("coordinator")


def channels(client, headers) -> list[dict]:
    resp = client.get("/api/v1/sms/channels", headers=headers)
    assert resp.status_code == 200
    return resp.get_json()


SMPP = {"port": 2775, "system_id": "gridserve", "source_addr": "106900"}


@pytest.mark.parametrize(
    ("gateway", "settings"),
    [
        ("http", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("http", {"url": "http://metadata.test/computeMetadata/v1/"}),  # a name → 169.254.169.254
        ("http", {"url": "http://0.0.0.0:8080/send"}),
        ("http", {"url": "http://[::]:8080/send"}),
        ("http", {"url": "https://[fe80::1]/send"}),
        ("http", {"url": "http://[::ffff:169.254.169.254]/send"}),
        ("http", {"url": "http://224.0.0.1/send"}),
        ("http", {"url": "http://255.255.255.255/send"}),
        ("http", {"url": "http://nowhere.test/send"}),  # does not resolve
        ("smpp", {"host": "169.254.169.254", **SMPP}),
        ("smpp", {"host": "metadata.test", **SMPP}),
        ("smpp", {"host": "0.0.0.0", **SMPP}),
        ("smpp", {"host": "::", **SMPP}),
    ],
)
def test_a_channel_aimed_at_a_forbidden_address_is_refused(
    client, coordinator, dns, no_outside_connections, gateway, settings
):
    dns.answers["metadata.test"] = ["169.254.169.254"]
    before = channels(client, coordinator)
    resp = put_channel(client, coordinator, gateway, settings)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == "gateway_misconfigured"
    assert channels(client, coordinator) == before  # nothing stored


def test_a_refused_change_keeps_the_channel_as_it_was(client, coordinator, dns):
    ok = put_channel(client, coordinator, "http", {"url": "http://127.0.0.1:9/send"})
    assert ok.status_code == 200, ok.get_json()
    before = channels(client, coordinator)
    bad = put_channel(client, coordinator, "http", {"url": "http://169.254.169.254/send"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "gateway_misconfigured"
    assert channels(client, coordinator) == before
    assert before[0]["settings"]["url"] == "http://127.0.0.1:9/send"


@pytest.mark.parametrize(
    ("gateway", "settings"),
    [
        ("http", {"url": "http://127.0.0.1:9/send"}),
        ("http", {"url": "http://localhost:9/send"}),
        ("http", {"url": "http://loop.test:9/send"}),  # a name → 127.0.0.1
        ("http", {"url": "http://10.1.2.3:9/send"}),  # private networks stay allowed
        ("smpp", {"host": "127.0.0.1", **SMPP}),
    ],
)
def test_loopback_and_private_destinations_are_accepted(
    client, coordinator, dns, no_outside_connections, gateway, settings
):
    dns.answers["loop.test"] = ["127.0.0.1"]
    resp = put_channel(client, coordinator, gateway, settings)
    assert resp.status_code == 200, resp.get_json()
    assert [c["institution"] for c in channels(client, coordinator)] == ["DZCB"]


def test_with_an_allow_list_only_listed_hosts_are_accepted(
    client, coordinator, dns, override_settings
):
    override_settings(sms_allowed_hosts=("sms.carrier.test", "*.cloud.test"))
    dns.answers.update(
        {
            "sms.carrier.test": ["127.0.0.1"],
            "api.cloud.test": ["127.0.0.1"],
            "evil.test": ["127.0.0.1"],
        }
    )
    refused = put_channel(client, coordinator, "http", {"url": "http://evil.test:9/send"})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "gateway_misconfigured"
    assert "GRIDSERVE_SMS_ALLOWED_HOSTS" in refused.get_json()["error"]["message"]
    refused = put_channel(client, coordinator, "smpp", {"host": "127.0.0.1", **SMPP})
    assert refused.status_code == 422  # loopback too: the list is the whole truth when set
    assert channels(client, coordinator) == []
    assert "evil.test" not in dns.calls  # refused by name, before any lookup
    ok = put_channel(client, coordinator, "http", {"url": "https://API.cloud.test/send"})
    assert ok.status_code == 200, ok.get_json()
    ok = put_channel(client, coordinator, "smpp", {"host": "sms.carrier.test", **SMPP})
    assert ok.status_code == 200, ok.get_json()
    assert channels(client, coordinator)[0]["settings"]["host"] == "sms.carrier.test"


# --- at connect time ----------------------------------------------------------------------


def test_http_connects_to_the_address_it_checked(dns, no_outside_connections):
    with HttpPeer().start() as peer:
        dns.answers["peer.test"] = ["127.0.0.1"]
        gateway = build_gateway(
            "http", {"url": f"http://peer.test:{peer.port}/send"}, {}, Path(".")
        )
        assert gateway.submit(msg()).gateway_id
        gateway.close()
        assert [m["key"] for m in peer.messages] == ["gs-1"]


def test_http_refuses_a_name_that_changed_to_a_metadata_address_after_the_check(
    dns, no_outside_connections
):
    with HttpPeer().start() as peer:
        # Rebinding: loopback when the channel was checked, metadata when the gateway connects.
        dns.answers["rebind.test"] = ["127.0.0.1", "169.254.169.254"]
        gateway = build_gateway(
            "http", {"url": f"http://rebind.test:{peer.port}/send"}, {}, Path(".")
        )
        gateways.check_destination(gateway)  # passes: 127.0.0.1
        with pytest.raises(GatewayError) as err:
            gateway.submit(msg())
        assert err.value.code == "gateway_misconfigured" and not err.value.transient
        assert "169.254.169.254" in err.value.message
        gateway.close()
        assert peer.requests == []


def test_http_keeps_checking_when_it_reconnects(dns, no_outside_connections):
    with HttpPeer().start() as peer:
        dns.answers["flip.test"] = ["127.0.0.1", "0.0.0.0"]
        gateway = build_gateway(
            "http", {"url": f"http://flip.test:{peer.port}/send"}, {}, Path(".")
        )
        assert gateway.submit(msg("gs-1")).gateway_id  # first connect: 127.0.0.1
        gateway.close()  # the next submit opens a new connection and resolves again
        with pytest.raises(GatewayError) as err:
            gateway.submit(msg("gs-2"))
        assert err.value.code == "gateway_misconfigured"
        assert [m["key"] for m in peer.messages] == ["gs-1"]


def test_http_gateway_obeys_the_allow_list_at_connect_time(dns, no_outside_connections):
    with HttpPeer().start() as peer:
        gateway = build_gateway(
            "http",
            {"url": f"http://127.0.0.1:{peer.port}/send"},
            {},
            Path("."),
            allowed_hosts=("sms.carrier.test",),
        )
        with pytest.raises(GatewayError) as err:
            gateway.submit(msg())
        assert err.value.code == "gateway_misconfigured"
        assert peer.requests == []


def test_smpp_refuses_a_name_that_changed_to_a_metadata_address(
    dns, no_outside_connections, tmp_path
):
    with SmppPeer("gridserve", "secret", log_path=tmp_path / "smsc.jsonl").start() as peer:
        dns.answers["smsc.test"] = ["127.0.0.1", "169.254.169.254"]
        settings = {**SMPP, "host": "smsc.test", "port": peer.port, "timeout": 3}
        gateway = build_gateway("smpp", settings, {"password": "secret"}, Path("."))
        gateways.check_destination(gateway)  # 127.0.0.1 when checked
        with pytest.raises(GatewayError) as err:
            gateway.submit(msg())
        assert err.value.code == "gateway_misconfigured" and not err.value.transient
        gateway.close()
        assert peer.binds == [] and peer.messages == []


def test_smpp_binds_through_the_checked_address(dns, no_outside_connections, tmp_path):
    with SmppPeer("gridserve", "secret", log_path=tmp_path / "smsc.jsonl").start() as peer:
        dns.answers["smsc.test"] = ["127.0.0.1"]
        settings = {**SMPP, "host": "smsc.test", "port": peer.port, "timeout": 3}
        gateway = build_gateway("smpp", settings, {"password": "secret"}, Path("."))
        assert gateway.submit(msg()).gateway_id
        gateway.close()
        assert len(peer.binds) == 1 and len(peer.messages) == 1


def test_an_unresolvable_name_at_connect_time_is_transient(dns):
    gateway = build_gateway("http", {"url": "http://gone.test/send"}, {}, Path("."))
    with pytest.raises(GatewayError) as err:
        gateway.submit(msg())
    assert err.value.transient and err.value.code == "gateway_unreachable"


# --- the setting ---------------------------------------------------------------------------


def test_allowed_hosts_setting_is_a_comma_separated_list(tmp_path):
    base = {"GRIDSERVE_ENV": "testing", "GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(base).sms_allowed_hosts == ()
    settings = load_settings(
        base | {"GRIDSERVE_SMS_ALLOWED_HOSTS": " SMS.Carrier.cn, *.cloud.example.com ,"}
    )
    assert settings.sms_allowed_hosts == (
        "sms.carrier.cn",
        "*.cloud.example.com",
    )
    with pytest.raises(ConfigError, match="GRIDSERVE_SMS_ALLOWED_HOSTS"):
        load_settings(base | {"GRIDSERVE_SMS_ALLOWED_HOSTS": "http://sms.carrier.cn/send"})
