"""The cases report of an area (事件统计): by level and by category, a hexbin for the map, and
its CSV / XLSX exports.

Who: the station and above (admins), over an area in their scope (404 otherwise); department
contacts and workers 403. Which cases: ``kind = case`` in the caller's scope, in the area's
subtree, **received** (``created_at``) from the local day ``from`` to the local day ``to``
inclusive (the area's time zone; default: the last 30 days to today). Every figure is over
those cases (a cohort), read now.

Figures of a row (``ROW``):

- ``received``: the cases; ``settled``: per level, the cases settled there — a closed case
  counts at its ``closed_level``; a settled or verified one at the level of its latest
  ``settle`` event (else its current level); cancelled cases never count; ``settled_total``
  their sum; ``settled_in_cell_share``: settled in the cell / settled_total
  (小问题不出网格), 4 decimals.
- ``escalated``: cases escalated at least once (``escalations > 0``); ``escalations``: their
  ``escalate`` events.
- ``overdue``: pending now (open or accepted), past the level's due time, not paused
  (:func:`gridserve.services.cases.lists.overdue`).
- ``closed`` and ``median_close_hours``: the median over the closed cases of ``closed_at −
  created_at − paused_seconds``, in hours (2 decimals; None when none closed), computed in
  Python over the durations fetched in the same query: the same on every backend.
- ``ratings``: ``satisfied`` (1), ``fairly`` (2, 基本满意), ``unsatisfied`` (3); ``rated``;
  ``satisfied_share``: (satisfied + fairly) / rated (满意率), 4 decimals.

Rows: ``totals``; ``categories`` (one per category with cases, by position); ``levels`` (one
per level): a case counts in the row of the level it is at now for ``received`` and
``overdue``, of the level it was settled or closed at for ``settled``, ``closed``, the median
and the ratings, and of the level it was escalated **from** for ``escalated`` and
``escalations``.

Hexbin: the cases with a point, projected to a local transverse Mercator around the area
(:func:`geo.projection.local_crs`), binned in hexagons ``hex_m`` metres across
(:mod:`geo.hexbin`, default 250, 50..5000), each hexagon back in WGS84 as a GeoJSON polygon
with its ``count``.

Speed: one query for the cases, one for their settle/escalate events, one for the labels.
No Flask request in here and no commits: the request boundary commits (the export's audit
entry).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import MultiPoint, Polygon
from sqlalchemy import case, func, select

from geo import hexbin
from geo.projection import WGS84, local_crs, transform
from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import ValidationFailed
from gridserve.exports import XLSX_TYPE, bold_row, csv_bytes, safe_name, share_of, workbook_bytes
from gridserve.extensions import db
from gridserve.models import Area, CaseCategory, Task, TaskEvent
from gridserve.models.cases.categories import CASE_LEVELS
from gridserve.scope import Principal, get_visible, in_area, visible
from gridserve.services.cases.lists import overdue
from gridserve.services.geography.areas import zone_of
from gridserve.spatial import to_shapely

READERS = ("station", "street_centre", "district_centre")
FORMATS = ("json", "csv", "xlsx")
DEFAULT_DAYS = 30
HEX_M = 250
HEX_RANGE = (50, 5000)
RATINGS = {1: "satisfied", 2: "fairly", 3: "unsatisfied"}
LEVEL_NAMES = {"cell": "网格", "community": "社区", "street": "街道", "district": "区"}
# The export's columns: (key, label); ``settled_<level>`` and ``rating_<name>`` flattened.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("table", "表"),
    ("key", "层级/类别代码"),
    ("name", "名称"),
    ("received", "受理数"),
    *((f"settled_{lv}", f"{LEVEL_NAMES[lv]}办结") for lv in CASE_LEVELS),
    ("settled_total", "办结数"),
    ("settled_in_cell_share", "小问题不出网格"),
    ("escalated", "上报事件数"),
    ("escalations", "上报次数"),
    ("overdue", "当前超期"),
    ("closed", "已结案"),
    ("median_close_hours", "结案用时中位数(小时)"),
    *((f"rating_{n}", label) for n, label in
      (("satisfied", "满意"), ("fairly", "基本满意"), ("unsatisfied", "不满意"))),
    ("rated", "已评价"),
    ("satisfied_share", "满意率"),
)  # fmt: skip
SHARES = ("settled_in_cell_share", "satisfied_share")
TABLES = {"total": "合计", "level": "按层级", "category": "按类别"}


@dataclass
class Tally:
    """The figures of one row while they are summed up."""

    received: int = 0
    settled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CASE_LEVELS, 0))
    escalated: int = 0
    escalations: int = 0
    overdue: int = 0
    hours: list[float] = field(default_factory=list)
    ratings: dict[int, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))

    def row(self) -> dict[str, Any]:
        settled_total = sum(self.settled.values())
        rated = sum(self.ratings.values())
        median = round(statistics.median(self.hours), 2) if self.hours else None
        return {
            "received": self.received,
            "settled": dict(self.settled),
            "settled_total": settled_total,
            "settled_in_cell_share": share_of(self.settled["cell"], settled_total),
            "escalated": self.escalated,
            "escalations": self.escalations,
            "overdue": self.overdue,
            "closed": len(self.hours),
            "median_close_hours": median,
            "ratings": {RATINGS[k]: n for k, n in self.ratings.items()},
            "rated": rated,
            "satisfied_share": share_of(self.ratings[1] + self.ratings[2], rated),
        }


def _window(area: Area, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    zone = zone_of(area.id)
    end = end or utcnow().astimezone(zone).date()
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "from is after to.", details={"fields": {"from": ["Must not be after to."]}}
        )
    return start, end


def _cases(principal: Principal, area: Area, start: dt.date, end: dt.date) -> Any:
    zone = zone_of(area.id)
    lo = dt.datetime.combine(start, dt.time(), tzinfo=zone)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return (
        visible(Task, principal)
        .where(Task.kind == "case", in_area(Task.area_id, area))
        .where(Task.created_at >= lo, Task.created_at < hi)
    )


def _hexbin(points: list[tuple[float, float]], area: Area, size_m: float) -> dict[str, Any]:
    """The cases' points binned in hexagons ``size_m`` across, as a GeoJSON FeatureCollection."""
    if not points:
        return {"type": "FeatureCollection", "features": []}
    anchor = to_shapely(area.geom).centroid if area.geom is not None else MultiPoint(points)
    if anchor.geom_type != "Point":
        anchor = anchor.centroid
    crs = local_crs(anchor.x, anchor.y)
    metric = transform(MultiPoint(points), WGS84, crs)
    counts = hexbin.bin_points(((p.x, p.y) for p in metric.geoms), size_m)
    features = []
    for (q, r), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ring = transform(Polygon(hexbin.corners(q, r, size_m)), crs, WGS84)
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring.exterior.coords]],
                },
                "properties": {"q": q, "r": r, "count": n},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def report(
    principal: Principal,
    area_id: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    hex_m: float = HEX_M,
) -> dict[str, Any]:
    """The cases report (see the module docstring): ``{area, from, to, as_of, hex_m, totals,
    levels, categories, hexbin}``."""
    principal.require(*READERS)
    if area_id is None:
        if principal.area_id is None:
            raise ValidationFailed(
                "Say which area.", details={"fields": {"area": ["Required for your account."]}}
            )
        area_id = principal.area_id
    area = get_visible(Area, area_id, principal)
    if not HEX_RANGE[0] <= hex_m <= HEX_RANGE[1]:
        raise ValidationFailed(
            "hex_m is out of range.",
            details={"fields": {"hex_m": [f"Between {HEX_RANGE[0]} and {HEX_RANGE[1]} metres."]}},
        )
    start, end = _window(area, start, end)
    now = utcnow()
    cohort = _cases(principal, area, start, end)
    rows = db.session.execute(
        cohort.with_only_columns(
            Task.id, Task.category_id, Task.level, Task.status, Task.closed_level,
            Task.escalations, Task.created_at, Task.closed_at, Task.paused_seconds,
            Task.rating, Task.geom, case((overdue(now), 1), else_=0).label("late"),
        )
    ).all()  # fmt: skip
    ids = cohort.with_only_columns(Task.id).scalar_subquery()
    events = db.session.execute(
        select(TaskEvent.task_id, TaskEvent.action, TaskEvent.from_level, TaskEvent.to_level)
        .where(TaskEvent.task_id.in_(ids), TaskEvent.action.in_(("settle", "escalate")))
        .order_by(TaskEvent.id)
    ).all()
    settled_at: dict[int, str] = {}
    escalated_from: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in events:
        if e.action == "settle" and (e.to_level or e.from_level):
            settled_at[e.task_id] = e.to_level or e.from_level
        elif e.action == "escalate" and e.from_level:
            escalated_from[e.task_id][e.from_level] += 1

    totals = Tally()
    by_level = {lv: Tally() for lv in CASE_LEVELS}
    by_category: dict[int | None, Tally] = defaultdict(Tally)
    points = []
    for c in rows:
        settled_level = None
        if c.status == "closed":
            settled_level = c.closed_level or settled_at.get(c.id) or c.level
        elif c.status in ("settled", "verified"):
            settled_level = settled_at.get(c.id) or c.level
        hours = None
        if c.status == "closed" and c.closed_at is not None:
            seconds = (c.closed_at - c.created_at).total_seconds() - (c.paused_seconds or 0)
            hours = max(seconds, 0) / 3600
        events_of = escalated_from.get(c.id, {})
        for tally in (totals, by_category[c.category_id]):
            tally.received += 1
            tally.overdue += c.late
            tally.escalated += 1 if c.escalations else 0
            tally.escalations += sum(events_of.values())
            if settled_level in tally.settled:
                tally.settled[settled_level] += 1
            if hours is not None:
                tally.hours.append(hours)
            if c.rating in RATINGS:
                tally.ratings[c.rating] += 1
        here = by_level.get(c.level)
        if here is not None:
            here.received += 1
            here.overdue += c.late
        there = by_level.get(settled_level)
        if there is not None:
            there.settled[settled_level] += 1
            if hours is not None:
                there.hours.append(hours)
            if c.rating in RATINGS:
                there.ratings[c.rating] += 1
        for level, n in events_of.items():
            if level in by_level:
                by_level[level].escalated += 1
                by_level[level].escalations += n
        if c.geom is not None:
            p = to_shapely(c.geom)
            points.append((p.x, p.y))

    labels = dict(
        (r.id, (r.code, r.name, r.position))
        for r in db.session.execute(
            select(CaseCategory.id, CaseCategory.code, CaseCategory.name, CaseCategory.position)
        )
    )
    known = sorted((cid for cid in by_category if cid in labels), key=lambda c: labels[c][::-1])
    categories = [
        {"category": labels[cid][0], "name": labels[cid][1], **by_category[cid].row()}
        for cid in known
    ]
    if None in by_category:
        categories.append({"category": None, "name": "未分类", **by_category[None].row()})
    zone = zone_of(area.id)
    return {
        "area": {"id": area.id, "code": area.code, "name": area.name},
        "from": start,
        "to": end,
        "as_of": now.astimezone(zone),
        "hex_m": hex_m,
        "totals": totals.row(),
        "levels": [{"level": lv, **by_level[lv].row()} for lv in CASE_LEVELS],
        "categories": categories,
        "hexbin": _hexbin(points, area, hex_m),
    }


