"""SME visits on the field app, on a 360×640 phone against the live seeded demo: a coordinator
lists two enterprises in worker1's cell for a visits programme of their own (visitor ``cell``);
the worker's terminal downloads them with the bundle and shows them under 走访企业; offline the
worker records a visit with outcome product_matched (the form first refuses it without the
products), the enterprise shows as visited at once; back online the record goes up as an
``sme_visit`` item, is answered ``created``, and the coordinator reads the visit from
``GET /outreach/visits``. The list and the form pass axe and are kept as screenshots."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import urllib.request
import uuid
import zoneinfo

from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.e2e.live import DEMO_PASSWORD
from tests.e2e.test_field_app import _api, _controlled, _enrol, _enrolment_code, _station_token
from tests.e2e.test_field_app import _worker_id as worker_id_of

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")


def _token(live_url: str, username: str) -> str:
    body = {"username": username, "password": DEMO_PASSWORD}
    return _api(live_url, "POST", "/auth/token", body)["access_token"]


def _post_csv(live_url: str, path: str, text: str, token: str) -> dict:
    req = urllib.request.Request(f"{live_url}/api/v1{path}", data=text.encode(), method="POST")
    req.add_header("Content-Type", "text/csv; charset=utf-8")
    req.add_header("Accept", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _credit_code(n: int) -> str:
    """A valid invented unified social credit code (GB 32100-2015 check character)."""
    from stdnum.cn import uscc

    first17 = f"91510104MA{n % 10**7:07d}"
    return first17 + uscc.calc_check_digit(first17)


def _cell_positions(e2e_app, username: str = "worker1") -> tuple[int, list[tuple[float, float]]]:
    """The street's id and positions of places inside a cell the worker holds today."""
    from gridserve.extensions import db
    from gridserve.models import Area, Assignment, GridCell, Place, User, Worker

    with e2e_app.app_context():
        user_id = db.session.execute(select(User.id).where(User.username == username)).scalar_one()
        worker = db.session.execute(select(Worker).where(Worker.user_id == user_id)).scalar_one()
        code = (
            db.session.execute(
                select(Assignment.cell_code).where(
                    Assignment.worker_id == worker.id, Assignment.ends_on.is_(None)
                )
            )
            .scalars()
            .first()
        )
        cells = select(GridCell.id).where(GridCell.code == code)
        rows = db.session.execute(
            select(func.ST_X(Place.geom), func.ST_Y(Place.geom))
            .where(Place.cell_id.in_(cells))
            .order_by(Place.id)
            .limit(2)
        ).all()
        street = db.session.execute(select(Area.id).where(Area.code == "QS")).scalar_one()
        db.session.remove()
    assert len(rows) == 2, "worker1's cell has places in the demo"
    return street, [(float(x), float(y)) for x, y in rows]


def _listed_enterprises(live_url: str, e2e_app, marker: str) -> tuple[int, list[dict]]:
    """A visits programme of its own with two enterprises in worker1's cell (visitor cell)."""
    coordinator = _token(live_url, "coordinator")
    street, positions = _cell_positions(e2e_app)
    today = dt.datetime.now(ZONE).date()
    day = dt.timedelta(days=1)
    programme = _api(
        live_url,
        "POST",
        "/outreach/programmes",
        {
            "code": f"E2E-{marker}",
            "name": f"走访测试 {marker}",
            "kind": "visits",
            "area_id": street,
            "start_date": (today - 30 * day).isoformat(),
            "end_date": (today + 60 * day).isoformat(),
            "organiser": "DZ-REG",
            "institutions": ["DZCB"],
            "list_due_on": (today + 5 * day).isoformat(),
            "visits_from": (today - 10 * day).isoformat(),
            "visits_to": (today + 30 * day).isoformat(),
            "summary_due_on": (today + 40 * day).isoformat(),
        },
        coordinator,
    )
    seed = int(uuid.uuid4().int % 10**7)
    enterprises = [
        {
            "credit_code": _credit_code(seed + k),
            "name": f"{marker} 企业{k + 1}",
            "address": f"青松街 {k + 1} 号",
            "lon": lon,
            "lat": lat,
        }
        for k, (lon, lat) in enumerate(positions)
    ]
    out = io.StringIO()
    out.write("credit_code,name,address,lon,lat,industry,institution,visitor\n")
    for e in enterprises:
        out.write(
            f"{e['credit_code']},{e['name']},{e['address']},{e['lon']},{e['lat']},零售,DZCB,cell\n"
        )
    report = _post_csv(
        live_url, f"/outreach/programmes/{programme['id']}/enterprises", out.getvalue(), coordinator
    )
    assert report["rejected"] == [] and report["created"] == 2, report
    return programme["id"], enterprises


