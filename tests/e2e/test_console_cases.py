"""The console's cases screens (issue 14) in a real browser: the ladder board, a case's detail
with its history and steps, a station's on-site verification and the cases report. Demo cases
may or may not be there (and other tests add theirs): every test makes the cases it acts on
through the API (station intake, a unique title) and finds them by that title. Each main
screen is checked with axe and kept as a screenshot."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import uuid
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.live import DEMO_PASSWORD, api_as

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
SLOW = 30_000  # a loaded machine: steps answer within this (Playwright's expect timeout)


def _api(page, username: str):
    """(method, path, body=None, **query) → JSON, as ``username`` (a 2xx answer)."""
    return api_as(page, username)


def _point_of(api) -> tuple[float, float]:
    """A place of the station's community: a point the case (and its verification) stands on."""
    me = api("GET", "/me")
    (place,) = api("GET", "/places", area=me["scope"]["area_id"], page_size=1)
    lon, lat = place["geometry"]["coordinates"][:2]
    return lon, lat


def _new_case(api, category: str, words: str) -> dict:
    """A walk-in case taken by the station, its title unique to this run."""
    lon, lat = _point_of(api)
    title = f"{words} {uuid.uuid4().hex[:6]}"
    case = api(
        "POST",
        "/tasks",
        {
            "kind": "case",
            "title": title,
            "details": "浏览器测试登记",
            "category": category,
            "source": "walk_in",
            "location": {"lon": lon, "lat": lat},
            "reporter": {"name": "王测试", "phone": "13800138000", "consent": True},
        },
    )
    assert case["kind"] == "case" and case["title"] == title
    return case


def _board_filter(page, category: str) -> None:
    page.get_by_label("类别").select_option(category)
    page.get_by_role("button", name="筛选", exact=True).click()


def _step(page, name: str, note: str | None = None) -> None:
    """Open a step's form by its button, write the note, submit; wait for the done line."""
    page.get_by_role("button", name=name, exact=True).click()
    form = page.get_by_role("form", name=name)
    if note is not None:
        form.get_by_role("textbox").fill(note)
    form.get_by_role("button", name="提交", exact=True).click()
    expect(page.get_by_role("status").filter(has_text=f"已{name}")).to_be_visible(timeout=SLOW)


def test_station_accepts_and_escalates_a_case_on_the_board(page, sign_in, axe, screenshot):
    station = _api(page, "station1")
    case = _new_case(station, "sanitation", "楼道堆物")
    assert case["level"] == "cell"
    reason = f"涉及多户，需社区协调 {uuid.uuid4().hex[:4]}"

    sign_in(page, "station1")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="事件处置").click()
    expect(page.get_by_role("heading", level=1, name="分级处置看板")).to_be_visible(timeout=SLOW)
    for level in ("网格", "社区", "街道", "新区"):
        expect(page.get_by_role("heading", level=2, name=level)).to_be_visible(timeout=SLOW)
    _board_filter(page, "sanitation")
    cell = page.get_by_test_id("level-cell")
    card = cell.get_by_test_id("case-card").filter(has_text=case["title"])
    expect(card).to_be_visible(timeout=SLOW)
    expect(card).to_contain_text("环境卫生", timeout=SLOW)
    expect(card).to_contain_text("待受理", timeout=SLOW)
    expect(page.get_by_test_id("count-cell")).to_contain_text("件", timeout=SLOW)
    axe(page)
    screenshot(page, "console-cases-board")

    card.get_by_role("link", name=case["title"]).click()
    expect(page.get_by_role("heading", level=1, name=case["title"])).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("case-level")).to_have_text("网格", timeout=SLOW)
    expect(page.get_by_test_id("case-reporter")).to_contain_text("王测试", timeout=SLOW)
    history = page.get_by_test_id("case-history")
    expect(history.locator("[data-action='created']")).to_have_count(1, timeout=SLOW)
    expect(page.get_by_test_id("case-map")).to_have_attribute("data-ready", "1", timeout=SLOW)

    _step(page, "受理")
    expect(page.get_by_test_id("case-status")).to_contain_text("已受理", timeout=SLOW)
    expect(history.locator("[data-action='accept']")).to_have_count(1, timeout=SLOW)

    # A reason is required: the form refuses to submit without it (the browser's check).
    page.get_by_role("button", name="上报", exact=True).click()
    form = page.get_by_role("form", name="上报")
    expect(form.get_by_label("原因（必填）")).to_have_attribute("required", "", timeout=SLOW)
    form.get_by_label("原因（必填）").fill(reason)
    form.get_by_role("button", name="提交", exact=True).click()
    expect(page.get_by_test_id("case-level")).to_have_text("社区", timeout=SLOW)
    expect(page.get_by_test_id("case-status")).to_contain_text("待受理", timeout=SLOW)
    escalated = history.locator("[data-action='escalate']")
    expect(escalated).to_have_count(1, timeout=SLOW)
    expect(escalated).to_contain_text("网格 → 社区", timeout=SLOW)
    expect(escalated).to_contain_text(reason, timeout=SLOW)
    expect(escalated).to_contain_text("本人", timeout=SLOW)
    axe(page, exclude=[".leaflet-container"])
    screenshot(page, "console-cases-detail")

    # Back on the board it stands in the community's column.
    page.get_by_role("link", name="返回看板").click()
    _board_filter(page, "sanitation")
    community = page.get_by_test_id("level-community")
    expect(community.get_by_test_id("case-card").filter(has_text=case["title"])).to_be_visible(
        timeout=SLOW
    )
    expect(
        page.get_by_test_id("level-cell").get_by_test_id("case-card").filter(has_text=case["title"])
    ).to_have_count(0)


