"""The console's visits desk in a real browser, on the seeded demo's SME visits programme: the
coordinator imports a list with bad rows and reads every rejection code; the progress page shows
the service's figures and its XLSX export downloads and opens; a bank contact records a visit
and decides an overdue decision; a referral sent by one bank is accepted and converted by
another. Each screen is checked with axe and kept as a screenshot."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from playwright.sync_api import expect
from stdnum.cn import uscc

from seeds.loader import BANK_ORDER
from tests.e2e.live import DEMO_PASSWORD, api_as

CODES = (
    "invalid_credit_code",
    "duplicate_credit_code",
    "unknown_institution",
    "unknown_visitor",
    "outside_area",
    "missing_position",
)


def _api(page, username: str):
    """(method, path, body=None, **query) → JSON, as ``username`` (a 2xx answer)."""
    return api_as(page, username)


def _programme(api) -> dict:
    """The demo's visits programme (other browser tests add visits programmes of their own)."""
    rows = api("GET", "/outreach/programmes", page_size=100)
    (programme,) = [p for p in rows if p["code"].startswith("SME-VISITS-")]
    return programme


def _new_code() -> str:
    """An invented credit code no other run or demo row uses (organisation part ``DN…``)."""
    body = f"91510199DN{uuid.uuid4().int % 10_000_000:07d}"
    return body + uscc.calc_check_digit(body)


def _bank_user(code: str) -> str:
    return f"bank{BANK_ORDER.index(code) + 1}"


def test_coordinator_imports_a_list_and_reads_each_rejection(page, sign_in, axe, screenshot):
    api = _api(page, "coordinator")
    programme = _programme(api)
    (listed,) = api("GET", f"/outreach/programmes/{programme['id']}/enterprises", page_size=1)
    good, missing, outside = _new_code(), _new_code(), _new_code()
    lon, lat = listed["lon"], listed["lat"]
    csv = "\n".join(
        [
            "credit_code,name,address,lon,lat,industry,institution,visitor",
            f"{good},浏览器测试商贸部,演示路1号,{lon},{lat},批发和零售业,DZCB,bank8",
            f"91510000ABCDEFGH12,坏代码企业,,{lon},{lat},,DZCB,bank8",
            f"{good},重复企业,,{lon},{lat},,DZCB,bank8",
            f"{_new_code()},未知机构企业,,{lon},{lat},,NO-SUCH-BANK,cell",
            f"{_new_code()},未知责任人企业,,{lon},{lat},,DZCB,nobody",
            f"{outside},区外企业,,116.40,39.90,,DZCB,cell",
            f"{missing},无位置企业,,,,,DZCB,cell",
        ]
    )
    sign_in(page, "coordinator")
    page.goto(f"/#/outreach/visits/{programme['id']}/import")
    page.get_by_label("CSV 文件").set_input_files(
        {"name": "list.csv", "mimeType": "text/csv", "buffer": csv.encode("utf-8")}
    )
    page.get_by_role("button", name="导入", exact=True).click()
    report = page.get_by_test_id("import-report")
    expect(report.get_by_role("status")).to_contain_text("收到 7 行")
    expect(report.get_by_role("status")).to_contain_text("新增 1 家")
    expect(report.get_by_role("status")).to_contain_text("拒绝 6 行")
    rows = page.get_by_test_id("import-rejected").locator("tbody tr")
    expect(rows).to_have_count(6)
    for number, code in enumerate(CODES, start=2):
        row = page.get_by_test_id("import-rejected").locator(f"tbody tr[data-code='{code}']")
        expect(row).to_have_count(1)
        expect(row.locator("td").first).to_have_text(str(number))
        expect(row).to_contain_text(code)
    axe(page)
    screenshot(page, "console-visits-import-report")

    # The new enterprise is on the list (filtered by its institution and visitor).
    page.goto(f"/#/outreach/visits/{programme['id']}/list")
    page.get_by_label("包靠责任人").fill("bank8")
    page.get_by_label("包靠责任人").press("Enter")
    page.get_by_label("状态").select_option("listed")
    table = page.get_by_test_id("visit-list")
    expect(table).to_contain_text(good)
    expect(table.locator("tbody tr").first).to_contain_text("bank8")
    axe(page)
    # The same rows on the map (format=geojson).
    page.get_by_label("显示方式").select_option("map")
    expect(page.get_by_test_id("visits-map")).to_have_attribute("data-ready", "1")
    expect(page.locator("#main .leaflet-interactive")).not_to_have_count(0)
    assert any(
        e["credit_code"] == good
        for e in api(
            "GET",
            f"/outreach/programmes/{programme['id']}/enterprises",
            visitor="bank8",
            page_size=100,
        )
    )
    axe(page, exclude=[".leaflet-container"])


