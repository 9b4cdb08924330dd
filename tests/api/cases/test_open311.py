"""Open311 GeoReport v2: conformance (fields, statuses, filters, JSON and XML, the standard's
error list), no personal data in public answers, rate limits, photos without EXIF, keys."""

from __future__ import annotations

import datetime as dt
import io
import uuid as uuid_mod
import xml.etree.ElementTree as ET

import pytest
from geoalchemy2.shape import to_shape
from PIL import Image
from sqlalchemy import select

from gridserve import crypto
from gridserve.extensions import db
from gridserve.models import Attachment, Place, Task
from gridserve.scope import OPERATOR
from gridserve.services.cases import intake
from gridserve.services.field import tasks as task_service
from gridserve.timeutil import local_today
from tests import clock
from tests.conftest import login

PUBLIC_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",
}  # fmt: skip


def _place(app, cases):
    with app.app_context():
        place = db.session.scalar(
            select(Place).where(Place.area_id == cases.field.world.community_a).limit(1)
        )
        point = to_shape(place.geom)
        return place.name, point.x, point.y


def _key(client, name="app") -> str:
    resp = client.post("/api/v1/open311/keys", json={"name": name}, headers=login(client, "admin"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["key"]


def _post(client, key, lon, lat, **extra):
    form = {"api_key": key, "service_code": "noise", "lat": str(lat), "long": str(lon),
            "description": "楼下夜里很吵", **extra}  # fmt: skip
    return client.post("/open311/v2/requests.json", data=form)


def _errors_json(resp, status):
    assert resp.status_code == status, resp.data
    body = resp.get_json()
    assert isinstance(body, list) and body[0]["code"] == status and body[0]["description"]
    return body


def _errors_xml(resp, status):
    assert resp.status_code == status, resp.data
    root = ET.fromstring(resp.data)
    assert root.tag == "errors"
    assert root.find("error/code").text == str(status) and root.find("error/description").text


def test_discovery_and_services_in_json_and_xml(cases, client) -> None:
    disc = client.get("/open311/discovery.json").get_json()
    assert disc["endpoints"][0]["url"].endswith("/open311/v2/")
    assert ET.fromstring(client.get("/open311/discovery.xml").data).tag == "discovery"
    services = client.get("/open311/v2/services.json").get_json()
    noise = next(s for s in services if s["service_code"] == "noise")
    assert set(noise) == {"service_code", "service_name", "description", "metadata", "type",
                          "keywords", "group"}  # fmt: skip
    assert noise["metadata"] is False and noise["type"] == "realtime"
    assert noise["group"] == "everyday"
    root = ET.fromstring(client.get("/open311/v2/services.xml").data)
    assert root.tag == "services" and root.find("service/service_code") is not None
    definition = client.get("/open311/v2/services/noise.json").get_json()
    assert definition == {"service_code": "noise", "attributes": []}
    _errors_json(client.get("/open311/v2/services/nope.json"), 404)
    _errors_xml(client.get("/open311/v2/services/nope.xml"), 404)


def test_a_request_is_made_listed_and_shown_without_personal_data(cases, client, clean_app):
    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    resp = _post(client, key, lon, lat, first_name="张", last_name="三", phone="13912345678",
                 email="z@example.com", media_url="http://x.example/p.jpg",
                 jurisdiction_id="demo")  # fmt: skip
    assert resp.status_code == 201, resp.data
    made = resp.get_json()
    assert set(made[0]) == {"service_request_id", "service_notice", "account_id"}
    rid = made[0]["service_request_id"]
    with clean_app.app_context():
        task = db.session.get(Task, int(rid))
        assert task.source == "open311" and task.kind == "case"
        assert task.reporter_name == "张 三" and task.reporter_phone_enc
        assert b"13912345678" not in task.reporter_phone_enc and task.callback_consent
        assert crypto.decrypt(task.reporter_phone_enc) == "13912345678"  # as the intake keeps it
        assert task.reporter_phone_hash
        assert task.open311_key_id is not None and task.level == "cell"
    listed = client.get("/open311/v2/requests.json").get_json()
    mine = next(r for r in listed if r["service_request_id"] == rid)
    assert set(mine) == PUBLIC_FIELDS
    assert mine["status"] == "open" and mine["service_code"] == "noise"
    assert mine["agency_responsible"] and mine["lat"] == pytest.approx(lat)
    raw = client.get(f"/open311/v2/requests/{rid}.json").data.decode()
    for secret in ("13912345678", "张", "example.com", "worker"):
        assert secret not in raw
    root = ET.fromstring(client.get(f"/open311/v2/requests/{rid}.xml").data)
    assert root.tag == "service_requests"
    assert root.find("request/service_request_id").text == rid
    assert root.find("request/status").text == "open"
    # Cases from stations and terminals (possibly about people) are not published.
    with clean_app.app_context():
        inside = task_service.create_task(
            OPERATOR,
            {"kind": "case", "title": "独居老人王大爷", "area_id": cases.field.world.community_a},
            local_today(),
        )
        db.session.commit()
        inside_id = str(inside.id)
    assert inside_id not in {r["service_request_id"] for r in
                             client.get("/open311/v2/requests.json").get_json()}  # fmt: skip
    _errors_json(client.get(f"/open311/v2/requests/{inside_id}.json"), 404)
    token = client.get(f"/open311/v2/tokens/{rid}.json").get_json()
    assert token == [{"service_request_id": rid, "token": rid}]
    # JSON bodies are accepted too, and an address of the register stands for a position.
    name, _lon, _lat = _place(clean_app, cases)
    body = {"api_key": key, "service_code": "noise", "address_string": name,
            "description": "x"}  # fmt: skip
    resp = client.post("/open311/v2/requests.xml", json=body)
    assert resp.status_code == 201
    assert ET.fromstring(resp.data).find("request/service_request_id").text.isdigit()


def test_filters_and_status_mapping(cases, client, clean_app) -> None:
    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    a = _post(client, key, lon, lat).get_json()[0]["service_request_id"]
    with clean_app.app_context():
        task = db.session.get(Task, int(a))
        task.status, task.closed_at = "cancelled", task.created_at
        db.session.commit()
    closed = client.get("/open311/v2/requests.json?status=closed").get_json()
    assert [r["service_request_id"] for r in closed] == [a] and closed[0]["status"] == "closed"
    opened = client.get("/open311/v2/requests.json?status=open").get_json()
    assert a not in {r["service_request_id"] for r in opened}
    assert (
        client.get(f"/open311/v2/requests.json?service_request_id={a}").get_json()[0][
            "service_request_id"
        ]
        == a
    )
    codes = {r["service_code"] for r in
             client.get("/open311/v2/requests.json?service_code=noise").get_json()}  # fmt: skip
    assert codes == {"noise"}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    got = client.get("/open311/v2/requests.json", query_string={"start_date": future})
    assert got.get_json() == []
    past = "2020-01-01T00:00:00Z"
    assert client.get(f"/open311/v2/requests.json?end_date={past}").get_json() == []
    _errors_json(client.get("/open311/v2/requests.json?start_date=yesterday"), 400)
    _errors_xml(client.get("/open311/v2/requests.xml?status=maybe"), 400)
    _errors_json(client.get("/open311/v2/requests/999999.json"), 404)
    _errors_xml(client.get("/open311/v2/requests/99999999999999999999.xml"), 404)
    _errors_json(client.get("/open311/v2/requests.json?service_request_id=1,x"), 400)
    _errors_json(client.get("/open311/v2/requests.json?service_request_id=99999999999"), 400)
    listed = ET.fromstring(client.get("/open311/v2/requests.xml?status=closed").data)
    assert [r.find("status").text for r in listed.findall("request")] == ["closed"]


def test_errors_for_keys_codes_and_positions(cases, client, clean_app) -> None:
    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    _errors_json(_post(client, "", lon, lat), 400)
    _errors_json(_post(client, "wrong", lon, lat), 403)
    _errors_json(_post(client, key, lon, lat, service_code="nope"), 404)
    no_position = {"api_key": key, "service_code": "noise", "description": "x"}
    resp = client.post("/open311/v2/requests.xml", data=no_position)
    _errors_xml(resp, 400)
    resp = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "noise", "address_string": "无此地址"})  # fmt: skip
    _errors_json(resp, 400)
    _errors_json(_post(client, key, "east", lat), 400)
    _errors_json(_post(client, key, lon, 123.0), 400)
    _errors_json(_post(client, key, 10.0, 10.0), 400)  # outside every community
    admin = login(client, "admin")
    key_id = client.get("/api/v1/open311/keys", headers=admin).get_json()[0]["id"]
    listed = client.get("/api/v1/open311/keys", headers=admin).get_json()[0]
    assert "key" not in listed and "key_hash" not in listed and listed["last_used_at"]
    assert client.delete(f"/api/v1/open311/keys/{key_id}", headers=admin).status_code == 200
    _errors_json(_post(client, key, lon, lat), 403)
    _errors_xml(client.post("/open311/v2/requests.xml", data={"api_key": key}), 403)
    with clean_app.app_context():
        assert not db.session.scalar(select(Task.id).where(Task.source == "open311"))