OUTCOMES = ("closed", "cancelled", "verified", "settled", "pending")


def outcomes(principal: Principal, area_id: int, start: dt.date, end: dt.date) -> dict[str, int]:
    """How the report's cohort (the cases received from ``start`` to ``end``) stands now:
    ``closed``, ``cancelled``, ``verified``, ``settled`` and ``pending`` (open or accepted),
    in one grouped statement (the monthly report's "how they ended")."""
    principal.require(*READERS)
    area = get_visible(Area, area_id, principal)
    cohort = _cases(principal, area, start, end)
    found = dict(
        db.session.execute(
            cohort.with_only_columns(Task.status, func.count()).group_by(Task.status)
        ).all()
    )
    out = {name: int(found.pop(name, 0)) for name in OUTCOMES if name != "pending"}
    out["pending"] = int(sum(found.values()))
    return out


# --- exports ---------------------------------------------------------------------------------


def flat_rows(rep: dict[str, Any]) -> list[list[Any]]:
    """Every row of the report in :data:`COLUMNS` order: total, levels, categories."""

    def flat(table: str, key: str | None, name: str | None, row: dict[str, Any]) -> list[Any]:
        values = {
            "table": table,
            "key": key,
            "name": name,
            **{f"settled_{lv}": n for lv, n in row["settled"].items()},
            **{f"rating_{k}": n for k, n in row["ratings"].items()},
            **{k: v for k, v in row.items() if k not in ("settled", "ratings")},
        }
        return [values[k] for k, _label in COLUMNS]

    return [
        flat("total", None, rep["area"]["name"], rep["totals"]),
        *(flat("level", r["level"], LEVEL_NAMES[r["level"]], r) for r in rep["levels"]),
        *(flat("category", r["category"], r["name"], r) for r in rep["categories"]),
    ]


