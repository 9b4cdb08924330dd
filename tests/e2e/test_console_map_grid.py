"""The console's map, grid layouts, field work and households screens in a real browser, on the
seeded demo: cells and places drawn, a cell's panel, two layouts generated and compared, a
terminal enrolled (code and QR), households masked with an explicit clear read; axe on each."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.live import api_as

# The map draws on a canvas; axe has nothing to say about its pixels.
MAP_CANVAS = (".leaflet-pane",)


def _open(page, route: str, heading: str) -> None:
    page.goto(f"/#/{route}")
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_centre_opens_the_map_with_cells_and_places(page, sign_in, axe, screenshot) -> None:
    sign_in(page, "centre")
    _open(page, "map", "地图")
    status = page.get_by_test_id("map-status")
    expect(status).to_have_attribute("data-drawn", "yes", timeout=30_000)
    expect(status).to_have_text(re.compile(r"^140 个网格，3\d{4} 个地点$"))
    region = page.get_by_role("region", name="青石街道地图")
    expect(region.locator("canvas").first).to_be_visible()
    # the area tree: the street, its communities one click away
    tree = page.get_by_role("navigation", name="区域")
    expect(tree.get_by_role("button", name="青石街道 街道")).to_have_attribute(
        "aria-pressed", "true"
    )
    # a cell's panel, reached with the keyboard through the cell list
    page.get_by_label("网格列表").select_option("QS01-001")
    page.get_by_role("button", name="打开网格").focus()
    page.keyboard.press("Enter")
    panel = page.get_by_test_id("cell-panel")
    expect(panel.get_by_role("heading", name="网格 QS01-001")).to_be_focused()
    expect(panel).to_contain_text("网格员")
    expect(panel).to_contain_text("今日巡查")
    expect(panel).to_contain_text("未完成任务")
    # colour by vacancy
    page.get_by_label("按空缺").check()
    expect(page.get_by_text("有网格员")).to_be_visible()
    axe(page, exclude=MAP_CANVAS)
    screenshot(page, "console-map")


@pytest.mark.parametrize("user", ["centre", "coordinator"])
def test_a_planner_generates_two_layouts_and_compares_them(
    page, sign_in, axe, screenshot, user
) -> None:
    """The street centre, and the coordinator (draft layouts to compare; only planners edit,
    propose or approve)."""
    sign_in(page, user)
    if user == "coordinator":
        _open(page, "map", "地图")  # the coordinator's path starts at the map
        expect(page.get_by_test_id("map-status")).to_have_attribute(
            "data-drawn", "yes", timeout=30_000
        )
    _open(page, "grid", "网格划分")
    tag = uuid.uuid4().hex[:6]
    names = [f"均衡-{tag}", f"方格-{tag}"]
    for method, name in zip(("balanced", "square"), names, strict=True):
        page.get_by_label("划分方法").select_option(method)
        page.get_by_label("方案名称").fill(name)
        page.get_by_role("button", name="生成", exact=True).click()
        expect(page.get_by_test_id("generate-status")).to_have_text(
            f"已生成方案 {name}", timeout=60_000
        )
    for name in names:
        page.get_by_label(f"选择对比 {name}").check()
    page.get_by_role("button", name="对比所选方案").click()
    comparison = page.get_by_test_id("comparison")
    table = comparison.get_by_test_id("metrics")
    expect(table.get_by_role("columnheader", name=re.compile(names[0]))).to_be_visible()
    expect(table.get_by_role("columnheader", name=re.compile(names[1]))).to_be_visible()
    expect(table.get_by_role("rowheader", name="均衡度（最大/平均）")).to_be_visible()
    expect(table.get_by_role("row", name=re.compile("网格数")).first).to_contain_text("140")
    for name in names:
        region = comparison.get_by_role("region", name=f"方案 {name} 的网格地图")
        expect(region.locator("canvas").first).to_be_visible()
    axe(page, exclude=MAP_CANVAS)
    screenshot(page, f"console-grid-compare-{user}")


def test_station_enrols_a_terminal_and_sees_the_code_and_qr(page, sign_in, axe, screenshot):
    sign_in(page, "station1")
    _open(page, "field", "网格员与终端")
    # the worker of QS01 who has an account (worker1) may enrol a terminal
    workers = page.get_by_role("row").filter(has=page.get_by_role("cell", name="是", exact=True))
    workers.first.get_by_role("button", name=re.compile("^管理 ")).click()
    panel = page.locator(".worker-panel")
    expect(panel.get_by_role("heading", name=re.compile("^网格员："))).to_be_focused()
    panel.get_by_role("button", name="生成终端注册码").click()
    code = page.get_by_test_id("enrolment-code")
    expect(code).to_have_text(re.compile(r"\S{4,}"))
    qr = page.get_by_role("img", name=re.compile("二维码"))
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    expect(page.get_by_role("heading", name="空缺网格")).to_be_visible()
    expect(page.get_by_role("heading", name="巡查覆盖")).to_be_visible()
    expect(page.get_by_text(re.compile("已巡查网格比例"))).to_be_visible()
    axe(page, exclude=MAP_CANVAS)
    screenshot(page, "console-field")


def test_households_are_masked_and_a_clear_read_is_explicit(page, sign_in, axe, screenshot):
    sign_in(page, "station1")
    _open(page, "households", "住户")
    expect(page.get_by_text("查看明文会记入审计日志")).to_be_visible()
    first_read = page.get_by_role("button", name=re.compile("^查看明文")).first
    expect(first_read).to_be_visible()
    expect(page.locator("table").first).to_contain_text("****")
    first_read.click()
    detail = page.get_by_test_id("household-detail")
    expect(detail.get_by_role("heading", name=re.compile("住户详情"))).to_be_focused()
    expect(detail).to_be_visible()
    axe(page)
    screenshot(page, "console-households")


def test_households_at_their_place_from_the_cell_panel(page, sign_in, axe, screenshot) -> None:
    """A cell's panel lists its places (paged); a place opens its households, masked, and one
    is read in clear only on an explicit action."""
    sign_in(page, "station1")
    api = api_as(page, "station1")
    (household,) = api("GET", "/households", page_size=1, sort="id")
    cells = api("GET", f"/areas/{household['area_id']}/cells")["features"]
    code = next(f["properties"]["code"] for f in cells if f["id"] == household["cell_id"])
    place = api("GET", f"/places/{household['place_id']}")
    pages_before, page_no = 0, 1
    while True:  # the page of the cell's place list (by name, 10 a page) that holds it
        rows = api("GET", "/places", cell=household["cell_id"], sort="name", page_size=10,
                   page=page_no)  # fmt: skip
        if any(r["id"] == place["id"] for r in rows):
            break
        pages_before, page_no = pages_before + 1, page_no + 1

    _open(page, "map", "地图")
    expect(page.get_by_test_id("map-status")).to_have_attribute("data-drawn", "yes", timeout=30_000)
    page.get_by_label("网格列表").select_option(code)
    page.get_by_role("button", name="打开网格").click()
    panel = page.get_by_test_id("cell-panel")
    expect(panel.get_by_test_id("cell-places").get_by_role("button").first).to_be_visible()
    for _ in range(pages_before):
        panel.get_by_role("button", name="下一页").click()
    panel.get_by_role("button", name=f"打开地点 {place['name'] or '#' + str(place['id'])}").click()
    card = page.get_by_test_id("place-panel")
    expect(card.get_by_role("heading", name=re.compile("^地点 "))).to_be_focused()
    households = card.get_by_test_id("place-households")
    expect(households).to_contain_text("****")
    door = household["door_number"] or f"#{household['id']}"
    households.get_by_role("button", name=f"查看明文：{door}").click()
    expect(households).to_contain_text("(明文)")
    expect(households.get_by_role("button", name=f"查看明文：{door}")).to_have_count(0)
    axe(page, exclude=MAP_CANVAS)
    screenshot(page, "console-map-place")


def test_station_imports_places_as_a_job_and_reads_each_rejection(page, sign_in, axe) -> None:
    """The map's place import goes as a job (202 + Location: /api/v1/jobs/{id}), its progress
    shown till the report: one place created, one rejected with its reason."""
    sign_in(page, "station1")
    api = api_as(page, "station1")
    community = api("GET", "/me")["scope"]["area_id"]
    (near,) = api("GET", "/places", area=community, page_size=1, sort="id")
    lon, lat = near["geometry"]["coordinates"][:2]
    tag = uuid.uuid4().hex[:8]
    csv = (
        "lon,lat,type,external_id,name\n"
        f"{lon + 0.00001:.7f},{lat:.7f},household,e2e-in-{tag},e2e 导入 {tag}\n"
        f"0.0,0.0,household,e2e-out-{tag},e2e 界外 {tag}\n"
    )
    _open(page, "map", "地图")
    expect(page.get_by_test_id("map-status")).to_have_attribute("data-drawn", "yes", timeout=30_000)
    page.get_by_text("导入地点", exact=True).click()
    page.get_by_label("地点文件（CSV 或 GeoJSON）").set_input_files(
        files=[{"name": "places.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/areas/{community}/places")
    ) as sent:
        page.get_by_role("button", name="导入", exact=True).click()
    assert sent.value.status == 202
    assert "/api/v1/jobs/" in sent.value.headers["location"]
    expect(page.get_by_test_id("import-status")).to_have_text(
        "收到 2 行：新增 1，更新 0，拒绝 1", timeout=60_000
    )
    rejected = page.get_by_test_id("import-rejected")
    expect(rejected).to_contain_text(f"(e2e-out-{tag})")
    expect(rejected).to_contain_text("outside")
    (made,) = api("GET", "/places", external_id=f"e2e-in-{tag}")
    assert made["area_id"] == community
    axe(page, exclude=MAP_CANVAS)


def test_a_layout_is_edited_proposed_approved_and_scheduled(new_context, sign_in, axe) -> None:
    """The street centre splits a cell of a new layout and merges the parts back, then proposes
    it; the district centre approves it and schedules it (far ahead, so the layout in force for
    the other tests stays as it is). Each role is offered only its own steps."""
    centre = new_context().new_page()
    sign_in(centre, "centre")
    _open(centre, "grid", "网格划分")
    name = f"流程-{uuid.uuid4().hex[:6]}"
    centre.get_by_label("划分方法").select_option("square")
    centre.get_by_label("网格边长（米）").fill("1500")
    centre.get_by_label("方案名称").fill(name)
    centre.get_by_role("button", name="生成", exact=True).click()
    expect(centre.get_by_test_id("generate-status")).to_have_text(
        f"已生成方案 {name}", timeout=60_000
    )
    centre.get_by_role("link", name=name).click()
    expect(centre.get_by_role("heading", name=re.compile(f"{name} · 草稿"))).to_be_visible()
    plan_id = int(centre.url.rsplit("/", 1)[1])
    api = api_as(centre, "centre")

    def codes() -> set[str]:
        fc = api("GET", f"/grid-plans/{plan_id}/cells")
        return {f["properties"]["code"] for f in fc["features"]}

    before = codes()
    first = sorted(before)[0]

    centre.get_by_label("要拆分的网格").fill(first)
    centre.get_by_role("button", name="拆分", exact=True).click()
    edited = centre.get_by_text(re.compile(r"^已修改，方案版本 \d+$"))
    expect(edited).to_be_visible(timeout=30_000)
    version = edited.inner_text()
    after = codes()
    assert len(after) == len(before) + 1
    a, b = sorted(after - (before - {first}))
    centre.get_by_label("网格一").fill(a)
    centre.get_by_label("网格二").fill(b)
    centre.get_by_role("button", name="合并", exact=True).click()
    expect(edited).not_to_have_text(version, timeout=30_000)
    assert len(codes()) == len(before)
    expect(centre.get_by_role("button", name="批准")).to_have_count(0)  # not the street's step
    centre.get_by_role("button", name="提交审批").click()
    expect(centre.get_by_role("heading", name=re.compile(f"{name} · 已提交"))).to_be_visible()
    axe(centre, exclude=MAP_CANVAS)

    district = new_context().new_page()
    sign_in(district, "district")
    district.goto(f"/#/grid/{plan_id}")
    expect(district.get_by_role("heading", name=re.compile(f"{name} · 已提交"))).to_be_visible()
    expect(district.get_by_role("button", name="提交审批")).to_have_count(0)
    district.get_by_role("button", name="批准").click()
    expect(district.get_by_role("heading", name=re.compile(f"{name} · 已批准"))).to_be_visible()
    district.get_by_label("生效日期").fill("2099-01-01")
    district.get_by_role("button", name="启用").click()
    expect(district.get_by_test_id("plan-scheduled")).to_have_text("已安排于 2099-01-01 生效")
    assert api("GET", f"/grid-plans/{plan_id}")["effective_from"] == "2099-01-01"
    axe(district, exclude=MAP_CANVAS)


def test_station_filters_visits_by_flag_and_reads_who_made_them(page, sign_in) -> None:
    sign_in(page, "station1")
    _open(page, "field", "网格员与终端")
    visits = page.locator("section").filter(
        has=page.get_by_role("heading", name="走访与巡查记录", exact=True)
    )
    visits.get_by_label("标记").select_option("outside_assigned_cell")
    rows = visits.locator("tbody tr")
    expect(visits.get_by_text("加载中…")).to_have_count(0)
    expect(rows.first).to_be_visible()
    expect(rows.first).to_contain_text("不在负责网格内")
    for i in range(rows.count()):
        cells = rows.nth(i).get_by_role("cell")
        expect(cells.nth(4)).to_contain_text("不在负责网格内")
        expect(cells.nth(3)).not_to_have_text(re.compile(r"^#\d+$"))  # a name, not an id


def test_the_household_register_pages_through_the_api(page, sign_in) -> None:
    sign_in(page, "station1")
    _open(page, "households", "住户")
    pager = page.get_by_role("navigation", name="pagination")
    expect(pager).to_contain_text(re.compile(r"^上一页第 1 / \d+ 页，共 \d+ 条下一页$"))
    first = page.locator("tbody tr").first.inner_text()
    pager.get_by_role("button", name="下一页").click()
    expect(pager).to_contain_text(re.compile(r"第 2 / \d+ 页"))
    expect(page.locator("tbody tr").first).not_to_have_text(first)
    expect(pager.get_by_role("button", name="上一页")).to_be_enabled()


def _tab_to(page, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element is named ``name`` (its label, aria-label or text)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement; if (!e) return "";
                const l = e.labels && e.labels[0];
                return (e.getAttribute("aria-label") || (l ? l.textContent : "")
                        || e.textContent || "").trim(); }"""
        )
        if focused.startswith(name):
            return
    raise AssertionError(f"no focusable element named {name!r} within {limit} tabs")


