"""Where an SMS gateway may connect: never link-local (cloud metadata), unspecified, multicast
or broadcast addresses, only allow-listed hosts when a list is configured, checked again at
every connect (DNS rebinding). The check when a channel is set: tests/api/sms/
test_channel_destinations.py.

Names are resolved by a fake resolver (``dns``, tests/sms/fake_dns.py), so no test sends
anything to an address other than 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gridserve.config import ConfigError, load_settings
from gridserve.sms import gateways
from gridserve.sms.gateways import GatewayError, OutboundMessage, build_gateway
from tests.sms.peers import HttpPeer, SmppPeer

SMPP = {"port": 2775, "system_id": "gridserve", "source_addr": "106900"}


def msg(key: str = "gs-1") -> OutboundMessage:
    return OutboundMessage(key=key, to="+8613800138000", body="【工行】测试", sender="ICBC")


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
