"""The progress of a visits programme (走访进度): per institution, per visitor and in total,
and its CSV / XLSX exports.

Figures of a row (``ROW``):

- ``listed``: rows of the visit list; ``visited``: those with at least one visit record;
  ``visited_share``: ``visited / listed`` rounded half up to 4 decimals (0 when nothing is
  listed).
- ``outcomes``: the number of visit records per outcome (an enterprise visited twice counts
  twice); ``need_amount``: the financing need (yuan) summed over the visit records.
- ``matched_amount``: the need summed over the ``product_matched`` visit records, whatever
  their decision: the need a product was matched to (应贷尽贷). What became of it is what the
  decision figures and the decisions list tell; an approved-only sum would hide the needs
  still waiting and make the figure drop when a bank is slow.
- ``decisions_open``: ``product_matched`` records without a decision whose due day
  (``decision_due_on``) is not over; ``decisions_overdue``: the same past their due day. The
  day is the programme area's local date, so the two never overlap.
- ``referrals_made``: referral cards of the programme sent by the institution (by the visitor's
  account, for a visitor row; a ``cell`` row sends none); ``referrals_converted``: those of
  them converted.

Who counts where: list rows, visit records and their figures belong to the enterprise's
responsible institution and visitor (包靠责任人: an account, or ``cell``, one visitor row per
institution and visitor). The caller sees only what :mod:`gridserve.scope` lets them see:
every figure is computed over ``visible(OutreachEnterprise | OutreachVisit | OutreachReferral)``
(a visit counts when both it and its list row are visible), and institution rows are the
visible institutions (a contact: its own). ``totals`` are the sum of the institution rows.
Visitor rows are the list's visitors: a referral sent by a contact who visits nothing listed
counts for the institution, not in any visitor row.

Speed: one aggregate statement for the list and its visits (visits grouped per enterprise,
then per institution and visitor), one for the referrals, and two for the labels; the Python
work is over groups, never over visits.

No Flask request in here and no commits: the request boundary commits (the export's audit
entry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, or_, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import ValidationFailed
from gridserve.exports import XLSX_TYPE, bold_row, csv_bytes, safe_name, share_of, workbook_bytes
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    OutreachEnterprise,
    OutreachReferral,
    OutreachVisit,
)
from gridserve.models.outreach.visits import VISIT_OUTCOMES
from gridserve.scope import Principal, visible
from gridserve.services.geography.areas import zone_of
from gridserve.services.outreach.basics import READERS, usernames
from gridserve.services.outreach.enterprises import visits_programme

CELL = "cell"
FORMATS = ("json", "csv", "xlsx")
# Flat figures of a row (after ``listed, visited, visited_share`` and the outcomes).
AMOUNTS = ("need_amount", "matched_amount")
COUNTS = ("decisions_open", "decisions_overdue", "referrals_made", "referrals_converted")
# The export's columns: (key, label). Outcomes are flattened as ``outcome_<name>``.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("level", "层级"),
    ("institution", "机构代码"),
    ("name", "机构名称"),
    ("visitor", "走访人"),
    ("listed", "名单企业数"),
    ("visited", "已走访企业数"),
    ("visited_share", "走访率"),
    ("outcome_follow_up", "跟进服务（存量）"),
    ("outcome_renewal", "续贷"),
    ("outcome_product_matched", "匹配产品"),
    ("outcome_not_eligible_explained", "不符合条件已解释"),
    ("outcome_no_need", "无需求"),
    ("need_amount", "融资需求金额（元）"),
    ("matched_amount", "已匹配金额（元）"),
    ("decisions_open", "待决定"),
    ("decisions_overdue", "逾期未决定"),
    ("referrals_made", "转介数"),
    ("referrals_converted", "转介成功数"),
)
LEVELS = {"total": "合计", "institution": "机构", "visitor": "走访人"}


@dataclass
class Tally:
    """The figures of one row while they are summed up."""

    listed: int = 0
    visited: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VISIT_OUTCOMES, 0))
    need_amount: int = 0
    matched_amount: int = 0
    decisions_open: int = 0
    decisions_overdue: int = 0
    referrals_made: int = 0
    referrals_converted: int = 0

    def add(self, other: Tally) -> None:
        self.listed += other.listed
        self.visited += other.visited
        for key, value in other.outcomes.items():
            self.outcomes[key] += value
        for key in (*AMOUNTS, *COUNTS):
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def row(self) -> dict[str, Any]:
        share = share_of(self.visited, self.listed)
        return {
            "listed": self.listed,
            "visited": self.visited,
            "visited_share": share,
            "outcomes": dict(self.outcomes),
            **{key: getattr(self, key) for key in (*AMOUNTS, *COUNTS)},
        }


def _list_and_visits(principal: Principal, programme_id: int, today: dt.date) -> list[Any]:
    """Per (institution, visitor account, cell) of the list: listed, visited and the visit
    figures. One statement: visible visits grouped per enterprise, joined to the visible list
    rows, grouped again."""
    v = (
        visible(OutreachVisit, principal)
        .where(OutreachVisit.programme_id == programme_id)
        .subquery("v")
    )
    matched = v.c.outcome == "product_matched"
    undecided = matched & v.c.decision.is_(None)
    late = v.c.decision_due_on < today
    per_enterprise = (
        select(
            v.c.enterprise_id.label("enterprise_id"),
            *(func.sum(case((v.c.outcome == o, 1), else_=0)).label(o) for o in VISIT_OUTCOMES),
            func.sum(v.c.need_amount).label("need_amount"),
            func.sum(case((matched, v.c.need_amount), else_=0)).label("matched_amount"),
            func.sum(
                case((undecided & or_(v.c.decision_due_on.is_(None), ~late), 1), else_=0)
            ).label("decisions_open"),
            func.sum(case((undecided & late, 1), else_=0)).label("decisions_overdue"),
        )
        .group_by(v.c.enterprise_id)
        .subquery("pv")
    )
    e = (
        visible(OutreachEnterprise, principal)
        .where(OutreachEnterprise.programme_id == programme_id)
        .subquery("e")
    )
    figures = (*VISIT_OUTCOMES, *AMOUNTS, "decisions_open", "decisions_overdue")
    stmt = (
        select(
            e.c.institution_id,
            e.c.visitor_user_id,
            e.c.visitor_is_cell,
            func.count().label("listed"),
            func.count(per_enterprise.c.enterprise_id).label("visited"),
            *(func.sum(per_enterprise.c[name]).label(name) for name in figures),
        )
        .select_from(e.outerjoin(per_enterprise, per_enterprise.c.enterprise_id == e.c.id))
        .group_by(e.c.institution_id, e.c.visitor_user_id, e.c.visitor_is_cell)
    )
    return list(db.session.execute(stmt).all())


def _referrals(principal: Principal, programme_id: int) -> list[Any]:
    """Per (sending institution, sending account): cards sent and converted, for the visible
    cards whose sender is a visible institution."""
    r = (
        visible(OutreachReferral, principal)
        .where(OutreachReferral.programme_id == programme_id)
        .subquery("r")
    )
    stmt = (
        select(
            r.c.from_institution_id,
            r.c.from_user_id,
            func.count().label("made"),
            func.sum(case((r.c.status == "converted", 1), else_=0)).label("converted"),
        )
        .where(
            r.c.from_institution_id.in_(
                visible(Institution, principal).with_only_columns(Institution.id)
            )
        )
        .group_by(r.c.from_institution_id, r.c.from_user_id)
    )
    return list(db.session.execute(stmt).all())


def _tally(row: Any) -> Tally:
    return Tally(
        listed=row.listed,
        visited=row.visited,
        outcomes={o: int(getattr(row, o) or 0) for o in VISIT_OUTCOMES},
        need_amount=int(row.need_amount or 0),
        matched_amount=int(row.matched_amount or 0),
        decisions_open=int(row.decisions_open or 0),
        decisions_overdue=int(row.decisions_overdue or 0),
    )


def _labels(ids: Iterable[int], user_ids: Iterable[int]) -> tuple[dict, dict]:
    ids, user_ids = set(ids), set(user_ids)
    institutions = (
        {
            r.id: (r.code, r.name)
            for r in db.session.execute(
                select(Institution.id, Institution.code, Institution.name).where(
                    Institution.id.in_(ids)
                )
            )
        }
        if ids
        else {}
    )
    return institutions, usernames(user_ids)


def progress(principal: Principal, programme_id: int) -> dict[str, Any]:
    """The programme's progress as the caller may see it (see the module docstring):
    ``{programme: {id, code, name}, as_of, totals, institutions, visitors}``."""
    principal.require(*READERS)
    programme = visits_programme(principal, programme_id)
    zone = zone_of(programme.area_id)
    now = utcnow().astimezone(zone)
    groups = _list_and_visits(principal, programme.id, now.date())
    sent = _referrals(principal, programme.id)

    by_institution: dict[int, Tally] = {}
    by_visitor: dict[tuple[int, int | None, bool], Tally] = {}
    for g in groups:
        tally = _tally(g)
        key = (
            g.institution_id,
            None if g.visitor_is_cell else g.visitor_user_id,
            bool(g.visitor_is_cell),
        )
        by_visitor.setdefault(key, Tally()).add(tally)
        by_institution.setdefault(g.institution_id, Tally()).add(tally)
    for s in sent:
        made = Tally(referrals_made=s.made, referrals_converted=int(s.converted or 0))
        by_institution.setdefault(s.from_institution_id, Tally()).add(made)
        visitor = by_visitor.get((s.from_institution_id, s.from_user_id, False))
        if visitor is not None and s.from_user_id is not None:
            visitor.add(made)

    institutions, users = _labels(by_institution, (k[1] for k in by_visitor if k[1] is not None))
    totals = Tally()
    inst_rows = []
    for inst_id, tally in by_institution.items():
        totals.add(tally)
        code, name = institutions[inst_id]
        inst_rows.append({"institution": code, "name": name, **tally.row()})
    inst_rows.sort(key=lambda r: r["institution"])
    visitor_rows = []
    for (inst_id, user_id, is_cell), tally in by_visitor.items():
        visitor = CELL if is_cell else users.get(user_id) if user_id is not None else None
        visitor_rows.append(
            {"visitor": visitor, "institution": institutions[inst_id][0], **tally.row()}
        )
    visitor_rows.sort(
        key=lambda r: (
            r["institution"],
            r["visitor"] is None,
            r["visitor"] == CELL,
            r["visitor"] or "",
        )
    )
    return {
        "programme": {"id": programme.id, "code": programme.code, "name": programme.name},
        "as_of": now,
        "totals": totals.row(),
        "institutions": inst_rows,
        "visitors": visitor_rows,
    }


# --- exports ---------------------------------------------------------------------------------


def flat_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Every row of ``report`` in :data:`COLUMNS` order: the total, the institutions, the
    visitors (``level`` total/institution/visitor)."""
    names = {r["institution"]: r["name"] for r in report["institutions"]}

    def flat(level: str, row: dict[str, Any], inst: str | None, visitor: str | None):
        values = {
            "level": level,
            "institution": inst,
            "name": names.get(inst) if inst else None,
            "visitor": visitor,
            **{f"outcome_{o}": n for o, n in row["outcomes"].items()},
            **{k: v for k, v in row.items() if k != "outcomes"},
        }
        return [values[key] for key, _label in COLUMNS]

    return [
        flat("total", report["totals"], None, None),
        *(flat("institution", r, r["institution"], None) for r in report["institutions"]),
        *(flat("visitor", r, r["institution"], r["visitor"]) for r in report["visitors"]),
    ]


