"""Institutions and their aliases."""

from __future__ import annotations


def _codes(resp):
    assert resp.status_code == 200, resp.get_json()
    return [i["code"] for i in resp.get_json()]


def test_any_alias_finds_the_institution(client, auth_as, world):
    headers = auth_as("coordinator")
    for q in ("达商行", "达州市商业银行", "达州商行", "DZCB"):
        assert _codes(client.get(f"/api/v1/institutions?q={q}", headers=headers)) == ["DZCB"]
    for q in ("邮蓄", "邮储", "邮政储蓄银行", "邮 储"):
        assert _codes(client.get(f"/api/v1/institutions?q={q}", headers=headers)) == ["PSBC"]


def test_aliases_include_full_and_short_names(client, auth_as, world):
    body = client.get(f"/api/v1/institutions/{world.other_bank}", headers=auth_as("admin"))
    aliases = body.get_json()["aliases"]
    assert {"中国邮政储蓄银行达州市分行", "邮蓄银行", "邮储", "邮政储蓄银行"} <= set(aliases)


def test_coordinator_registers_an_institution(client, auth_as, world):
    resp = client.post(
        "/api/v1/institutions",
        json={
            "code": "CCB",
            "name": "中国建设银行达州分行",
            "short_name": "建设银行",
            "level": "city",
            "kind": "commercial_bank",
            "aliases": ["建行"],
            "contacts": [{"name": "联系人乙", "phone": "13900001111"}],
        },
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["contacts"][0]["phone"] == "13900001111"
    found = client.get("/api/v1/institutions?q=建行", headers=auth_as("coordinator"))
    assert _codes(found) == ["CCB"]


def test_an_alias_cannot_belong_to_two_institutions(client, auth_as, world):
    resp = client.patch(
        f"/api/v1/institutions/{world.other_bank}",
        json={"aliases": ["邮储", "达商行"]},
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 409
    err = resp.get_json()["error"]
    assert err["code"] == "alias_taken"
    assert err["details"]["aliases"] == {"达商行": "达商行"}
    still = client.get("/api/v1/institutions?q=达商行", headers=auth_as("coordinator"))
    assert _codes(still) == ["DZCB"]
    kept = client.get("/api/v1/institutions?q=邮储", headers=auth_as("coordinator"))
    assert _codes(kept) == ["PSBC"]


def test_duplicate_code_is_409(client, auth_as, world):
    resp = client.post(
        "/api/v1/institutions",
        json={
            "code": "DZCB",
            "name": "另一家银行",
            "short_name": "另一家",
            "level": "city",
            "kind": "commercial_bank",
        },
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "institution_exists"


def test_station_may_read_but_not_register(client, auth_as, world):
    headers = auth_as("station_a")
    assert len(_codes(client.get("/api/v1/institutions", headers=headers))) == 2
    resp = client.post(
        "/api/v1/institutions",
        json={
            "code": "X1",
            "name": "某银行",
            "short_name": "某行",
            "level": "city",
            "kind": "commercial_bank",
        },
        headers=headers,
    )
    assert resp.status_code == 403


def test_contact_manages_its_own_contacts_only(client, auth_as, world):
    own = client.post(
        f"/api/v1/institutions/{world.bank}/contacts",
        json={"name": "新联系人", "phone": "13700000000"},
        headers=auth_as("bank"),
    )
    assert own.status_code == 201
    other = client.post(
        f"/api/v1/institutions/{world.other_bank}/contacts",
        json={"name": "冒名者"},
        headers=auth_as("bank"),
    )
    assert other.status_code == 404
    contact_id = own.get_json()["id"]
    gone = client.delete(
        f"/api/v1/institutions/{world.bank}/contacts/{contact_id}", headers=auth_as("bank")
    )
    assert gone.status_code == 204
