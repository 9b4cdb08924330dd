"""The console's SMS, tasks and outreach screens in a real browser, on the seeded demo: a bank
contact writes, edits and submits its own custom text and never sees another bank's; the
coordinator reads the rotation timeline and the progress, reviews the text; the coordinator
opens the outreach programme, an event's readiness and rosters, and asks for site suggestions;
a station reads its tasks. Each screen is checked with axe and kept as a screenshot."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.live import DEMO_PASSWORD, api_as

CAMPAIGN = "小微企业金融服务宣传月短信"
PROGRAMME = "2027年小微企业金融服务宣传月"
ICBC_SLOGAN = "工行小微贷款,线上申请,快速到账。"  # bank2's approved custom text in the demo
ADBC_SLOGAN = "农发行支持乡村振兴,助力小微企业发展。"  # bank1's


def _text_id(page, body: str) -> int:
    """The id of the signed-in bank's text with this body (from the API, as the page sees it)."""
    token = page.evaluate("() => sessionStorage.getItem('gridserve.console.token')")
    campaigns = page.request.get(
        "/api/v1/sms/campaigns", headers={"Authorization": f"Bearer {token}"}
    ).json()
    cid = next(c["id"] for c in campaigns if c["name"] == CAMPAIGN)
    texts = page.request.get(
        f"/api/v1/sms/campaigns/{cid}/texts", headers={"Authorization": f"Bearer {token}"}
    ).json()
    return next(x["id"] for x in texts if x["body"] == body)


def _open_campaign(page) -> None:
    page.goto("/#/sms")
    page.get_by_role("link", name=CAMPAIGN).click()
    expect(page.get_by_role("heading", level=1, name=re.compile(CAMPAIGN))).to_be_visible()


def test_bank_contact_edits_and_submits_its_custom_text(
    page, new_context, sign_in, axe, screenshot
) -> None:
    body = f"农发行小微贷款试点{uuid.uuid4().hex[:6]}"
    sign_in(page, "bank1")  # ADBC
    _open_campaign(page)
    own = page.get_by_role("region", name="本机构的自定义文本")
    expect(own.get_by_text(ADBC_SLOGAN)).to_be_visible()
    # Another bank's text is nowhere on the page, nor another bank's progress.
    expect(page.get_by_text(ICBC_SLOGAN)).to_have_count(0)
    expect(page.get_by_test_id("sms-progress").locator("> li")).to_have_count(1)
    expect(page.get_by_test_id("sms-progress")).to_contain_text("农发行")
    expect(page.get_by_test_id("sms-progress")).not_to_contain_text("工商银行")

    # A new draft, then an edit, then submitted for review.
    page.get_by_label("文本内容", exact=True).fill(body)
    page.get_by_role("button", name="保存草稿").click()
    expect(page.get_by_text("已保存。")).to_be_visible()
    text_id = _text_id(page, body)
    card = page.get_by_test_id(f"text-{text_id}")
    expect(card).to_contain_text("草稿")
    textarea = card.get_by_label(f"文本 {text_id} 的内容")
    expect(textarea).to_have_value(body)
    textarea.fill(body + "，线上申请")
    card.get_by_role("button", name="保存", exact=True).click()
    expect(card.get_by_label(f"文本 {text_id} 的内容")).to_have_value(body + "，线上申请")
    card.get_by_role("button", name="提交审核").click()
    expect(page.get_by_text("已提交审核。")).to_be_visible()
    expect(card).to_contain_text("待审核")
    expect(card.locator("textarea")).to_have_count(0)  # in review: no longer editable
    axe(page)
    screenshot(page, "console-sms-bank-own-texts")

    # bank2 (ICBC) sees its own slogan, not bank1's texts, old or new.
    other = new_context().new_page()
    sign_in(other, "bank2")
    _open_campaign(other)
    expect(other.get_by_text(ICBC_SLOGAN)).to_be_visible()
    expect(other.get_by_text(ADBC_SLOGAN)).to_have_count(0)
    expect(other.get_by_text(body)).to_have_count(0)

    # The coordinator finds it in the review queue and approves it.
    desk = new_context().new_page()
    sign_in(desk, "coordinator")
    _open_campaign(desk)
    queue = desk.get_by_role("region", name="文本审核队列")
    item = queue.locator("li.card", has_text=body + "，线上申请")
    expect(item).to_be_visible()
    item.get_by_role("button", name="通过").click()
    expect(queue.locator("li.card", has_text=body)).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id(f"text-{text_id}")).to_contain_text("已通过")


