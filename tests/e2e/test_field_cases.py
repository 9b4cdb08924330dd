"""The worker's cases on the field app, on a 360×640 phone against the live seeded demo: the
station takes in two cases in worker1's cell (a walk-in's sanitation problem and a noise
complaint); the worker's terminal downloads them with the bundle and lists them under 事件 with
category, level and status. Online, the worker accepts one and settles it with a result and a
photo, each step answered by the server (status 已受理, then 已处置, in the history too). The
other, past its level's deadline, shows 已超时 and comes first; the station accepts it behind
the terminal's back, so the worker's accept meets 409 ``stale_version``: the app says so and
loads the latest version. Offline, the case page
says its steps need a connection, and the worker reports a new case with a category; back
online it goes up (``created``), a resend is ``duplicate``, and the case comes back in the list
with its category. Screens pass axe and are kept as screenshots."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid

from playwright.sync_api import expect

from tests.e2e.test_field_app import _api, _controlled, _enrol, _enrolment_code, _station_token
from tests.e2e.test_field_app import _worker_id as worker_id_of
from tests.e2e.test_field_sme_visits import _cell_positions

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)


def _intake(live_url: str, station: str, title: str, category: str, where: tuple[float, float]):
    """A case taken in by the station at ``where`` (in worker1's cell): it goes to the worker."""
    return _api(
        live_url,
        "POST",
        "/tasks",
        {
            "kind": "case",
            "title": title,
            "details": "居民到站反映",
            "category": category,
            "location": {"lon": where[0], "lat": where[1]},
        },
        station,
    )


def _past_due(e2e_app, task_id: int) -> None:
    """The case's level deadline an hour ago (as if its level's time had run out)."""
    from gridserve.db import utcnow
    from gridserve.extensions import db
    from gridserve.models import Task

    with e2e_app.app_context():
        db.session.get(Task, task_id).level_due_at = utcnow() - dt.timedelta(hours=1)
        db.session.commit()
        db.session.remove()


def _cases_tab(page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="事件", exact=True).click()
    expect(page.get_by_role("heading", name="我的事件")).to_be_visible()


def test_worker_lists_handles_and_reports_cases(
    new_context, live_url, e2e_app, axe, screenshot
) -> None:
    marker = f"E2E{uuid.uuid4().hex[:6].upper()}"
    station = _station_token(live_url)
    worker = worker_id_of(e2e_app)
    _street, positions = _cell_positions(e2e_app)
    first = _intake(live_url, station, f"{marker} 垃圾堆放", "sanitation", positions[0])
    second = _intake(live_url, station, f"{marker} 夜间噪声", "noise", positions[1])
    for case in (first, second):
        assert case["assigned_worker_id"] == worker, case
        assert (case["level"], case["status"]) == ("cell", "open")
    _past_due(e2e_app, second["id"])  # the live server runs no deadline job: it stays put

    context = new_context(phone=True)
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, worker), f"e2e-cases {marker}")
    _controlled(page)

    # The list, from the bundle in IndexedDB: category, level and status of each.
    _cases_tab(page)
    cards = page.get_by_test_id("case").filter(has_text=marker)
    expect(cards).to_have_count(2)
    one = cards.filter(has_text=first["title"])
    expect(one).to_contain_text("环境卫生")
    expect(one.get_by_test_id("case-level")).to_have_text("网格")
    expect(one.get_by_test_id("case-status")).to_have_text("待处理")
    expect(one).to_contain_text("限办")
    expect(one.get_by_test_id("case-overdue")).to_have_count(0)
    late = cards.filter(has_text=second["title"])
    expect(late).to_contain_text("噪声扰民")
    expect(late.get_by_test_id("case-overdue")).to_have_text("已超时")
    expect(cards.first).to_contain_text(second["title"])  # the overdue one comes first
    axe(page)
    screenshot(page, "field-cases")

    # Accept, then settle with a result and a photo: online, each step answered by the server.
    one.get_by_role("link").click()
    detail = page.get_by_test_id("case-detail")
    expect(page.get_by_role("heading", name=first["title"])).to_be_visible()
    expect(detail.get_by_test_id("case-category")).to_have_text("环境卫生")
    expect(detail.get_by_test_id("case-history")).to_contain_text("上报")
    detail.get_by_role("button", name="受理").click()
    expect(detail.get_by_test_id("case-status")).to_have_text("已受理", timeout=30_000)
    detail.get_by_role("button", name="处置完成").click()
    expect(detail.get_by_role("alert")).to_contain_text("需要填写说明")  # a result is needed
    detail.get_by_label(re.compile("^说明")).fill(f"{marker} 已清运")
    detail.get_by_label("现场照片").set_input_files(
        files=[{"name": "site.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(detail).to_contain_text("1 张照片")
    axe(page)
    screenshot(page, "field-case-settle")
    detail.get_by_role("button", name="处置完成").click()
    expect(detail.get_by_test_id("case-status")).to_have_text("已处置", timeout=30_000)
    expect(detail.get_by_test_id("case-history")).to_contain_text(f"{marker} 已清运")
    expect(detail.get_by_role("button", name="处置完成")).to_have_count(0)
    settled = _api(live_url, "GET", f"/tasks/{first['id']}", token=station)
    assert settled["status"] == "settled" and settled["version"] == first["version"] + 2
    assert [h["action"] for h in settled["history"]][-2:] == ["accept", "settle"]
    assert len(settled["history"][-1]["attachments"]) == 1
    screenshot(page, "field-case-settled")

    # The station accepts the other case once the worker has it open: the worker's accept is
    # based on an old version, refused (stale_version) and the latest version loaded.
    _cases_tab(page)
    cards.filter(has_text=second["title"]).get_by_role("link").click()
    detail = page.get_by_test_id("case-detail")
    expect(detail.get_by_test_id("case-history")).to_contain_text("上报")
    taken = _api(
        live_url,
        "POST",
        f"/tasks/{second['id']}/accept",
        {"version": second["version"], "note": "站长已受理"},
        station,
    )
    assert taken["status"] == "accepted"
    detail.get_by_role("button", name="受理").click()
    expect(detail.get_by_role("alert")).to_contain_text("已被他人修改")
    expect(detail.get_by_test_id("case-status")).to_have_text("已受理")
    expect(detail.get_by_role("button", name="处置完成")).to_be_visible()
    expect(detail.get_by_test_id("case-history")).to_contain_text("站长已受理")

    # Offline: the steps need a connection.
    context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="离线")).to_be_visible()
    expect(detail.get_by_text("处理事件需要联网")).to_be_visible()
    expect(detail.get_by_role("button", name="处置完成")).to_be_disabled()

    # ... and a new case reported with its category, queued.
    _cases_tab(page)
    page.get_by_role("link", name="上报事件").click()
    expect(page.get_by_role("heading", name="新记录")).to_be_visible()
    expect(page.get_by_label("类型")).to_have_value("case")
    page.get_by_label("地点").select_option(index=1)
    reported = f"{marker} 井盖缺失"
    page.get_by_label("问题标题").fill(reported)
    page.get_by_label("事件类别").select_option(label="公共设施损坏")
    page.get_by_label("问题描述").fill("人行道井盖缺失")
    axe(page)
    screenshot(page, "field-case-report")
    page.get_by_role("button", name="保存到待发送").click()
    expect(page.get_by_role("heading", name="待发送与结果")).to_be_visible()
    record = page.get_by_test_id("record").filter(has_text=reported)
    expect(record).to_have_attribute("data-status", "pending")
    _cases_tab(page)
    expect(page.get_by_test_id("case-waiting").filter(has_text=reported)).to_contain_text(
        "公共设施损坏"
    )

    # Online again: it goes up on its own (created); sent again it is a duplicate.
    page.get_by_role("link", name=re.compile("^待发送")).click()
    context.set_offline(False)
    expect(record).to_have_attribute("data-status", "created", timeout=30_000)
    record.get_by_role("button", name="重新发送").click()
    expect(record).to_have_attribute("data-status", "duplicate", timeout=30_000)
    screenshot(page, "field-case-outbox")

    # Back in the list from the bundle, with its category, at the cell; stored once.
    page.get_by_role("button", name="立即同步").click()
    _cases_tab(page)
    mine = page.get_by_test_id("case").filter(has_text=reported)
    expect(mine).to_contain_text("公共设施损坏", timeout=30_000)
    expect(mine.get_by_test_id("case-level")).to_have_text("网格")
    found = _api(live_url, "GET", "/tasks?kind=case&category=public_facility_damage&page_size=100",
                 token=station)  # fmt: skip
    made = [t for t in found if t["title"] == reported]
    assert len(made) == 1 and made[0]["source"] == "terminal"
    assert made[0]["assigned_worker_id"] == worker