def test_coordinator_generates_and_compares_layouts_by_keyboard_only(page, sign_in) -> None:
    sign_in(page, "coordinator")
    _open(page, "grid", "网格划分")
    tag = uuid.uuid4().hex[:6]
    names = [f"键盘甲-{tag}", f"键盘乙-{tag}"]
    _tab_to(page, "划分方法")
    expect(page.get_by_label("划分方法")).to_have_value("balanced")
    _tab_to(page, "方案名称")
    for name in names:  # Enter in the name field sends the form; the focus stays there
        page.keyboard.press("Control+A")
        page.keyboard.type(name)
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("generate-status")).to_have_text(
            f"已生成方案 {name}", timeout=60_000
        )
        expect(page.get_by_label("方案名称")).to_be_focused()
    for name in names:
        _tab_to(page, f"选择对比 {name}")
        page.keyboard.press("Space")
        expect(page.get_by_label(f"选择对比 {name}")).to_be_checked()
    _tab_to(page, "对比所选方案")
    page.keyboard.press("Enter")
    table = page.get_by_test_id("comparison").get_by_test_id("metrics")
    expect(table.get_by_role("columnheader", name=re.compile(names[1]))).to_be_visible()


def test_the_map_screen_fits_a_phone(new_context, sign_in) -> None:
    """Desktop first, but nothing of the map's side panel runs past a 360 px screen."""
    page = new_context(phone=True).new_page()
    sign_in(page, "centre")
    _open(page, "map", "地图")
    expect(page.get_by_test_id("map-status")).to_have_attribute("data-drawn", "yes", timeout=30_000)
    page.get_by_text("导入地点", exact=True).click()
    page.get_by_label("网格列表").select_option(index=0)
    page.get_by_role("button", name="打开网格").click()
    expect(page.get_by_test_id("cell-places").get_by_role("button").first).to_be_visible()
    wide = page.evaluate(
        """() => [...document.querySelectorAll('.map-side *')]
                 .filter((e) => e.getBoundingClientRect().right > 360)
                 .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"""
    )
    assert not wide, f"past the screen's edge: {wide[:5]}"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360


