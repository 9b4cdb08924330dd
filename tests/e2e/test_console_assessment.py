"""The console's assessment and report screens (issue 15) in a real browser: the street centre
starts a quarterly run for the demo street and reads it computed, opens a card and its lines
and records; the station enters a spot check with evidence and a photo (and is shown a version
conflict); the centre publishes (a provisional run's 409 shown); a yearly run with fails opens
recommendations the centre confirms and one already decided answers 409; the monthly report
shows its sections and downloads an XLSX; the daily summary; a bank's contact sees only its
own cards. Each main screen is checked with axe and kept as a screenshot.

The scores rest on figures this module controls: while its tests run, the live server's
metrics (``gridserve.services.assessment.metrics``) are replaced by the stand-in of the
engine's tests (:class:`tests.assessment.fakes.FakeMetrics`), whose only targets are three
workers made here in the station's community (the demo's own workers are never scored, so no
other browser test finds one dismissed), under a template of this run's own code. The real
metrics, once merged, change nothing here.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from gridserve import audit
from gridserve.extensions import db
from gridserve.scope import OPERATOR
from gridserve.services.assessment import daily, metrics, monthly
from gridserve.services.assessment import templates as template_service
from gridserve.services.field import workers
from gridserve.services.geography import areas as area_service
from tests.assessment.fakes import FakeMetrics, fig
from tests.e2e.live import SEED_ACTOR, api_as

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
SLOW = 30_000  # a loaded machine: steps answer within this (Playwright's expect timeout)
TAG = uuid.uuid4().hex[:6]
LAST_YEAR = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year - 1
QUARTER = f"{LAST_YEAR}-Q4"
YEAR = str(LAST_YEAR)


@dataclass
class Assessed:
    template_code: str
    template_name: str
    good: str  # the workers' names (unique to this run)
    weak: str
    weaker: str
    weak_id: int


def _template(code: str, name: str) -> dict:
    return {
        "code": code,
        "name": name,
        "target_kind": "worker",
        "assessor_role": "station",
        "deductions": [{"code": "complaint", "name": "群众有效投诉", "points": 1}],
        "disqualify_after": 3,
        "indicators": [
            {"code": "coverage", "name": "巡查覆盖", "weight": 40, "source": "computed",
             "metric": "patrol_coverage", "scoring": "share", "min_count": 10},
            {"code": "visits", "name": "走访", "weight": 30, "source": "computed",
             "metric": "visits", "scoring": "target", "target": 10, "min_count": 1},
            {"code": "spot_check", "name": "站点抽查", "weight": 30, "source": "entered",
             "scale": 100},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def assessed(e2e_app, live_url):
    """Three workers of QS01 (one good, two failing), a template of this run's code, and the
    metrics stand-in in the live server's process for the module's tests.

    The good worker: patrol 58 of 60 → 0.9667 × 40 = 38.67; visits 33 over 3 cell-months,
    target 10 → 1.1, capped at 30; rated 70 → 68.67 / 70 × 100 = 98.10 (优秀) before the
    spot check. The weak ones: patrol 6 of 60 → 4; visits 3 over 3 → 3; → 10.00 (不合格)."""
    code = f"e2e_w_{TAG}"
    name = f"网格员考核浏览器测试{TAG}"
    names = (f"考核甲{TAG}", f"考核乙{TAG}", f"考核丙{TAG}")
    with e2e_app.app_context(), audit.acting_as(SEED_ACTOR):
        community = area_service.find_by_code("QS01")
        made = [
            workers.create_worker(OPERATOR, {"area_id": community.id, "full_name": n})
            for n in names
        ]
        ids = [w.id for w in made]
        db.session.commit()
        community_id = community.id
    fake = FakeMetrics()
    fake.targets = {
        "worker": [metrics.Target(i, n, community_id) for i, n in zip(ids, names, strict=True)]
    }
    fake.figures = {
        "patrol_coverage": {ids[0]: fig(58, 60), ids[1]: fig(6, 60), ids[2]: fig(6, 60)},
        "visits": {ids[0]: fig(33, 3, 12), ids[1]: fig(3, 3, 3), ids[2]: fig(3, 3, 3)},
    }
    with pytest.MonkeyPatch.context() as mp:
        fake.install(mp)
        with e2e_app.app_context(), audit.acting_as(SEED_ACTOR):
            template_service.create_template(OPERATOR, _template(code, name))
            db.session.commit()
        yield Assessed(code, name, names[0], names[1], names[2], ids[1])


def _api(page, username: str):
    """(method, path, body=None, **query) → (status, JSON), as ``username``."""
    call = api_as(page, username, check=False)

    def _pair(*args: object, **params: object):
        r = call(*args, **params)
        return r.status, r.json()

    return _pair


def _open_assessment(page) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="考核").click()


def _start_run(page, a: Assessed, period: str, provisional: bool = False) -> None:
    """The start form on the runs screen: template, period, the street; waits for the run."""
    form = page.get_by_role("form", name="发起考核")
    form.get_by_label("考核模板").select_option(label=a.template_name)
    form.get_by_role("textbox", name="考核期").fill(period)
    form.get_by_label("区域").select_option(label="青石街道")
    if provisional:
        form.get_by_label("临时（考核期未结束）").check()
    form.get_by_role("button", name="开始计算").click()
    heading = page.get_by_role("heading", level=1, name=f"{a.template_name} · 考核批次 {period}")
    expect(heading).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("run-status")).to_contain_text("已计算", timeout=SLOW)


def _tab(page, name: str) -> None:
    """A tab of the assessment screen, once its heading shows (so what follows acts on it)."""
    page.get_by_role("navigation", name="考核导航").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible(timeout=SLOW)


def _row(page, name: str):
    return page.get_by_test_id("card-row").filter(has_text=name)


def test_centre_starts_a_quarter_and_reads_a_card(page, sign_in, axe, screenshot, assessed):
    a = assessed
    sign_in(page, "centre")
    _open_assessment(page)
    expect(page.get_by_role("heading", level=1, name="考核批次")).to_be_visible(timeout=SLOW)
    axe(page)
    screenshot(page, "console-assessment-runs")

    _start_run(page, a, QUARTER)
    counts = page.get_by_test_id("run-counts")
    expect(counts.locator("[data-grade='excellent']")).to_have_text("优秀 1", timeout=SLOW)
    expect(counts.locator("[data-grade='fail']")).to_have_text("不合格 2", timeout=SLOW)
    expect(_row(page, a.good)).to_contain_text("98.10", timeout=SLOW)
    expect(_row(page, a.good)).to_contain_text("优秀")
    expect(_row(page, a.weak)).to_contain_text("10.00")
    expect(_row(page, a.weak)).to_contain_text("不合格")
    # Sorted by rank: the good worker first.
    expect(page.get_by_test_id("card-row").first).to_contain_text(a.good, timeout=SLOW)
    # The grade filter.
    page.get_by_role("form", name="筛选").get_by_label("等级").select_option(label="不合格")
    page.get_by_role("form", name="筛选").get_by_role("button", name="筛选").click()
    expect(_row(page, a.good)).to_have_count(0, timeout=SLOW)
    expect(_row(page, a.weak)).to_be_visible(timeout=SLOW)
    axe(page)
    screenshot(page, "console-assessment-run")

    # Back on the list the run stands with its counts.
    _tab(page, "考核批次")
    expect(
        page.get_by_test_id("runs").locator("tr").filter(has_text=a.template_name)
    ).to_contain_text("已计算", timeout=SLOW)

    # The card: each line with its raw figures, points of the maximum, not rated and why.
    _tab(page, "考核卡")
    page.get_by_role("form", name="筛选").get_by_role("textbox", name="考核期").fill(QUARTER)
    page.get_by_role("form", name="筛选").get_by_role("button", name="筛选").click()
    expect(_row(page, a.good)).to_have_count(1, timeout=SLOW)
    _row(page, a.good).get_by_role("link", name=a.good).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(a.good, timeout=SLOW)
    expect(page.get_by_test_id("card-total")).to_have_text("98.10", timeout=SLOW)
    expect(page.get_by_test_id("card-grade")).to_have_text("优秀")
    coverage = page.locator("[data-line='coverage']")
    expect(coverage).to_contain_text("58 / 60")
    expect(coverage.get_by_test_id("line-points")).to_have_text("38.67 / 40.00")
    visits = page.locator("[data-line='visits']")
    expect(visits.get_by_test_id("line-points")).to_contain_text("30.00 / 30.00")
    expect(visits).to_contain_text("已封顶")
    spot = page.locator("[data-line='spot_check']")
    expect(spot.get_by_test_id("line-rated")).to_contain_text("不参评：尚未录入")
    # The records behind a line, paged through the API.
    coverage.get_by_role("button", name="记录").click()
    records = page.get_by_test_id("records")
    expect(records.get_by_test_id("record").first).to_be_visible(timeout=SLOW)
    axe(page)
    screenshot(page, "console-assessment-card")

    # Rankings of the run: across the street and within the community, best first.
    _tab(page, "排名")
    street = page.get_by_test_id("ranking-street")
    expect(street.locator("tbody tr").first).to_contain_text(a.good, timeout=SLOW)
    expect(street.locator("tbody tr").first).to_contain_text("98.10")
    community = page.get_by_test_id("ranking-community")
    expect(community.locator("tbody tr")).to_have_count(3, timeout=SLOW)
    expect(community.locator("tbody tr").first.locator("td").first).to_have_text("1")
    axe(page)
    screenshot(page, "console-assessment-rankings")


def test_station_enters_a_spot_check_and_the_centre_publishes(
    page, new_context, sign_in, axe, screenshot, assessed
):
    a = assessed
    centre = _api(page, "centre")
    status, queued = centre(
        "POST", "/assessments/runs",
        {"template": a.template_code, "period": f"{LAST_YEAR}-Q3", "area_id": _street(centre)},
    )  # fmt: skip
    assert status == 202, queued
    run_id = queued["params"]["run_id"]
    status, cards = centre("GET", f"/assessments/runs/{run_id}/scorecards")
    assert status == 200 and cards, cards
    good = next(c for c in cards if c["target_name"] == a.good)

    sign_in(page, "station1")
    _open_assessment(page)
    _tab(page, "考核卡")
    page.get_by_role("form", name="筛选").get_by_role("textbox", name="考核期").fill(
        f"{LAST_YEAR}-Q3"
    )
    page.get_by_role("form", name="筛选").get_by_role("button", name="筛选").click()
    expect(_row(page, a.good)).to_have_count(1, timeout=SLOW)
    axe(page)
    screenshot(page, "console-assessment-station-cards")
    _row(page, a.good).get_by_role("link", name=a.good).click()
    expect(page.get_by_test_id("card-total")).to_have_text("98.10", timeout=SLOW)

    spot = page.locator("[data-line='spot_check']")
    spot.get_by_role("button", name="录入").click()
    form = page.get_by_role("form", name="录入 站点抽查")
    form.get_by_label("录入值（0–100）").fill("90")
    form.get_by_label("依据说明").fill(f"现场抽查台账齐全 {TAG}")
    form.get_by_label("照片或附件", exact=True).set_input_files(
        {"name": "spot.png", "mimeType": "image/png", "buffer": PNG}
    )
    axe(page)
    screenshot(page, "console-assessment-entry")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible(timeout=SLOW)
    # 0.9 × 30 = 27 points; all 100 rated: 38.67 + 30 + 27 = 95.67.
    expect(spot.get_by_test_id("line-points")).to_have_text("27.00 / 30.00", timeout=SLOW)
    expect(spot.get_by_test_id("evidence")).to_contain_text(f"现场抽查台账齐全 {TAG}")
    expect(spot.get_by_test_id("evidence")).to_contain_text("附件 1 个")
    expect(page.get_by_test_id("card-total")).to_have_text("95.67")

    # Someone else changes the card meanwhile: the next save is refused and says so.
    status, now = centre("GET", f"/assessments/scorecards/{good['id']}")
    assert status == 200
    status, body = centre(
        "PUT", f"/assessments/scorecards/{good['id']}/indicators/spot_check",
        {"value": 80, "evidence": {"note": "中心复核"}, "version": now["version"]},
    )  # fmt: skip
    assert status == 200, body
    spot.get_by_role("button", name="录入").click()
    form = page.get_by_role("form", name="录入 站点抽查")
    form.get_by_label("录入值（0–100）").fill("95")
    form.get_by_label("依据说明").fill("再次抽查")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_test_id("stale")).to_be_visible(timeout=SLOW)
    expect(form.get_by_role("alert").first).not_to_be_empty()

    # The centre publishes the run; the station's card is then frozen.
    centre_page = new_context().new_page()
    sign_in(centre_page, "centre")
    centre_page.goto(f"/#/assessment/runs/{run_id}")
    expect(centre_page.get_by_test_id("run-status")).to_contain_text("已计算", timeout=SLOW)
    centre_page.get_by_role("button", name="发布").click()
    expect(centre_page.get_by_test_id("run-status")).to_contain_text("已发布", timeout=SLOW)
    expect(centre_page.get_by_role("button", name="发布")).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("card-total")).to_have_text("92.67", timeout=SLOW)
    expect(
        page.locator("[data-line='spot_check']").get_by_role("button", name="录入")
    ).to_have_count(0)


def _street(api) -> int:
    status, me = api("GET", "/me")
    assert status == 200
    return me["scope"]["area_id"]


def test_a_provisional_run_is_not_published_and_says_why(page, sign_in, assessed):
    a = assessed
    this_year = LAST_YEAR + 1
    quarter = (dt.datetime.now(ZoneInfo("Asia/Shanghai")).month - 1) // 3 + 1
    sign_in(page, "centre")
    _open_assessment(page)
    _start_run(page, a, f"{this_year}-Q{quarter}", provisional=True)
    expect(page.get_by_test_id("run-status")).to_contain_text("临时")
    page.get_by_role("button", name="发布").click()
    # The 409's message (run_provisional), as the API words it.
    expect(page.get_by_role("alert")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("alert")).not_to_be_empty()
    expect(page.get_by_test_id("run-status")).to_contain_text("已计算")


def test_a_yearly_fail_opens_recommendations_the_centre_decides(
    page, sign_in, axe, screenshot, assessed
):
    a = assessed
    district = _api(page, "district")
    sign_in(page, "centre")
    _open_assessment(page)
    _start_run(page, a, YEAR)
    page.get_by_role("button", name="发布").click()
    expect(page.get_by_test_id("run-status")).to_contain_text("已发布", timeout=SLOW)

    _tab(page, "解聘建议")
    expect(page.get_by_role("heading", level=1, name="解聘建议")).to_be_visible(timeout=SLOW)
    weak = page.get_by_test_id("recommendation").filter(has_text=a.weak)
    weaker = page.get_by_test_id("recommendation").filter(has_text=a.weaker)
    expect(weak).to_contain_text("待决定", timeout=SLOW)
    expect(weak).to_contain_text("不合格")
    expect(weaker).to_contain_text("待决定", timeout=SLOW)
    axe(page)
    screenshot(page, "console-assessment-recommendations")

    # The centre confirms one: the worker (one made by this module) is dismissed.
    weak.get_by_role("button", name="确认解聘").click()
    form = page.get_by_role("form", name=f"确认解聘 {a.weak}")
    form.get_by_label("理由（必填）", exact=True).fill("年度考核不合格，经研究予以解聘")
    form.get_by_role("button", name="确认解聘").click()
    expect(weak.get_by_test_id("rec-status")).to_contain_text("已确认解聘", timeout=SLOW)
    status, worker = _api(page, "centre")("GET", f"/workers/{a.weak_id}")
    assert status == 200 and worker["status"] == "dismissed", worker

    # The other is decided elsewhere meanwhile: the centre's overturn answers 409.
    (rec,) = [
        r
        for r in district("GET", "/assessments/recommendations", status="open")[1]
        if r["worker_name"] == a.weaker
    ]
    status, _ = district(
        "POST", f"/assessments/recommendations/{rec['id']}/overturn", {"reason": "复核后保留"}
    )
    assert status == 200
    weaker.get_by_role("button", name="撤销建议").click()
    form = page.get_by_role("form", name=f"撤销建议 {a.weaker}")
    form.get_by_label("理由（必填）", exact=True).fill("情况特殊")
    form.get_by_role("button", name="撤销建议").click()
    status, envelope = _api(page, "centre")(
        "POST", f"/assessments/recommendations/{rec['id']}/overturn", {"reason": "again"}
    )
    assert status == 409 and envelope["error"]["code"] == "already_decided"
    expect(weaker.get_by_role("alert")).to_have_text(envelope["error"]["message"], timeout=SLOW)


def _keep_reports(e2e_app) -> tuple[str, str]:
    """A monthly report (two months back) and a daily summary (two days back) of the street
    kept as the scheduler keeps them; returns their periods."""
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    month = monthly.previous_month(monthly.previous_month(today.replace(day=1)))
    day = today - dt.timedelta(days=2)
    with e2e_app.app_context(), audit.acting_as(SEED_ACTOR):
        street = area_service.find_by_code("QS")
        monthly.keep("monthly", street.id, month, monthly.build(OPERATOR, street, month))
        monthly.keep("daily", street.id, day, daily.build(OPERATOR, street, day))
        db.session.commit()
    return month.strftime("%Y-%m"), day.isoformat()


def test_monthly_report_shows_its_sections_and_downloads_xlsx(
    page, sign_in, axe, screenshot, e2e_app
):
    kept_month, kept_day = _keep_reports(e2e_app)
    sign_in(page, "centre")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="月报").click()
    expect(page.get_by_role("heading", level=1, name="网格月报")).to_be_visible(timeout=SLOW)
    report = page.get_by_test_id("monthly-report")
    expect(report).to_be_visible(timeout=60_000)
    headlines = page.get_by_test_id("headlines")
    for label in ("巡逻次数", "走访总数", "受理事件数", "空缺网格数"):
        expect(headlines.get_by_role("row").filter(has_text=label)).to_have_count(1)
    expect(headlines.get_by_role("columnheader", name="上月")).to_be_visible()
    for section in ("巡查", "走访", "住户登记", "事件", "短信", "宣传活动", "空缺网格"):
        expect(report.get_by_role("region", name=section, exact=True)).to_be_visible()
    axe(page)
    screenshot(page, "console-reports-monthly")

    with page.expect_download() as info:
        page.get_by_role("button", name="下载 Excel").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    assert "汇总" in book.sheetnames and len(book.sheetnames) > 1
    with page.expect_download() as info:
        page.get_by_role("button", name="下载 CSV 空缺网格").click()
    assert info.value.suggested_filename.endswith("-vacant.csv")

    # A kept report, opened from the archive.
    archive = page.get_by_test_id("archive")
    archive.get_by_role("button", name=f"打开 {kept_month}").click()
    expect(report.get_by_test_id("report-title")).to_contain_text(kept_month, timeout=60_000)

    # The daily summary: yesterday by default.
    page.get_by_role("navigation", name="报表导航").get_by_role("link", name="每日简报").click()
    summary = page.get_by_test_id("daily-summary")
    expect(summary).to_be_visible(timeout=SLOW)
    yesterday = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)
    expect(summary.get_by_test_id("report-title")).to_contain_text(yesterday.isoformat())
    axe(page)
    screenshot(page, "console-reports-daily")
    page.get_by_test_id("daily-archive").get_by_role("button", name=f"打开 {kept_day}").click()
    expect(summary.get_by_test_id("report-title")).to_contain_text(kept_day, timeout=SLOW)


def test_a_bank_contact_sees_only_its_own_cards(page, sign_in):
    sign_in(page, "bank1")
    _open_assessment(page)
    expect(page.get_by_role("heading", level=1, name="我的考核卡")).to_be_visible(timeout=SLOW)
    nav = page.get_by_role("navigation", name="考核导航")
    expect(nav.get_by_role("link")).to_have_count(1)
    expect(nav.get_by_role("link", name="考核批次")).to_have_count(0)


def test_the_assessment_screens_switch_to_english(page, sign_in, assessed):
    sign_in(page, "centre")
    page.get_by_role("button", name="English").click()
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Assessment"
    ).click()
    expect(page.get_by_role("heading", level=1, name="Runs")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("form", name="Start a run")).to_be_visible(timeout=SLOW)
    row = page.get_by_test_id("runs").locator("tr").filter(has_text=assessed.template_name)
    expect(row.first).to_contain_text("Excellent", timeout=SLOW)
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", level=1, name="考核批次")).to_be_visible(timeout=SLOW)