def to_csv(rep: dict[str, Any]) -> bytes:
    """One table (UTF-8 with BOM) with a ``table`` column (total/level/category)."""
    return csv_bytes([k for k, _label in COLUMNS], flat_rows(rep))


def to_xlsx(rep: dict[str, Any]) -> bytes:
    """Sheets ``汇总`` (area, window, time, the totals), ``按层级``, ``按类别`` and ``热力格``
    (the hexbin's cells: q, r, centre, count); shares as percentages."""
    from openpyxl import Workbook

    labels = dict(COLUMNS)
    keys = [k for k, _label in COLUMNS]
    rows = flat_rows(rep)
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    summary.append(["区域", rep["area"]["code"], rep["area"]["name"]])
    summary.append(["受理日期", rep["from"].isoformat(), rep["to"].isoformat()])
    summary.append(["统计时间", rep["as_of"].isoformat(timespec="seconds")])
    summary.append([])
    summary.append(["指标", "合计"])
    bold_row(summary, 5)
    for key, value in zip(keys[3:], rows[0][3:], strict=True):
        summary.append([labels[key], value])
        if key in SHARES:
            summary.cell(row=summary.max_row, column=2).number_format = "0.00%"
    summary.column_dimensions["A"].width = 24
    for table in ("level", "category"):
        sheet = book.create_sheet(TABLES[table])
        sheet.append([labels[k] for k in keys[1:]])
        bold_row(sheet, 1)
        for row in rows:
            if row[0] == table:
                sheet.append(row[1:])
        for key in SHARES:
            column = keys.index(key)
            for r in range(2, sheet.max_row + 1):
                sheet.cell(row=r, column=column).number_format = "0.00%"
        sheet.freeze_panes = "B2"
    cells = book.create_sheet("热力格")
    cells.append(["q", "r", "中心经度", "中心纬度", "事件数"])
    bold_row(cells, 1)
    for f in rep["hexbin"]["features"]:
        ring = Polygon(f["geometry"]["coordinates"][0])
        c = ring.centroid
        props = f["properties"]
        cells.append([props["q"], props["r"], round(c.x, 6), round(c.y, 6), props["count"]])
    return workbook_bytes(book)


def export(
    principal: Principal,
    fmt: str,
    area_id: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    hex_m: float = HEX_M,
) -> tuple[bytes, str, str]:
    """The report as ``csv`` or ``xlsx``: ``(body, filename, mimetype)``; audited
    (``case_report_export`` with the area, the window and the format)."""
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(
            "format: one of csv, xlsx.",
            details={"fields": {"format": ["Must be one of: csv, xlsx."]}},
        )
    rep = report(principal, area_id, start, end, hex_m)
    body, mimetype = (to_csv(rep), "text/csv") if fmt == "csv" else (to_xlsx(rep), XLSX_TYPE)
    area = rep["area"]
    filename = (
        f"cases-{safe_name(area['code'], 'area')}-{rep['from'].isoformat()}"
        f"-{rep['to'].isoformat()}.{fmt}"
    )
    audit.record(
        "case_report_export",
        "area",
        area["id"],
        {"area": area["code"], "from": rep["from"].isoformat(), "to": rep["to"].isoformat(),
         "format": fmt, "received": rep["totals"]["received"]},
    )  # fmt: skip
    return body, filename, mimetype