def test_a_stale_step_shows_the_envelopes_message(page, sign_in):
    station = _api(page, "station1")
    case = _new_case(station, "noise", "夜间噪声")
    sign_in(page, "station1")
    page.goto(f"/#/cases/{case['id']}")
    expect(page.get_by_role("heading", level=1, name=case["title"])).to_be_visible(timeout=SLOW)
    # Someone else accepts it meanwhile: the page's version is stale.
    station("POST", f"/tasks/{case['id']}/accept", {"version": case["version"]})
    page.get_by_role("button", name="受理", exact=True).click()
    page.get_by_role("form", name="受理").get_by_role("button", name="提交", exact=True).click()
    # The message the API gives for that same step (whatever its wording), shown as it is.
    token = page.request.post(
        "/api/v1/auth/token", data={"username": "station1", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    refused = page.request.post(
        f"/api/v1/tasks/{case['id']}/accept",
        headers={"Authorization": f"Bearer {token}"},
        data={"version": case["version"]},
    )
    assert refused.status == 409
    expect(page.get_by_role("alert")).to_have_text(refused.json()["error"]["message"], timeout=SLOW)


def test_station_verifies_on_site_and_closes(new_context, sign_in, axe, screenshot):
    # The station's browser stands on the case's point (geolocation granted).
    probe = new_context().new_page()
    station = _api(probe, "station1")
    case = _new_case(station, "roads_lights", "路灯不亮")
    assert case["needs_verification"] is True
    lon, lat = case["location"]["lon"], case["location"]["lat"]
    case = station("POST", f"/tasks/{case['id']}/accept", {"version": case["version"]})
    case = station(
        "POST", f"/tasks/{case['id']}/settle", {"version": case["version"], "note": "已更换灯泡"}
    )
    assert case["status"] == "settled"

    page = new_context(
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 8},
        permissions=["geolocation"],
    ).new_page()
    sign_in(page, "station1")
    page.goto(f"/#/cases/{case['id']}")
    expect(page.get_by_test_id("case-status")).to_contain_text("已办结", timeout=SLOW)
    # Closing needs the verification first: no close button yet, the verify link instead.
    expect(page.get_by_role("button", name="结案", exact=True)).to_have_count(0, timeout=SLOW)
    page.get_by_role("link", name="现场核查").click()
    expect(page.get_by_role("heading", level=1, name="现场核查")).to_be_visible(timeout=SLOW)
    form = page.get_by_role("form", name="现场核查")

    # Far from the case (about 1.1 km north): 422 too_far, shown with the distance.
    form.get_by_label("经度").fill(f"{lon:.6f}")
    form.get_by_label("纬度").fill(f"{lat + 0.01:.6f}")
    form.get_by_label("现场照片").set_input_files(
        files=[{"name": "site.png", "mimeType": "image/png", "buffer": PNG}]
    )
    form.get_by_label("核查说明").fill("路灯已亮")
    form.get_by_role("button", name="提交核查").click()
    expect(page.get_by_test_id("too-far")).to_contain_text("超出允许的", timeout=SLOW)
    expect(page.get_by_role("alert")).to_be_visible(timeout=SLOW)
    axe(page)
    screenshot(page, "console-cases-verify-too-far")

    # Where the browser says we are: on the case's point.
    form.get_by_role("button", name="使用当前位置").click()
    expect(form.get_by_label("纬度")).to_have_value(f"{lat:.6f}", timeout=SLOW)
    form.get_by_role("button", name="提交核查").click()
    expect(page.get_by_role("heading", level=1, name=case["title"])).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("case-status")).to_contain_text("已核查", timeout=SLOW)
    history = page.get_by_test_id("case-history")
    verified = history.locator("[data-action='verify']")
    expect(verified).to_have_count(1, timeout=SLOW)
    expect(verified).to_contain_text("照片 1 张", timeout=SLOW)
    photo = verified.get_by_role("img", name="处置照片")
    expect(photo).to_be_visible(timeout=SLOW)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    # The verification's place is on the map with the case's own point.
    expect(page.get_by_test_id("case-map")).to_have_attribute("data-points", "2", timeout=SLOW)

    _step(page, "结案", "现场核查无误，结案")
    expect(page.get_by_test_id("case-status")).to_contain_text("已结案", timeout=SLOW)
    expect(history.locator("[data-action='close']")).to_have_count(1, timeout=SLOW)
    expect(page.get_by_role("button", name="重新办理", exact=True)).to_be_visible(timeout=SLOW)
    axe(page, exclude=[".leaflet-container"])
    screenshot(page, "console-cases-closed")


