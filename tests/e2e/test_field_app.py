"""The field app on a 360×640 phone, in Chromium, against the live seeded demo: a station issues
an enrolment code, the app takes it and downloads the bundle; offline it records three visits
with a photo each, survives a reload, and when back online uploads them (`created`), then a
resend is answered `duplicate`; a revoked terminal is wiped at its next contact, saying how
many unsent records are lost. Each main screen passes axe and is kept as a screenshot."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.live import DEMO_PASSWORD

# A 2×2 PNG: the photo the "camera" takes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)


def _api(live_url: str, method: str, path: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{live_url}/api/v1{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def _station_token(live_url: str) -> str:
    body = {"username": "station1", "password": DEMO_PASSWORD}
    return _api(live_url, "POST", "/auth/token", body)["access_token"]


def _worker_id(e2e_app, username: str = "worker1") -> int:
    from gridserve.extensions import db
    from gridserve.models import User, Worker

    with e2e_app.app_context():
        user_id = db.session.execute(select(User.id).where(User.username == username)).scalar_one()
        worker_id = db.session.execute(
            select(Worker.id).where(Worker.user_id == user_id)
        ).scalar_one()
        db.session.remove()
        return worker_id


def _enrolment_code(live_url: str, station: str, worker_id: int) -> str:
    return _api(live_url, "POST", f"/workers/{worker_id}/enrolment-codes", {}, station)["code"]


def _enrol(page, code: str, label: str) -> None:
    """The app's enrolment screen, by label and button name (Chinese UI), then the bundle."""
    page.goto("/field/")
    expect(page.get_by_role("heading", name="登记终端")).to_be_visible()
    page.get_by_label("登记码").fill(code)
    page.get_by_label("终端名称").fill(label)
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page.get_by_role("heading", name="我的任务")).to_be_visible()
    expect(page.get_by_text(re.compile("^已同步"))).to_be_visible(timeout=60_000)


def _controlled(page) -> None:
    """Wait until the service worker controls the page (the shell is precached by then: a
    dozen assets fetched one by one, slow when the machine runs both test lanes)."""
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)


def _record_visit(page, note: str) -> None:
    page.get_by_role("link", name="记录").click()
    expect(page.get_by_role("heading", name="新记录")).to_be_visible()
    page.get_by_label("类型").select_option("household_visit")
    place = page.get_by_label("地点")
    place.select_option(index=1)
    page.get_by_label("经度").fill("104.0657")
    page.get_by_label("纬度").fill("30.6595")
    page.get_by_label("精度（米）").fill("8")
    page.get_by_label("备注").fill(note)
    page.get_by_label("照片").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(page.get_by_role("img", name="照片 1")).to_be_visible()
    page.get_by_role("button", name="保存到待发送").click()
    expect(page.get_by_role("heading", name="待发送与结果")).to_be_visible()


def _statuses(page, marker: str):
    return page.get_by_test_id("record").filter(has_text=marker)