def test_progress_shows_the_figures_and_the_xlsx_downloads(page, sign_in, axe, screenshot):
    api = _api(page, "coordinator")
    programme = _programme(api)
    figures = api("GET", f"/outreach/programmes/{programme['id']}/progress")
    sign_in(page, "coordinator")
    page.goto(f"/#/outreach/visits/{programme['id']}/progress")
    institutions = page.get_by_test_id("progress-institutions")
    expect(institutions.locator("tbody tr")).to_have_count(len(figures["institutions"]) + 1)
    total = institutions.locator("tbody tr.total")
    totals = figures["totals"]
    expect(total.locator("td").nth(0)).to_have_text(str(totals["listed"]))
    expect(total.locator("td").nth(1)).to_have_text(str(totals["visited"]))
    expect(total.locator("td").nth(10)).to_have_text(str(totals["decisions_open"]))
    expect(total.locator("td").nth(11)).to_have_text(str(totals["decisions_overdue"]))
    expect(page.get_by_test_id("progress-visitors").locator("tbody tr")).to_have_count(
        len(figures["visitors"])
    )
    axe(page)
    screenshot(page, "console-visits-progress")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Progress")
    expect(page.get_by_role("button", name="Download XLSX")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("走访进度")

    with page.expect_download() as info:
        page.get_by_role("button", name="下载 XLSX").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)
    assert len(book.sheetnames) >= 2  # a sheet per level and a summary