def test_street_centre_reads_the_report_and_downloads_it(page, sign_in, axe, screenshot):
    station = _api(page, "station1")
    _new_case(station, "parking", "乱停车")
    centre = _api(page, "centre")

    sign_in(page, "centre")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="事件报表").click()
    expect(page.get_by_role("heading", level=1, name="事件报表")).to_be_visible(timeout=SLOW)
    # The figures of the window the screen shows (the browser's days), as the API gives them.
    window = {k: page.get_by_label(label).input_value() for k, label in
              (("from", "起始日期"), ("to", "截止日期"))}  # fmt: skip
    figures = centre("GET", "/reports/cases", **window)
    levels = page.get_by_test_id("report-levels")
    expect(levels.locator("tbody tr")).to_have_count(len(figures["levels"]) + 1, timeout=SLOW)
    total = levels.locator("tbody tr.total")
    expect(total.locator("td").first).to_have_text(str(figures["totals"]["received"]), timeout=SLOW)
    expect(levels).to_contain_text("小问题不出网格", timeout=SLOW)
    categories = page.get_by_test_id("report-categories")
    expect(categories.locator("tbody tr")).to_have_count(len(figures["categories"]), timeout=SLOW)
    expect(categories.locator("tr[data-category='parking']")).to_contain_text(
        "乱停乱放", timeout=SLOW
    )
    expect(page.get_by_test_id("report-map")).to_have_attribute("data-ready", "1", timeout=SLOW)
    axe(page, exclude=[".leaflet-container"])
    screenshot(page, "console-cases-report")

    with page.expect_download() as info:
        page.get_by_role("button", name="下载 CSV").click()
    text = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text)))  # a header row
    with page.expect_download() as info:
        page.get_by_role("button", name="下载 XLSX").click()
    assert info.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()), read_only=True)
    assert len(book.sheetnames) >= 2


def test_the_tasks_list_sends_a_case_to_its_steps(page, sign_in):
    station = _api(page, "station1")
    case = _new_case(station, "other", "其他事项")
    sign_in(page, "station1")
    page.goto("/#/tasks")
    page.get_by_label("类型").select_option("case")
    page.get_by_role("button", name="筛选").click()
    page.get_by_role("link", name=case["title"]).click()
    expect(page).to_have_url(f"{page.url.split('#')[0]}#/cases/{case['id']}", timeout=SLOW)
    expect(page.get_by_role("heading", level=1, name=case["title"])).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="受理", exact=True)).to_be_visible(timeout=SLOW)