def test_enrol_record_offline_reload_upload_and_resend(
    new_context, live_url, e2e_app, axe, screenshot
) -> None:
    station = _station_token(live_url)
    code = _enrolment_code(live_url, station, _worker_id(e2e_app))
    context = new_context(phone=True)
    page = context.new_page()

    page.goto("/field/")
    axe(page)
    screenshot(page, "field-enrol")
    _enrol(page, code, f"e2e {uuid.uuid4().hex[:6]}")
    _controlled(page)
    axe(page)
    screenshot(page, "field-tasks")

    # The places and households of the worker's cells, from IndexedDB.
    page.get_by_role("link", name="地点").click()
    expect(page.get_by_test_id("place-list").get_by_role("link").first).to_be_visible()
    axe(page)
    screenshot(page, "field-places")

    context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="离线")).to_be_visible()
    marker = f"e2e-{uuid.uuid4().hex[:8]}"
    for n in range(3):
        _record_visit(page, f"{marker} visit {n + 1}")
    pending = _statuses(page, marker)
    expect(pending).to_have_count(3)
    expect(pending.and_(page.locator("[data-status=pending]"))).to_have_count(3)

    # Reloaded with no network: the shell comes from the service worker, the queue from
    # IndexedDB, and the lists still work.
    page.reload()
    page.get_by_role("link", name=re.compile("^待发送")).click()
    expect(_statuses(page, marker).and_(page.locator("[data-status=pending]"))).to_have_count(3)
    page.get_by_role("link", name="地点").click()
    first_place = page.get_by_test_id("place-list").get_by_role("link").first
    expect(first_place).to_be_visible()
    first_place.click()
    expect(page.get_by_role("heading", name="住户")).to_be_visible()
    screenshot(page, "field-place-offline")
    page.get_by_role("link", name="地图").click()
    expect(page.locator(".leaflet-container")).to_be_visible()
    axe(page, exclude=[".leaflet-container"])
    screenshot(page, "field-map-offline")
    page.get_by_role("link", name="记录").click()
    axe(page)
    screenshot(page, "field-record")

    # Online again: the queue goes up on its own; each record shows its result.
    page.get_by_role("link", name=re.compile("^待发送")).click()
    context.set_offline(False)
    records = _statuses(page, marker)
    expect(records.and_(page.locator("[data-status=created]"))).to_have_count(3, timeout=30_000)
    expect(records.first.get_by_test_id("record-status")).to_contain_text("created")
    axe(page)
    screenshot(page, "field-outbox-created")

    page.get_by_role("button", name="全部重发").click()
    expect(records.and_(page.locator("[data-status=duplicate]"))).to_have_count(3, timeout=30_000)
    expect(records.first.get_by_test_id("record-status")).to_contain_text("duplicate")
    screenshot(page, "field-outbox-duplicate")

    from gridserve.extensions import db
    from gridserve.models import Attachment, Visit

    with e2e_app.app_context():
        rows = (
            db.session.execute(select(Visit).where(Visit.notes.like(f"{marker}%"))).scalars().all()
        )
        assert len(rows) == 3
        assert all(not v.mock_location and len(v.attachments) == 1 for v in rows)
        photos = [a for v in rows for a in v.attachments]
        stored = (
            db.session.execute(select(Attachment).where(Attachment.uuid.in_(photos)))
            .scalars()
            .all()
        )
        assert len(stored) == 3
        db.session.remove()


def test_revoked_terminal_is_wiped_at_next_contact(
    new_context, live_url, e2e_app, screenshot, axe
) -> None:
    station = _station_token(live_url)
    worker_id = _worker_id(e2e_app)
    label = f"e2e-revoke-{uuid.uuid4().hex[:6]}"
    context = new_context(phone=True)
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, worker_id), label)
    _controlled(page)

    context.set_offline(True)
    _record_visit(page, f"lost-{uuid.uuid4().hex[:8]}")

    devices = _api(live_url, "GET", f"/workers/{worker_id}/devices", token=station)
    device = next(d for d in devices if d["label"] == label)
    _api(live_url, "POST", f"/devices/{device['id']}/revoke", {}, station)

    context.set_offline(False)  # the next contact: 401 device_revoked
    expect(page.get_by_role("heading", name="终端已被清除")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("1 条未发送的记录已丢失")).to_be_visible()
    axe(page)
    screenshot(page, "field-wiped")
    names = page.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert "gridserve-field" not in names
    assert page.evaluate("async () => (await caches.keys()).length") == 0

    # Opened again: nothing left but the enrolment screen.
    page.reload()
    expect(page.get_by_role("heading", name="登记终端")).to_be_visible()
    page.get_by_role("link", name="地点").wait_for(state="detached")