def test_worker_lists_enterprises_and_records_an_sme_visit_offline(
    new_context, live_url, e2e_app, axe, screenshot
) -> None:
    marker = f"E2E{uuid.uuid4().hex[:6].upper()}"
    programme_id, enterprises = _listed_enterprises(live_url, e2e_app, marker)
    first = enterprises[0]

    # The worker stands at the first enterprise (the browser may tell the app where).
    here = {"longitude": first["lon"], "latitude": first["lat"], "accuracy": 5}
    context = new_context(phone=True, geolocation=here, permissions=["geolocation"])
    page = context.new_page()
    code = _enrolment_code(live_url, _station_token(live_url), worker_id_of(e2e_app))
    _enrol(page, code, f"e2e-sme {marker}")
    _controlled(page)

    # The enterprises listed for the worker's cell, from the bundle.
    page.get_by_role("link", name="走访企业").click()
    expect(page.get_by_role("heading", name="走访企业")).to_be_visible()
    cards = page.get_by_test_id("sme-enterprise").filter(has_text=marker)
    expect(cards).to_have_count(2)
    card = cards.filter(has_text=first["name"])
    expect(card).to_contain_text(first["credit_code"])
    expect(card).to_contain_text(first["address"])
    expect(card).to_contain_text("DZCB")
    expect(card.get_by_test_id("sme-status")).to_have_text("未走访")
    expect(card).to_contain_text("距您 0 米")
    axe(page)
    screenshot(page, "field-sme-list")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Businesses to visit")).to_be_visible()
    expect(card.get_by_test_id("sme-status")).to_have_text("Not visited")
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="走访企业")).to_be_visible()

    # Offline: the visit form, its outcome rules, the save into the outbox.
    context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="离线")).to_be_visible()
    card.get_by_role("link", name=re.compile("^记录走访")).click()
    expect(page.get_by_role("heading", name="企业走访记录")).to_be_visible()
    expect(page.get_by_text(first["name"])).to_be_visible()
    page.get_by_label("经营状况").select_option("normal")
    page.get_by_label("企业有融资需求").check()
    page.get_by_label("需求金额（元）").fill("500000")
    page.get_by_label("期限（月）").fill("12")
    page.get_by_label("用途").fill("流动资金")
    page.get_by_label("DZCB").check()
    page.get_by_label("符合", exact=True).check()
    page.get_by_label("走访结果").select_option("product_matched")
    page.get_by_role("button", name="保存到待发送").click()
    expect(page.get_by_role("alert")).to_contain_text("请更正")
    expect(page.get_by_text("已匹配产品时请填写产品")).to_be_visible()
    products = page.get_by_label("推荐的产品（用逗号分隔）")
    expect(products).to_have_attribute("aria-invalid", "true")
    products.fill("经营快贷，税易贷")
    page.get_by_label("下一步", exact=True).fill("提交授信申请")
    week_on = dt.datetime.now(ZONE).date() + dt.timedelta(days=7)
    page.get_by_label("下一步完成日期").fill(week_on.isoformat())
    axe(page)
    screenshot(page, "field-sme-form")
    page.get_by_role("button", name="保存到待发送").click()
    expect(page.get_by_role("heading", name="待发送与结果")).to_be_visible()
    record = page.get_by_test_id("record").filter(has_text=first["name"])
    expect(record).to_have_attribute("data-status", "pending")

    # Recorded here: the enterprise is visited at once, the other one not (after a reload
    # with no network too: the screens' chunk and the list come from the terminal).
    page.reload()
    page.get_by_role("link", name="走访企业").click()
    expect(cards.filter(has_text=first["name"]).get_by_test_id("sme-status")).to_have_text("已走访")
    expect(cards.filter(has_text=enterprises[1]["name"]).get_by_test_id("sme-status")).to_have_text(
        "未走访"
    )

    # Online again: the item goes up on its own and is answered created.
    page.get_by_role("link", name=re.compile("^待发送")).click()
    context.set_offline(False)
    expect(record).to_have_attribute("data-status", "created", timeout=30_000)
    expect(record.get_by_test_id("record-status")).to_contain_text("created")
    axe(page)
    screenshot(page, "field-sme-outbox-created")

    # The coordinator sees the visit, recorded from the terminal.
    coordinator = _token(live_url, "coordinator")
    visits = _api(live_url, "GET", f"/outreach/visits?programme={programme_id}", token=coordinator)
    assert len(visits) == 1
    visit = visits[0]
    assert visit["enterprise"] == {"credit_code": first["credit_code"], "name": first["name"]}
    assert visit["source"] == "terminal"
    assert visit["institution"] == "DZCB"
    assert visit["outcome"] == "product_matched"
    assert visit["products"] == ["经营快贷", "税易贷"]
    assert visit["need"]["amount"] == 500000 and visit["need"]["term_months"] == 12
    assert visit["lenders"] == ["DZCB"] and visit["eligible"] is True
    assert visit["next_step"] == "提交授信申请"
    assert visit["next_step_due_on"] == week_on.isoformat()
    assert visit["decision_due_on"] is not None
    assert visit["worker_id"] == worker_id_of(e2e_app)