def test_keys_are_for_admins_only_before_input_checks(cases, client) -> None:
    station = login(client, "station_a")
    resp = client.post("/api/v1/open311/keys", json={"bad": 1}, headers=station)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
    assert client.get("/api/v1/open311/keys", headers=station).status_code == 403
    assert client.delete("/api/v1/open311/keys/1", headers=station).status_code == 403
    admin = login(client, "admin")
    assert client.post("/api/v1/open311/keys", json={}, headers=admin).status_code == 422
    assert client.delete("/api/v1/open311/keys/999", headers=admin).status_code == 404


def test_rate_limited_per_address_and_per_key(cases, client, clean_app, override_settings):
    override_settings(open311_rate_per_minute=3)
    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    clock.move_to(clock.at_local(dt.date(2026, 12, 1), dt.time(10, 0, 5)), tick=False)
    for _ in range(3):
        assert client.get("/open311/v2/services.json").status_code == 200
    refused = client.get("/open311/v2/services.json")
    _errors_json(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    # Another address is not held back; the key is counted wherever it comes from.
    for n in range(3):
        addr = {"REMOTE_ADDR": f"10.0.0.{n + 1}"}
        resp = client.post("/open311/v2/requests.json", environ_base=addr, data={
            "api_key": key, "service_code": "noise", "lat": lat, "long": lon})  # fmt: skip
        assert resp.status_code == 201, resp.data
    resp = client.post(
        "/open311/v2/requests.json",
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
        data={"api_key": key, "service_code": "noise", "lat": lat, "long": lon},
    )
    _errors_json(resp, 429)
    assert "Retry-After" in resp.headers
    clock.move_to(clock.at_local(dt.date(2026, 12, 1), dt.time(10, 1, 10)), tick=False)
    assert client.get("/open311/v2/services.json").status_code == 200
    resp = client.post(
        "/open311/v2/requests.json",
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
        data={"api_key": key, "service_code": "noise", "lat": lat, "long": lon},
    )
    assert resp.status_code == 201


def _gps_jpeg() -> bytes:
    image = Image.new("RGB", (16, 16), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "PhoneModel"  # Model
    exif[0x8825] = {1: "N", 2: (30.0, 25.0, 1.5), 3: "E", 4: (104.0, 3.0, 2.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_public_photos_carry_no_location_or_camera(cases, client, clean_app, override_settings,
                                                   tmp_path):  # fmt: skip
    override_settings(attachments_path=tmp_path)
    raw = _gps_jpeg()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the fixture has GPS
    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    rid = _post(client, key, lon, lat).get_json()[0]["service_request_id"]
    photo = str(uuid_mod.uuid4())
    (tmp_path / "p.jpg").write_bytes(raw)
    with clean_app.app_context():
        db.session.add(Attachment(uuid=photo, content_type="image/jpeg", size=len(raw),
                                  sha256="0" * 64, path="p.jpg"))  # fmt: skip
        db.session.get(Task, int(rid)).attachments = [photo]
        db.session.commit()
    url = client.get(f"/open311/v2/requests/{rid}.json").get_json()[0]["media_url"]
    assert url == f"http://localhost/open311/v2/media/{rid}/{photo}.jpg"
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert b"Exif" not in served.data and b"PhoneMaker" not in served.data
    assert b"http://ns.adobe.com/xap" not in served.data
    image = Image.open(io.BytesIO(served.data))
    assert not image.getexif() and "exif" not in image.info and image.size == (16, 16)
    assert client.get(f"/open311/v2/media/{rid}/{uuid_mod.uuid4()}.jpg").status_code == 404


def _public(client, rid: str) -> dict:
    resp = client.get(f"/open311/v2/requests/{rid}.json")
    assert resp.status_code == 200, resp.data
    return resp.get_json()[0]


def test_address_is_the_one_given_else_the_places_never_a_households(
    cases, client, clean_app
) -> None:
    from tests.api.cases.ladder_helpers import step

    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    given = _post(client, key, lon, lat, address_string="幸福路12号东门").get_json()
    rid = given[0]["service_request_id"]
    assert _public(client, rid)["address"] == "幸福路12号东门"
    xml = ET.fromstring(client.get(f"/open311/v2/requests/{rid}.xml").data)
    assert xml.find("request/address").text == "幸福路12号东门"
    # The station sees it in the case's history.
    history = client.get(f"/api/v1/tasks/{rid}/history", headers=login(client, "station_a"))
    assert "幸福路12号东门" in history.get_json()[0]["note"]
    assert step(client, login(client, "station_a"), int(rid), "accept").status_code == 200
    assert _public(client, rid)["address"] == "幸福路12号东门"  # kept through the steps
    none = _post(client, key, lon, lat).get_json()[0]["service_request_id"]
    assert _public(client, none)["address"] == ""
    with clean_app.app_context():
        home = db.session.scalar(
            select(Place).where(Place.area_id == cases.field.world.community_a,
                                Place.type == "household").limit(1)
        )  # fmt: skip
        shop = Place(type="shop", name="幸福超市", attributes={"address": "幸福路8号"},
                     geom=home.geom, area_id=home.area_id, cell_id=home.cell_id)  # fmt: skip
        db.session.add(shop)
        db.session.flush()
        shop_id = shop.id
        made = {}
        for kind, place in (("home", home), ("other", shop)):
            task, _ = intake.receive(OPERATOR, {"title": "噪音", "category": "noise",
                                                "place_id": place.id}, local_today(),
                                     source="open311")  # fmt: skip
            made[kind] = (str(task.id), place.name, place.attributes or {})
        db.session.commit()
    assert _public(client, made["other"][0])["address"] == "幸福路8号"
    rid, name, _attributes = made["home"]
    assert name and _public(client, rid)["address"] == ""  # a home's door number stays inside
    with clean_app.app_context():
        db.session.get(Place, shop_id).attributes = {}
        db.session.commit()
    assert _public(client, made["other"][0])["address"] == "幸福超市"  # no address: its name
    listed = {r["service_request_id"]: r["address"] for r in
              client.get("/open311/v2/requests.json").get_json()}  # fmt: skip
    assert listed[made["other"][0]] == "幸福超市" and listed[made["home"][0]] == ""
    assert listed[given[0]["service_request_id"]] == "幸福路12号东门"


def test_status_notes_follow_the_steps_in_public_words_without_anyones_notes(
    cases, client, clean_app
) -> None:
    from tests.api.cases.ladder_helpers import step

    key = _key(client)
    _name, lon, lat = _place(clean_app, cases)
    rid = _post(client, key, lon, lat, first_name="张", last_name="三",
                phone="13912345678").get_json()[0]["service_request_id"]  # fmt: skip
    station = login(client, "station_a")
    seen = [_public(client, rid)["status_notes"]]
    assert seen[0] and "收到" in seen[0]
    private = "张三家楼下，电话13912345678"
    for name, body, words in [
        ("accept", {"note": private}, "受理"),
        ("escalate", {"note": private}, "社区"),
        ("accept", {}, "社区已受理"),
        ("pause", {"note": private}, "暂缓"),
        ("resume", {}, "恢复"),
        ("settle", {"note": private}, "处置"),
        ("close", {"note": private}, "办结"),
    ]:
        resp = step(client, station, int(rid), name, body)
        assert resp.status_code == 200, resp.get_json()
        public = _public(client, rid)
        assert words in public["status_notes"], (name, public["status_notes"])
        seen.append(public["status_notes"])
        raw = client.get(f"/open311/v2/requests/{rid}.json").data.decode()
        for secret in ("张", "13912345678", "电话"):
            assert secret not in raw
    assert len(set(seen)) == len(seen)  # each step says something new
    assert _public(client, rid)["status"] == "closed"
    # An edit or a rating says nothing new; a cancelled duplicate says it was merged.
    dup = _post(client, key, lon, lat).get_json()[0]["service_request_id"]
    kept = _post(client, key, lon, lat).get_json()[0]["service_request_id"]
    merged = client.post(f"/api/v1/tasks/{dup}/merge", json={"into": int(kept), "version": 1},
                         headers=station)  # fmt: skip
    assert merged.status_code == 200, merged.get_json()
    assert "合并" in _public(client, dup)["status_notes"]
    assert _public(client, kept)["status_notes"] == seen[0]
    # The list says the same as each request's own answer.
    listed = {r["service_request_id"]: r for r in
              client.get("/open311/v2/requests.json").get_json()}  # fmt: skip
    for one in (rid, dup, kept):
        shown = _public(client, one)
        assert (listed[one]["status_notes"], listed[one]["address"]) == (
            shown["status_notes"], shown["address"]
        )  # fmt: skip