def test_expired_token_asks_to_enrol_again_and_keeps_the_queue(
    new_context, live_url, e2e_app
) -> None:
    station = _station_token(live_url)
    context = new_context(phone=True)
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, _worker_id(e2e_app)), "e2e-expired")
    context.set_offline(True)
    marker = f"kept-{uuid.uuid4().hex[:8]}"
    _record_visit(page, marker)
    # The server says the token lapsed (as it would for an expired one): answered once.
    context.route(
        "**/api/v1/sync/**",
        lambda route: route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps(
                {"error": {"code": "token_expired", "message": "expired", "details": {}}}
            ),
        ),
    )
    context.set_offline(False)
    expect(page.get_by_role("heading", name="登记终端")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile("token_expired"))).to_be_visible()
    names = page.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert "gridserve-field" in names
    context.unroute("**/api/v1/sync/**")
    # Enrolled again: the record made before is still there and goes up.
    page.get_by_label("登记码").fill(_enrolment_code(live_url, station, _worker_id(e2e_app)))
    page.get_by_role("button", name="登记", exact=True).click()
    page.get_by_role("link", name=re.compile("^待发送")).click()
    expect(_statuses(page, marker).and_(page.locator("[data-status=created]"))).to_have_count(
        1, timeout=30_000
    )


def _worker_area(e2e_app, worker_id: int) -> int:
    from gridserve.extensions import db
    from gridserve.models import Worker

    with e2e_app.app_context():
        area = db.session.get(Worker, worker_id).area_id
        db.session.remove()
        return area


def test_a_task_goes_open_in_progress_done(new_context, live_url, e2e_app, axe, screenshot) -> None:
    station = _station_token(live_url)
    worker_id = _worker_id(e2e_app)
    title = f"e2e task {uuid.uuid4().hex[:6]}"
    task = _api(
        live_url,
        "POST",
        "/tasks",
        {"kind": "task", "title": title, "area_id": _worker_area(e2e_app, worker_id),
         "assigned_worker_id": worker_id, "priority": "high"},
        station,
    )  # fmt: skip
    page = new_context(phone=True).new_page()
    _enrol(page, _enrolment_code(live_url, station, worker_id), "e2e-tasks")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=title))
    expect(card).to_be_visible()
    expect(card).to_contain_text("待处理")
    card.get_by_role("button", name="开始处理").click()
    expect(card).to_contain_text("处理中")
    expect(card.get_by_role("button", name="完成")).to_be_visible()
    axe(page)
    screenshot(page, "field-task-in-progress")
    card.get_by_role("button", name="完成").click()
    expect(card.get_by_role("alert")).to_contain_text("处理结果")  # a note is needed
    card.get_by_label("处理结果（完成时必填）").fill("已处理")
    card.get_by_role("button", name="完成").click()
    expect(page.get_by_role("heading", name=title)).to_have_count(0, timeout=30_000)
    # Gone from the list at once; the step reaches the server with the next upload.
    page.get_by_role("link", name=re.compile("^待发送")).click()
    step = page.get_by_test_id("record").filter(has_text=title).filter(has_text="已完成")
    expect(step).to_have_attribute("data-status", "updated", timeout=30_000)
    done = _api(live_url, "GET", f"/tasks/{task['id']}", token=station)
    assert done["status"] == "done" and done["note"] == "已处理"


def _tab_to(page, name: str, limit: int = 60) -> None:
    """Press Tab until the focused element is named ``name`` (its label or its text)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement; if (!e) return "";
                const l = e.labels && e.labels[0];
                return (l ? l.textContent : e.textContent || "").trim(); }"""
        )
        if focused.startswith(name):
            return
    raise AssertionError(f"no focusable element named {name!r} within {limit} tabs")


