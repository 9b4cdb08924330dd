"""The worker's own published scorecards on the field app (考核), on a 360×640 phone against the
live seeded demo (seeds/assessment.py publishes the previous quarter and last year): worker1's
terminal lists their published cards with period, total and grade (not the provisional current
quarter), opens the quarter's card and sees its lines — the figures, the points, the station's
spot check. Offline, the screen says it needs a connection. Screens pass axe and are kept as
screenshots."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.test_field_app import _controlled, _enrol, _enrolment_code, _station_token
from tests.e2e.test_field_app import _worker_id as worker_id_of

GRADES = ("优秀", "良好", "合格", "不合格")


def _published(e2e_app, worker_id: int) -> dict[str, tuple[int, str, str]]:
    """The worker's published cards: period -> (id, total, grade name)."""
    from gridserve.extensions import db
    from gridserve.models import AssessmentRun, Scorecard
    from gridserve.services.assessment.scoring import grade_name

    with e2e_app.app_context():
        rows = db.session.execute(
            select(AssessmentRun.period, Scorecard.id, Scorecard.total, Scorecard.grade)
            .join(AssessmentRun, AssessmentRun.id == Scorecard.run_id)
            .where(
                Scorecard.target_kind == "worker",
                Scorecard.target_id == worker_id,
                AssessmentRun.status == "published",
            )
        ).all()
        db.session.remove()
    return {p: (i, f"{t:.2f}", grade_name(g)) for p, i, t, g in rows}


def test_worker_sees_their_published_cards(new_context, live_url, e2e_app, axe, screenshot):
    from gridserve.timeutil import local_today
    from seeds.assessment import periods

    with e2e_app.app_context():
        named = periods(local_today())
    worker = worker_id_of(e2e_app)
    cards = _published(e2e_app, worker)
    assert set(cards) == {named["previous"], named["year"]}
    quarter_id, total, grade = cards[named["previous"]]

    station = _station_token(live_url)
    context = new_context(phone=True)
    page = context.new_page()
    _enrol(page, _enrolment_code(live_url, station, worker), "e2e-assess")
    _controlled(page)

    page.get_by_role("navigation").get_by_role("link", name="考核", exact=True).click()
    expect(page.get_by_role("heading", name="我的考核")).to_be_visible()
    listed = page.get_by_test_id("assess-list").locator("li")
    expect(listed).to_have_count(2)
    card = listed.filter(has_text=named["previous"])
    expect(card).to_contain_text(f"总分 {total}")
    expect(card.get_by_test_id("card-grade")).to_have_text(grade)
    assert grade in GRADES
    expect(page.get_by_test_id("assess-list")).not_to_contain_text(named["current"])
    axe(page)
    screenshot(page, "field-assessments")

    card.get_by_role("link", name=named["previous"]).click()
    expect(page).to_have_url(re.compile(f"#/assess/{quarter_id}$"))
    expect(page.get_by_role("heading", name=re.compile("考核详情"))).to_be_visible()
    expect(page.get_by_test_id("card-total")).to_contain_text(f"总分 {total}")
    lines = page.get_by_test_id("card-lines").locator("li")
    expect(lines).to_have_count(7)
    patrol = lines.filter(has_text="巡查覆盖")
    expect(patrol).to_contain_text(re.compile(r"\d+ / \d+ \(\d+\.\d%\)"))
    expect(patrol).to_contain_text(re.compile(r"[\d.]+ / 20.00 分"))
    expect(lines.filter(has_text="入户及企业走访")).to_contain_text(re.compile(r"\d+ / 3 网格月"))
    spot = lines.filter(has_text="服务站抽查")
    expect(spot).to_contain_text(re.compile(r"录入 \d+"))
    expect(spot).to_contain_text("/ 15.00 分")
    axe(page)
    screenshot(page, "field-assessment-card")

    context.set_offline(True)
    page.get_by_role("link", name="返回考核列表").click()
    expect(page.get_by_text("查看考核结果需要联网。")).to_be_visible()
    axe(page)
    context.set_offline(False)