def test_bank_contact_records_a_visit_and_decides_an_overdue_decision(
    page, sign_in, axe, screenshot
):
    coordinator = _api(page, "coordinator")
    programme = _programme(coordinator)
    pid = programme["id"]
    overdue = coordinator("GET", "/outreach/decisions", programme=pid, state="overdue")
    assert overdue, "the demo has overdue decisions"
    visit = overdue[0]
    bank = _bank_user(visit["institution"])
    mine = _api(page, bank)
    listed = mine("GET", f"/outreach/programmes/{pid}/enterprises", status="listed", page_size=1)
    assert listed, f"{bank} has enterprises still to visit"
    enterprise = listed[0]

    sign_in(page, bank)
    page.goto(f"/#/outreach/visits/{pid}/record/{enterprise['id']}")
    form = page.get_by_role("form", name="登记走访")
    expect(form.get_by_role("combobox", name="企业", exact=True)).to_have_value(
        str(enterprise["id"])
    )
    form.get_by_role("combobox", name="走访结果", exact=True).select_option("product_matched")
    form.get_by_label("金额（元）").fill("300000")
    form.get_by_label("期限（月）").fill("12")
    form.get_by_label("用途").fill("购进原材料")
    # Without the products offered the service names the field.
    form.get_by_role("button", name="保存走访记录").click()
    expect(form.get_by_role("alert")).to_be_visible()
    expect(form.locator(".field-errors")).to_contain_text("products")
    form.get_by_label("匹配产品（以逗号分隔）").fill("经营快贷，税易贷")
    form.get_by_label("下一步", exact=True).fill("收集资料")
    form.get_by_role("button", name="保存走访记录").click()
    saved = page.get_by_role("status").filter(has_text="走访记录已保存。")
    expect(saved).to_be_visible()
    saved.get_by_role("link", name=enterprise["name"]).click()
    expect(page.get_by_test_id("decision-state")).to_contain_text("待决定")
    expect(page.get_by_test_id("visit")).to_contain_text("经营快贷、税易贷")
    axe(page)
    screenshot(page, "console-visits-visit")

    # The overdue decision: rejected needs a reason.
    page.goto(f"/#/outreach/visits/{pid}/decisions")
    page.get_by_label("范围").select_option("overdue")
    row = page.get_by_test_id("decisions").locator(f"tr[data-visit='{visit['id']}']")
    expect(row).to_contain_text("逾期")
    name = visit["enterprise"]["name"]
    row.get_by_role("button", name=f"对 {name} 作出决定").click()
    decide = row.get_by_role("form", name=f"对 {name} 作出决定")
    decide.get_by_role("combobox", name="决定", exact=True).select_option("rejected")
    decide.get_by_role("button", name="提交决定").click()
    expect(decide.get_by_role("alert")).to_be_visible()
    decide.get_by_label("理由").fill("担保条件不足，建议补充抵押后再申请。")
    decide.get_by_role("button", name="提交决定").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name}：决定已保存。")
    expect(
        page.get_by_test_id("decisions").locator(f"tr[data-visit='{visit['id']}']")
    ).to_have_count(0)
    axe(page)
    screenshot(page, "console-visits-decisions")
    decided = mine("GET", f"/outreach/visits/{visit['id']}")
    assert decided["decision"] == "rejected" and decided["decided_by"] == bank


def test_a_referral_sent_by_one_bank_is_accepted_and_converted_by_another(
    page, new_context, sign_in, axe, screenshot
):
    coordinator = _api(page, "coordinator")
    programme = _programme(coordinator)
    pid = programme["id"]
    visits = coordinator("GET", "/outreach/visits", programme=pid, outcome="no_need", page_size=100)
    visit = next(v for v in visits if v["institution"] in BANK_ORDER and v["visitor"])
    sender = _bank_user(visit["institution"])
    target = next(c for c in BANK_ORDER if c != visit["institution"])
    receiver = _bank_user(target)
    need = f"设备更新，需资金50万元（{uuid.uuid4().hex[:6]}）"

    sign_in(page, sender)
    page.goto(f"/#/outreach/visits/{pid}/visit/{visit['id']}")
    page.get_by_role("link", name="由走访记录转介").click()
    form = page.get_by_role("form", name="新建转介")
    expect(form).to_contain_text(visit["enterprise"]["name"])
    form.get_by_label("转介至机构").select_option(target)
    form.get_by_label("需求", exact=True).fill(need)
    form.get_by_label("说明", exact=True).fill("本行暂无适配产品。")
    form.get_by_role("button", name="发出转介").click()
    status = page.get_by_role("status").filter(has_text="已发出转介")
    expect(status).to_be_visible()
    number = re.search(r"编号 (\S+?)。", status.inner_text()).group(1)  # type: ignore[union-attr]
    card = page.get_by_test_id(f"referral-{number}")
    expect(card).to_contain_text(need)
    expect(card.get_by_test_id("referral-status")).to_contain_text("已转出")
    expect(card.get_by_role("button")).to_have_count(0)  # the sender neither accepts nor closes
    axe(page)
    screenshot(page, "console-visits-referral-sent")

    other = new_context().new_page()
    sign_in(other, receiver)
    other.goto(f"/#/outreach/visits/{pid}/referrals")
    card = other.get_by_test_id(f"referral-{number}")
    expect(card).to_contain_text(need)
    card.get_by_role("button", name=f"接收 {number}").click()
    expect(card.get_by_test_id("referral-status")).to_contain_text("已接收")
    card.get_by_role("button", name=f"记录结果 {number}").click()
    outcome = card.get_by_role("form", name=f"转介 {number} 的结果")
    outcome.get_by_label("转介结果").select_option("not_converted")
    outcome.get_by_role("button", name="记录结果").click()
    expect(outcome.get_by_role("alert")).to_be_visible()  # not converted: a care note is due
    outcome.get_by_label("转介结果").select_option("converted")
    outcome.get_by_role("button", name="记录结果").click()
    expect(card.get_by_test_id("referral-status")).to_contain_text("已转化")
    expect(card.get_by_test_id("referral-status")).to_contain_text("积分")
    # The register reloads: the referrer's points as the service counts them.
    people = _api(other, receiver)("GET", "/outreach/referrals/register", programme=pid)["people"]
    points = next(p["points"] for p in people if p["user"] == sender)
    assert points >= 10
    row = other.get_by_test_id("register-people").locator("tbody tr", has_text=sender)
    expect(row.locator("td").last).to_have_text(str(points))
    axe(other)
    screenshot(other, "console-visits-referral-converted")

    # The sender sees it converted, with its points.
    page.reload()
    page.get_by_label("方向").select_option("sent")
    expect(
        page.get_by_test_id(f"referral-{number}").get_by_test_id("referral-status")
    ).to_contain_text("已转化")