def test_a_rejected_sme_visit_stays_editable_and_goes_up_when_fixed(
    new_context, live_url, e2e_app, axe, screenshot
) -> None:
    marker = f"E2E{uuid.uuid4().hex[:6].upper()}"
    programme_id, enterprises = _listed_enterprises(live_url, e2e_app, marker)
    second = enterprises[1]

    context = new_context(phone=True)
    page = context.new_page()
    code = _enrolment_code(live_url, _station_token(live_url), worker_id_of(e2e_app))
    _enrol(page, code, f"e2e-sme-fix {marker}")
    _controlled(page)

    # A follow-up naming a lender code the service does not know: rejected with its code.
    page.get_by_role("link", name="走访企业").click()
    card = page.get_by_test_id("sme-enterprise").filter(has_text=second["name"])
    card.get_by_role("link", name=re.compile("^记录走访")).click()
    page.get_by_label("其他机构代码（用逗号分隔）").fill("NOPE9")
    page.get_by_label("走访结果").select_option("follow_up")
    page.get_by_role("button", name="保存到待发送").click()
    record = page.get_by_test_id("record").filter(has_text=second["name"])
    expect(record).to_have_attribute("data-status", "rejected", timeout=30_000)
    expect(record.get_by_test_id("record-status")).to_contain_text("rejected")
    expect(record).to_contain_text("invalid_sme_visit")
    screenshot(page, "field-sme-outbox-rejected")

    # Not visited; the card leads to the rejected record, which opens in the form again.
    page.get_by_role("link", name="走访企业").click()
    expect(card.get_by_test_id("sme-status")).to_have_text("未走访")
    card.get_by_role("link", name=re.compile("^修改被拒绝的记录")).click()
    expect(page.get_by_role("heading", name="修改企业走访记录")).to_be_visible()
    expect(page.get_by_role("alert").first).to_contain_text("invalid_sme_visit")
    other = page.get_by_label("其他机构代码（用逗号分隔）")
    expect(other).to_have_value("NOPE9")
    expect(other).to_have_attribute("aria-invalid", "true")
    axe(page)
    screenshot(page, "field-sme-fix")
    other.fill("")
    page.get_by_label("DZCB").check()
    page.get_by_role("button", name="保存到待发送").click()
    expect(record).to_have_attribute("data-status", "created", timeout=30_000)
    page.get_by_role("link", name="走访企业").click()
    expect(card.get_by_test_id("sme-status")).to_have_text("已走访")

    coordinator = _token(live_url, "coordinator")
    visits = _api(live_url, "GET", f"/outreach/visits?programme={programme_id}", token=coordinator)
    assert [(v["enterprise"]["credit_code"], v["outcome"], v["lenders"]) for v in visits] == [
        (second["credit_code"], "follow_up", ["DZCB"])
    ]
