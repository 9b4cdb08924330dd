"""Where an SMS channel may point, checked when it is set (``PUT /sms/channels/{code}``): never
link-local (cloud metadata), unspecified, multicast or broadcast addresses, only allow-listed
hosts when a list is configured. The check at every connect: tests/sms/test_destinations.py.

Names are resolved by a fake resolver (``dns``, tests/sms/fake_dns.py), so no test sends
anything to an address other than 127.0.0.1.
"""

from __future__ import annotations

import pytest


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