def test_station_ends_a_workers_cell_and_assigns_it_again(page, sign_in, axe) -> None:
    """A worker without an account (so no other test's terminal changes): ending their cell
    lists it as vacant and in the worker's history; assigning it again from the form takes it
    off the vacant list; an unknown cell code is refused with the API's message."""
    sign_in(page, "station1")
    _open(page, "field", "网格员与终端")
    without = page.get_by_role("row").filter(has=page.get_by_role("cell", name="否", exact=True))
    row = without.filter(has_not=page.get_by_role("cell", name="—", exact=True)).first
    name = row.get_by_role("cell").first.inner_text()
    cell = row.get_by_role("cell").nth(2).inner_text().split("、")[0]
    row.get_by_role("button", name=f"管理 {name}").click()
    panel = page.locator(".worker-panel")
    vacant = page.get_by_role("region", name="空缺网格")

    panel.get_by_role("button", name=f"取消分配 {cell}").click()
    expect(panel.get_by_role("button", name=f"取消分配 {cell}")).to_have_count(0)
    ended = panel.get_by_role("row").filter(has=page.get_by_role("cell", name=cell, exact=True))
    expect(ended.first.get_by_role("cell").nth(2)).to_have_text(re.compile(r"\d{4}-\d{2}-\d{2}"))
    expect(vacant.get_by_role("cell", name=cell, exact=True)).to_be_visible()

    form = panel.locator("form.inline-form")
    form.get_by_label("网格编号").fill("NO-SUCH-CELL")
    form.get_by_role("button", name="分配网格").click()
    expect(panel.get_by_role("alert")).to_be_visible()
    expect(panel.get_by_role("button", name=f"取消分配 {cell}")).to_have_count(0)

    form.get_by_label("网格编号").fill(cell)
    form.get_by_role("button", name="分配网格").click()
    expect(panel.get_by_role("button", name=f"取消分配 {cell}")).to_be_visible()
    expect(vacant.get_by_role("cell", name=cell, exact=True)).to_have_count(0)
    axe(page, exclude=MAP_CANVAS)