def test_coordinator_joins_register_enterprises_from_the_import_screen(
    page, sign_in, axe, screenshot
):
    """The register join on a visits programme of this test's own (the demo's list and the
    field app's cells stay as they were): a register enterprise the street centre just
    imported joins with the bank visitor given in the form."""
    api = _api(page, "coordinator")
    demo = _programme(api)
    (listed,) = api("GET", f"/outreach/programmes/{demo['id']}/enterprises", page_size=1)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    day = dt.timedelta(days=1)
    marker = uuid.uuid4().hex[:6].upper()
    own = api(
        "POST",
        "/outreach/programmes",
        {
            "code": f"E2E-REG-{marker}", "name": f"登记册加入 {marker}", "kind": "visits",
            "area_id": demo["area_id"], "start_date": (today - 30 * day).isoformat(),
            "end_date": (today + 60 * day).isoformat(), "organiser": "DZ-REG",
            "institutions": ["DZCB"], "list_due_on": (today + 5 * day).isoformat(),
            "visits_from": (today - 10 * day).isoformat(),
            "visits_to": (today + 30 * day).isoformat(),
            "summary_due_on": (today + 40 * day).isoformat(),
        },
    )  # fmt: skip
    new = _new_code()
    token = page.request.post(
        "/api/v1/auth/token", data={"username": "centre", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    made = page.request.post(
        f"/api/v1/areas/{demo['area_id']}/places",
        data=f"external_id,type,name,lon,lat\nuscc:{new},enterprise,登记册新企业{marker},"
        f"{listed['lon']},{listed['lat']}\n",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
    )
    assert made.ok and made.json()["created"] == 1, made.text()

    sign_in(page, "coordinator")
    page.goto(f"/#/outreach/visits/{own['id']}/import")
    form = page.locator("form[aria-labelledby='vi-register-h']")
    # the community of the new place (the whole street holds some 1,500 register enterprises)
    form.get_by_label("区域").select_option(str(listed["area_id"]))
    form.get_by_label("责任机构").select_option("DZCB")
    form.get_by_label("包靠责任人").fill("bank8")
    form.get_by_role("button", name="加入名单").click()
    report = page.get_by_test_id("import-report")
    expect(report.get_by_role("status")).to_contain_text("新增", timeout=30_000)
    axe(page)
    screenshot(page, "console-visits-register-join")
    rows = api(
        "GET", f"/outreach/programmes/{own['id']}/enterprises", visitor="bank8", page_size=500
    )
    (row,) = [r for r in rows if r["credit_code"] == new]
    assert (row["institution"], row["name"]) == ("DZCB", f"登记册新企业{marker}")