def test_coordinator_sees_the_rotation_timeline_and_progress(
    page, sign_in, axe, screenshot
) -> None:
    sign_in(page, "coordinator")
    _open_campaign(page)
    timeline = page.get_by_test_id("sms-timeline")
    table = timeline.get_by_role("table")
    expect(table.get_by_role("rowheader")).to_have_count(11)  # the 11 banks, one row each
    expect(table.get_by_role("rowheader").first).to_contain_text("农发行")
    expect(table.get_by_role("columnheader", name=re.compile("04-09"))).to_be_visible()
    # ADBC's slot on 9 April, in words for screen readers.
    expect(table).to_contain_text("农发行：2027-04-09 08:00 至 2027-04-09 21:00，第 1 轮")
    expect(page.get_by_role("heading", name="时间表说明")).to_be_visible()
    bars = page.get_by_test_id("sms-progress").locator("> li")
    expect(bars).to_have_count(11)
    expect(bars.first.get_by_role("img")).to_have_attribute(
        "aria-label", re.compile("农发行：收件人 300")
    )
    expect(page.get_by_role("heading", name="文本审核队列")).to_be_visible()
    axe(page)
    screenshot(page, "console-sms-coordinator-timeline")


def _api(page, username: str):
    """(method, path, body) → the response, as ``username``."""
    return api_as(page, username, check=False)


def test_timeline_explains_a_skipped_sender(page, sign_in, axe, screenshot) -> None:
    # A campaign of its own: ICBC, ABC, BOC one a day; ABC has no approved custom text, so
    # under `shift` its day goes to BOC and the schedule says why.
    api = _api(page, "coordinator")
    code = f"E2E-SKIP-{uuid.uuid4().hex[:6].upper()}"
    made = api(
        "POST",
        "/sms/campaigns",
        {
            "code": code,
            "name": f"顺延演示 {code}",
            "area_id": 1,
            "start_date": "2027-05-07",
            "end_date": "2027-05-14",
            "senders": ["ICBC", "ABC", "BOC"],
            "policy": "shift",
        },
    )
    assert made.status == 201, made.text()
    cid = made.json()["id"]
    for sender in ("ICBC", "BOC"):
        text = api(
            "POST",
            f"/sms/campaigns/{cid}/texts",
            {"kind": "custom", "sender": sender, "body": f"{sender} 小微企业贷款。"},
        ).json()
        assert api("POST", f"/sms/texts/{text['id']}/submit").status == 200
        assert api("POST", f"/sms/texts/{text['id']}/approve", {}).status == 200

    sign_in(page, "coordinator")
    page.goto(f"/#/sms/{cid}")
    table = page.get_by_test_id("sms-timeline").get_by_role("table")
    rows = table.get_by_role("rowheader")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("ABC")  # in campaign order, though it has no slot
    expect(table.get_by_role("row", name=re.compile("ABC"))).to_contain_text("2027-05-08：ABC 跳过")
    expect(table.get_by_role("row", name=re.compile("BOC"))).to_contain_text(
        "中国银行：2027-05-08 08:00"
    )
    expect(page.locator(".sms-events")).to_contain_text("ABC 跳过")
    expect(page.get_by_text("统一文本尚未审核通过")).to_be_visible()
    axe(page)
    screenshot(page, "console-sms-timeline-skipped")