def test_keyboard_only_enrol_and_report_a_problem(
    new_context, live_url, e2e_app, axe, screenshot
) -> None:
    station = _station_token(live_url)
    code = _enrolment_code(live_url, station, _worker_id(e2e_app))
    page = new_context(phone=True).new_page()
    page.goto("/field/")
    _tab_to(page, "登记码")
    page.keyboard.type(code)
    _tab_to(page, "终端名称")
    page.keyboard.type("e2e-keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="我的任务")).to_be_visible()
    expect(page.get_by_text(re.compile("^已同步"))).to_be_visible(timeout=60_000)

    _tab_to(page, "记录")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="新记录")).to_be_visible()
    _tab_to(page, "类型")
    page.keyboard.press("End")  # the last kind: a problem
    expect(page.get_by_label("类型")).to_have_value("case")
    _tab_to(page, "地点")
    page.keyboard.press("ArrowDown")
    title = f"e2e problem {uuid.uuid4().hex[:6]}"
    _tab_to(page, "问题标题")
    page.keyboard.type(title)
    _tab_to(page, "问题描述")
    page.keyboard.type("路灯不亮")
    axe(page)
    screenshot(page, "field-problem")
    _tab_to(page, "保存到待发送")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="待发送与结果")).to_be_visible()
    record = page.get_by_test_id("record").filter(has_text=title)
    # Sent at once (online) as an upload item of type "case": stored once as the worker's case.
    expect(record).to_have_attribute("data-status", "created", timeout=30_000)
    case = _api(live_url, "GET", "/tasks?kind=case&sort=-id&page_size=20", token=station)
    assert [c["title"] for c in case].count(title) == 1


def test_english_on_request(phone_page, axe) -> None:
    phone_page.goto("/field/")
    phone_page.get_by_role("button", name="English").click()
    expect(phone_page.get_by_role("heading", name="Enrol this terminal")).to_be_visible()
    expect(phone_page.get_by_label("Enrolment code")).to_be_visible()
    assert phone_page.evaluate("() => document.documentElement.lang") == "en"
    axe(phone_page)
    phone_page.get_by_role("button", name="中文").click()
    expect(phone_page.get_by_role("heading", name="登记终端")).to_be_visible()


def test_a_rejected_and_a_conflicting_record_are_fixed_and_sent_again(
    new_context, live_url, e2e_app, axe
) -> None:
    station = _station_token(live_url)
    context = new_context(phone=True)
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, _worker_id(e2e_app)), "e2e-fix")
    context.set_offline(True)
    marker = f"fix-{uuid.uuid4().hex[:8]}"
    _record_visit(page, f"{marker} A")
    _record_visit(page, f"{marker} B")

    def answer(route) -> None:
        """The server's verdicts, once: A rejected with its reason, B in conflict."""
        items = route.request.post_data_json["items"]
        results = []
        for item in items:
            if item["notes"].endswith(" A"):
                errors = {"notes": ["Bad text."]}
                results.append({"uuid": item["uuid"], "status": "rejected",
                                "code": "invalid_text", "errors": errors})  # fmt: skip
            else:
                results.append({"uuid": item["uuid"], "status": "conflict", "code": "uuid_reused"})
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"results": results}))  # fmt: skip

    context.route("**/api/v1/sync/visits", answer)
    page.get_by_role("link", name=re.compile("^待发送")).click()
    context.set_offline(False)
    records = page.get_by_test_id("record")
    a = records.filter(has_text=f"{marker} A")
    b = records.filter(has_text=f"{marker} B")
    expect(a).to_have_attribute("data-status", "rejected", timeout=30_000)
    expect(a).to_contain_text("Bad text.")
    expect(b).to_have_attribute("data-status", "conflict")
    axe(page)
    context.unroute("**/api/v1/sync/visits")

    # A: fixed (its note changed) and sent again under its own uuid.
    a.get_by_role("link", name="修改").click()
    expect(page.get_by_role("heading", name="修改记录")).to_be_visible()
    page.get_by_label("备注").fill(f"{marker} A fixed")
    page.get_by_role("button", name="保存到待发送").click()
    expect(records.filter(has_text=f"{marker} A fixed")).to_have_attribute(
        "data-status", "created", timeout=30_000
    )
    # B: goes again as a new record (its uuid holds other content on the server).
    b.get_by_role("link", name="修改").click()
    page.get_by_role("button", name="保存到待发送").click()
    expect(b).to_have_attribute("data-status", "created", timeout=30_000)