def test_street_centre_supervises_and_dispatches_and_the_department_accepts(
    new_context, sign_in, axe, screenshot
):
    probe = new_context().new_page()
    coordinator, admin = _api(probe, "coordinator"), _api(probe, "admin")
    mark = uuid.uuid4().hex[:6].upper()
    department = coordinator(
        "POST",
        "/institutions",
        {
            "code": f"E2E-CG-{mark}",
            "name": f"城管执法测试中队{mark}",
            "short_name": f"城管{mark}",
            "level": "county",
            "kind": "department",
        },
    )
    contact = f"dept{mark.lower()}"
    admin(
        "POST",
        "/users",
        {
            "username": contact,
            "password": DEMO_PASSWORD,
            "full_name": "城管联络员",
            "role": "institution_contact",
            "institution_id": department["id"],
        },
    )
    # A safety hazard goes to the street at once.
    case = _new_case(_api(probe, "station1"), "safety_hazard", "井盖缺失")
    assert case["level"] == "street"
    due = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT10:00")

    page = new_context().new_page()
    sign_in(page, "centre")
    page.goto("/#/cases")
    _board_filter(page, "safety_hazard")
    street = page.get_by_test_id("level-street")
    card = street.get_by_test_id("case-card").filter(has_text=case["title"])
    expect(card).to_be_visible(timeout=SLOW)
    card.get_by_role("link", name=case["title"]).click()
    expect(page.get_by_test_id("case-level")).to_have_text("街道", timeout=SLOW)
    # The centre's steps: no verification, no closing of an open case.
    expect(page.get_by_role("link", name="现场核查")).to_have_count(0, timeout=SLOW)
    expect(page.get_by_role("button", name="结案", exact=True)).to_have_count(0, timeout=SLOW)

    page.get_by_role("button", name="督办", exact=True).click()
    form = page.get_by_role("form", name="督办")
    form.get_by_label("期限").fill(due)
    form.get_by_label("说明").fill("请三日内处置")
    form.get_by_role("button", name="提交", exact=True).click()
    expect(page.get_by_test_id("case-status")).to_contain_text("督办", timeout=SLOW)

    page.get_by_role("button", name="派遣部门", exact=True).click()
    form = page.get_by_role("form", name="派遣部门")
    form.get_by_label("承办部门").select_option(department["code"])
    form.get_by_label("期限").fill(due)
    form.get_by_role("button", name="提交", exact=True).click()
    expect(page.get_by_test_id("case-facts")).to_contain_text(department["name"], timeout=SLOW)
    dispatched = page.get_by_test_id("case-history").locator("[data-action='dispatch']")
    expect(dispatched).to_contain_text(department["name"], timeout=SLOW)
    axe(page, exclude=[".leaflet-container"])
    screenshot(page, "console-cases-dispatched")

    # The board in English: the card names its department and the supervision.
    page.get_by_role("link", name="返回看板").click()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1, name="Ladder board")).to_be_visible(timeout=SLOW)
    page.get_by_label("Category").select_option("safety_hazard")
    page.get_by_role("button", name="Filter", exact=True).click()
    card = street.get_by_test_id("case-card").filter(has_text=case["title"])
    expect(card).to_contain_text("Supervised", timeout=SLOW)
    expect(card).to_contain_text(department["name"], timeout=SLOW)
    page.get_by_role("button", name="中文").click()

    # The department's contact sees exactly that case, and accepts it.
    mine = new_context().new_page()
    sign_in(mine, contact)
    mine.get_by_role("navigation", name="主导航").get_by_role("link", name="事件处置").click()
    expect(mine.get_by_text("仅显示派发给本部门的事件")).to_be_visible(timeout=SLOW)
    cards = mine.get_by_test_id("case-card")
    expect(cards.filter(has_text=case["title"])).to_be_visible(timeout=SLOW)
    expect(cards).to_have_count(1, timeout=SLOW)
    cards.get_by_role("link", name=case["title"]).click()
    # The reporter is masked for a department (not an office of the case's area).
    expect(mine.get_by_test_id("case-reporter")).to_contain_text("已脱敏", timeout=SLOW)
    expect(mine.get_by_test_id("case-reporter")).not_to_contain_text("13800138000", timeout=SLOW)
    # A department accepts, settles, pauses or returns; escalating is not its step.
    expect(mine.get_by_role("button", name="上报", exact=True)).to_have_count(0)
    _step(mine, "受理")
    expect(mine.get_by_test_id("case-status")).to_contain_text("已受理", timeout=SLOW)
    axe(mine, exclude=[".leaflet-container"])
    screenshot(mine, "console-cases-department")


def test_a_bank_contact_has_the_sms_desk_and_no_case_board(page, sign_in):
    """Contacts see what their institution's kind does: a bank the SMS desk and no case board
    (cases are dispatched to departments only)."""
    sign_in(page, "bank1")
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="短信")).to_be_visible(timeout=SLOW)
    expect(nav.get_by_role("link", name="事件处置")).to_have_count(0)