def test_coordinator_opens_the_programme_event_readiness_and_site_suggestions(
    page, sign_in, axe, screenshot
) -> None:
    sign_in(page, "coordinator")
    page.goto("/#/outreach")
    expect(page.get_by_role("heading", level=1, name="活动方案")).to_be_visible()
    axe(page)
    page.get_by_role("link", name=PROGRAMME).click()
    expect(page.get_by_role("heading", level=1, name=re.compile(PROGRAMME))).to_be_visible()
    events = page.get_by_test_id("programme-events")
    expect(events.get_by_role("link", name="宣传点7：滨河路早市")).to_be_visible()
    # The header, the launch and the 7 sites (and any event another test added).
    assert events.get_by_role("row").count() >= 9
    expect(page.get_by_text("现场方案截止：2027-04-06 23:59")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("SME-MONTH-2027"))).to_be_visible()
    expect(page.get_by_test_id("events-map")).to_have_attribute("data-ready", "1")
    assert page.locator(".or-map .leaflet-interactive").count() >= 8
    calendar = page.get_by_test_id("month-calendar")
    expect(calendar.get_by_role("link", name=re.compile("启动仪式"))).to_be_visible()
    expect(page.get_by_role("heading", name="活动总结汇总")).to_be_visible()
    axe(page)
    screenshot(page, "console-outreach-programme")

    # Site 2: its plan was returned and DZLY brings one board too few.
    events.get_by_role("link", name="宣传点2：翠竹生鲜市场").click()
    expect(page.get_by_role("heading", level=1, name="宣传点2：翠竹生鲜市场")).to_be_visible()
    readiness = page.get_by_test_id("readiness")
    expect(readiness).to_contain_text("尚未就绪")
    expect(readiness.get_by_role("row", name=re.compile("DZLY"))).to_be_visible()
    expect(readiness.get_by_role("row", name=re.compile("ICBC"))).to_be_visible()
    expect(page.get_by_test_id("plan-status")).to_contain_text("已退回")
    rosters = page.get_by_test_id("rosters")
    expect(rosters).to_contain_text("****")
    assert not re.search(r"\+86\d{11}", rosters.inner_text()), "a roster phone shown in full"
    # planned → approved
    expect(page.get_by_role("button", name="批准", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="取消活动")).to_be_visible()
    axe(page)
    screenshot(page, "console-outreach-event")

    page.get_by_role("link", name="活动地图与日历").click()
    expect(page.get_by_test_id("events-map")).to_have_attribute("data-ready", "1")
    expect(page.get_by_role("strong").filter(has_text="2027年4月")).to_be_visible()
    axe(page)
    screenshot(page, "console-outreach-map-calendar")

    page.get_by_role("link", name="选址建议").click()
    page.get_by_label("宣传点个数").fill("5")
    page.get_by_label("服务半径（米）").fill("300")
    page.get_by_role("button", name="计算选址").click()
    result = page.get_by_test_id("site-suggestions")
    expect(result).to_contain_text("建议的 5 个宣传点覆盖", timeout=30_000)
    expect(result).to_contain_text("基线")
    expect(page.get_by_test_id("sites-map")).to_have_attribute("data-ready", "1")
    # Five catchment circles and five dashed baseline circles (plus the centre dots).
    expect(page.locator(".or-map path[stroke-dasharray]")).to_have_count(5)
    expect(result.get_by_role("table").first.locator("tbody tr")).to_have_count(5)
    axe(page)
    screenshot(page, "console-outreach-site-suggestions")


def test_bank_contact_acknowledges_a_notice(page, sign_in, axe, screenshot) -> None:
    # An approved event of its own, with ADBC as the only co-organiser, moved by an hour:
    # ADBC gets a change notice and its contact acknowledges it in the console.
    api = _api(page, "coordinator")
    title = f"通知演示 {uuid.uuid4().hex[:6]}"
    made = api(
        "POST",
        "/outreach/programmes/1/events",
        {
            "kind": "launch",
            "title": title,
            "starts_at": "2027-04-22T09:00:00+08:00",
            "ends_at": "2027-04-22T11:00:00+08:00",
            "location": {"lon": 104.052, "lat": 30.501},
            "address": "演示地点",
            "venue_confirmed": True,
            "co_organisers": ["ADBC"],
        },
    )
    assert made.status == 201, made.text()
    ev = made.json()
    for step in ("publish", "approve"):
        ev = api("POST", f"/outreach/events/{ev['id']}/{step}", {"version": ev["version"]}).json()
    moved = api(
        "PATCH",
        f"/outreach/events/{ev['id']}",
        {
            "version": ev["version"],
            "starts_at": "2027-04-22T10:00:00+08:00",
            "ends_at": "2027-04-22T12:00:00+08:00",
        },
    )
    assert moved.status == 200, moved.text()

    sign_in(page, "bank1")
    page.goto("/#/outreach/notices")
    expect(page.get_by_role("heading", level=1, name="变更通知")).to_be_visible()
    page.get_by_label("只看未确认").check()
    row = page.get_by_role("row", name=re.compile(title))
    expect(row).to_contain_text("时间或地点变更")
    expect(row).to_contain_text("10:00")
    axe(page)
    screenshot(page, "console-outreach-notices-bank")
    row.get_by_role("button", name=f"确认收到：{title}").click()
    expect(page.get_by_role("row", name=re.compile(title))).to_have_count(0)  # only open ones
    page.get_by_label("只看未确认").uncheck()
    expect(page.get_by_role("row", name=re.compile(title))).to_contain_text("已确认")