def test_a_task_cancelled_at_the_station_leaves_the_terminal_at_its_next_sync(
    new_context, live_url, e2e_app
) -> None:
    """The bundle is kept current by cursor: a task given after enrolment arrives with the next
    sync, and one cancelled at the station goes away with its tombstone."""
    station = _station_token(live_url)
    worker_id = _worker_id(e2e_app)
    context = new_context(phone=True)
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, worker_id), "e2e-tombstone")
    title = f"e2e delta {uuid.uuid4().hex[:6]}"
    task = _api(
        live_url,
        "POST",
        "/tasks",
        {"kind": "task", "title": title, "area_id": _worker_area(e2e_app, worker_id),
         "assigned_worker_id": worker_id},
        station,
    )  # fmt: skip
    heading = page.get_by_role("heading", name=title)
    context.set_offline(True)
    context.set_offline(False)  # back online: the app syncs (upload, then the bundle's delta)
    expect(heading).to_be_visible(timeout=30_000)
    _api(live_url, "PATCH", f"/tasks/{task['id']}",
         {"status": "cancelled", "version": task["version"]}, station)  # fmt: skip
    context.set_offline(True)
    context.set_offline(False)
    expect(heading).to_have_count(0, timeout=30_000)
    page.reload()  # gone from IndexedDB too, not just from the screen
    expect(page.get_by_role("heading", name="我的任务")).to_be_visible()
    expect(heading).to_have_count(0)


def test_a_patrol_takes_its_position_and_accuracy_from_the_gps(
    new_context, live_url, e2e_app
) -> None:
    station = _station_token(live_url)
    context = new_context(
        phone=True,
        geolocation={"longitude": 104.0512, "latitude": 30.5043, "accuracy": 12},
        permissions=["geolocation"],
    )
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, _worker_id(e2e_app)), "e2e-gps")
    page.get_by_role("link", name="记录").click()
    page.get_by_label("类型").select_option("patrol")
    page.get_by_role("button", name="获取 GPS 位置").click()
    expect(page.get_by_text("已定位，精度 12 米")).to_be_visible()
    expect(page.get_by_label("经度")).to_have_value("104.051200")
    expect(page.get_by_label("纬度")).to_have_value("30.504300")
    expect(page.get_by_label("精度（米）")).to_have_value("12")
    marker = f"gps-{uuid.uuid4().hex[:8]}"
    page.get_by_label("备注").fill(marker)
    page.get_by_role("button", name="保存到待发送").click()
    record = _statuses(page, marker)
    expect(record).to_have_attribute("data-status", "created", timeout=30_000)

    from gridserve.extensions import db
    from gridserve.models import Visit

    with e2e_app.app_context():
        visit = db.session.execute(select(Visit).where(Visit.notes == marker)).scalar_one()
        assert visit.kind == "patrol" and visit.accuracy_m == 12 and not visit.mock_location
        db.session.remove()


def test_a_spent_code_shows_the_envelopes_message(new_context, live_url, e2e_app) -> None:
    station = _station_token(live_url)
    code = _enrolment_code(live_url, station, _worker_id(e2e_app))
    _enrol(new_context(phone=True).new_page(), code, "e2e-first")
    page = new_context(phone=True).new_page()
    page.goto("/field/")
    page.get_by_label("登记码").fill(code)
    page.get_by_role("button", name="登记", exact=True).click()
    # The service's own message for a spent code (whatever its wording), shown as it is.
    answer = page.request.post("/api/v1/devices/enrol", data={"code": code, "label": "again"})
    assert answer.status == 401
    expect(page.get_by_role("alert")).to_have_text(answer.json()["error"]["message"])
    expect(page.get_by_role("heading", name="登记终端")).to_be_visible()