def to_csv(report: dict[str, Any]) -> bytes:
    """One table, UTF-8 with a BOM (Excel opens it as UTF-8), header of :data:`COLUMNS` keys."""
    return csv_bytes([key for key, _label in COLUMNS], flat_rows(report))


def to_xlsx(report: dict[str, Any]) -> bytes:
    """A workbook: ``汇总`` (the programme, the time and the totals), ``机构`` and ``走访人``
    (a header row of labels, one row each); numbers are numbers, the share a percentage."""
    from openpyxl import Workbook

    labels = dict(COLUMNS)
    rows = flat_rows(report)
    keys = [key for key, _label in COLUMNS]
    share = keys.index("visited_share")
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    programme = report["programme"]
    summary.append(["项目", programme["code"], programme["name"]])
    summary.append(["统计时间", report["as_of"].isoformat(timespec="seconds")])
    summary.append([])
    summary.append(["指标", "合计"])
    bold_row(summary, 4)
    for key, value in zip(keys[4:], rows[0][4:], strict=True):
        summary.append([labels[key], value])
        if key == "visited_share":
            summary.cell(row=summary.max_row, column=2).number_format = "0.00%"
    summary.column_dimensions["A"].width = 22
    for level, skip in (("institution", ("level", "visitor")), ("visitor", ("level",))):
        sheet = book.create_sheet(LEVELS[level])
        columns = [i for i, key in enumerate(keys) if key not in skip]
        sheet.append([labels[keys[i]] for i in columns])
        bold_row(sheet, 1)
        for row in rows:
            if row[0] == level:
                sheet.append([row[i] for i in columns])
        column = columns.index(share) + 1
        for r in range(2, sheet.max_row + 1):
            sheet.cell(row=r, column=column).number_format = "0.00%"
        sheet.freeze_panes = "A2"
    return workbook_bytes(book)


def export(principal: Principal, programme_id: int, fmt: str) -> tuple[bytes, str, str]:
    """The progress as ``csv`` or ``xlsx``: ``(body, filename, mimetype)``; audited
    (``progress_export`` with the programme and the format)."""
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(
            "format: one of csv, xlsx.",
            details={"fields": {"format": ["Must be one of: csv, xlsx."]}},
        )
    report = progress(principal, programme_id)
    programme = report["programme"]
    if fmt == "csv":
        body, mimetype = to_csv(report), "text/csv"
    else:
        body, mimetype = to_xlsx(report), XLSX_TYPE
    safe = safe_name(programme["code"], "programme")
    filename = f"progress-{safe}-{report['as_of'].date().isoformat()}.{fmt}"
    audit.record(
        "progress_export",
        "outreach_programme",
        programme["id"],
        {"programme": programme["code"], "format": fmt, "rows": len(flat_rows(report))},
    )
    return body, filename, mimetype