def test_lead_bank_may_file_its_plan_but_not_review_it(page, sign_in, axe) -> None:
    sign_in(page, "bank2")  # ICBC leads site 2, whose plan was returned
    page.goto("/#/outreach/event/3")
    expect(page.get_by_role("heading", level=1, name="宣传点2：翠竹生鲜市场")).to_be_visible()
    expect(page.get_by_label("方案内容")).to_be_visible()
    expect(page.get_by_role("button", name="提交方案")).to_be_visible()
    expect(page.get_by_role("button", name="批准方案")).to_have_count(0)
    expect(page.get_by_role("button", name="发布", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="取消活动")).to_have_count(0)
    axe(page)


def test_station_lists_filters_and_opens_a_task(page, sign_in, axe, screenshot) -> None:
    title = f"核查楼道堆物 {uuid.uuid4().hex[:6]}"
    token = page.request.post(
        "/api/v1/auth/token", data={"username": "station1", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = page.request.get("/api/v1/me", headers=auth).json()
    made = page.request.post(
        "/api/v1/tasks",
        headers=auth,
        data={"kind": "case", "title": title, "area_id": me["scope"]["area_id"]},
    )
    assert made.status == 201, made.text()
    sign_in(page, "station1")
    page.goto("/#/tasks")
    expect(page.get_by_role("heading", level=1, name="任务与事件")).to_be_visible()
    page.get_by_label("类型").select_option("case")
    page.get_by_label("状态").select_option("open")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_role("link", name=title)).to_be_visible()
    axe(page)
    screenshot(page, "console-tasks-list")
    # A case moves only by its steps: its row opens the case screen, with its history.
    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()
    expect(page.get_by_role("heading", name="处置记录")).to_be_visible()
    axe(page, exclude=[".leaflet-container"])
    screenshot(page, "console-tasks-detail")


def test_outreach_desk_by_keyboard_only(page, sign_in) -> None:
    sign_in(page, "coordinator")
    page.goto("/#/outreach")
    link = page.get_by_role("link", name=PROGRAMME)
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name=re.compile(PROGRAMME))).to_be_visible()
    calendar = page.get_by_role("region", name="月历")
    expect(calendar.get_by_role("strong")).to_have_text("2027年4月")
    calendar.get_by_role("button", name="下个月").focus()
    page.keyboard.press("Enter")
    expect(calendar.get_by_role("strong")).to_have_text("2027年5月")
    page.keyboard.press("Shift+Tab")
    expect(calendar.get_by_role("button", name="上个月")).to_be_focused()
    page.keyboard.press("Enter")
    expect(calendar.get_by_role("strong")).to_have_text("2027年4月")
    calendar.get_by_role("link", name=re.compile("宣传点3：滨河小学")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="宣传点3：滨河小学")).to_be_visible()
    page.goto("/#/outreach/sites")
    expect(page.get_by_role("button", name="计算选址")).to_be_enabled()  # the areas are in
    page.get_by_label("宣传点个数").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_test_id("site-suggestions")).to_contain_text(
        "建议的 3 个宣传点覆盖", timeout=30_000
    )
