"""The monthly report as CSV (one section), XLSX (a summary sheet, a sheet per section, native
charts: XlsxWriter) and HTML (one self-contained printable page in Chinese: inline CSS, the
charts as inline SVG drawn here; no script, font, image or link from anywhere, so the app's
CSP — which hashes the page's own ``<style>`` block — lets it render as is).

Everything works from the report's JSON (:func:`gridserve.services.assessment.monthly.build`),
so a kept report renders exactly like a live one.
"""

from __future__ import annotations

import html
import io
from typing import Any

from gridserve import audit
from gridserve.errors import ValidationFailed
from gridserve.exports import XLSX_TYPE, csv_bytes, safe_name
from gridserve.services.assessment.monthly import KIND_NAMES, SECTIONS, WINDOW_NAMES
from gridserve.services.cases import reports as case_reports

Table = tuple[str, list[str], list[list[Any]]]  # (title, header, rows)
STATUS_NAMES = {"planned": "已计划", "approved": "已批准", "held": "已举办", "reported": "已总结",
                "cancelled": "已取消"}  # fmt: skip
OUTCOME_NAMES = {"closed": "已结案", "cancelled": "已撤销", "verified": "已核查",
                 "settled": "已办结待核查", "pending": "办理中"}  # fmt: skip
HOUSEHOLD_NAMES = {
    "household_places": "住户点位数", "registered": "登记户数",
    "registered_in_month": "本月新登记", "with_door_number": "有门牌号",
    "with_members": "有成员信息", "with_work_units": "成员工作单位齐全",
    "complete": "信息完整户数", "completeness_share": "户籍信息完整率",
}  # fmt: skip
SHARE_NAMES = ("completeness_share", "patrolled_share", "coverage_share", "covered_share")


def tables(data: dict[str, Any]) -> dict[str, Table]:
    """Every section as one table (the CSV, the sheets and the HTML tables)."""
    pat, cases = data["patrols"], data["cases"]
    case_cols = case_reports.COLUMNS
    return {
        "summary": (
            "汇总",
            ["指标", "代码", "本月", "上月", "变化"],
            [[s["label"], s["key"], s["value"], s["previous"], s["change"]]
             for s in data["summary"]],
        ),
        "patrols": (
            "巡逻与覆盖",
            ["日期", "巡逻次数", "在岗网格数", "有巡逻网格数", "三时段全覆盖网格数"],
            [[d["day"], d["patrols"], d["cells"], d["patrolled"], d["covered"]]
             for d in pat["days"]]
            + [["合计", pat["patrols"], pat["cell_days"], pat["patrolled"], pat["covered"]]],
        ),
        "visits": (
            "走访",
            ["类型", "代码", "次数"],
            [[KIND_NAMES.get(k, k), k, n] for k, n in data["visits"]["by_kind"].items()]
            + [["合计", "total", data["visits"]["total"]]],
        ),
        "households": (
            "住户登记",
            ["指标", "代码", "数值"],
            [[HOUSEHOLD_NAMES.get(k, k), k, v] for k, v in data["households"].items()],
        ),
        "cases": (
            "事件",
            [label for _key, label in case_cols],
            case_reports.flat_rows(cases),
        ),
        "case_outcomes": (
            "事件办理结果",
            ["结果", "代码", "件数"],
            [[OUTCOME_NAMES.get(k, k), k, n] for k, n in cases["outcomes"].items()],
        ),
        "sms": (
            "短信",
            ["活动代码", "活动名称", "发送数", "送达数", "失败数"],
            [[c["code"], c["name"], c["sent"], c["delivered"], c["failed"]]
             for c in data["sms"]["campaigns"]]
            + [["合计", "", data["sms"]["sent"],
                sum(c["delivered"] for c in data["sms"]["campaigns"]),
                sum(c["failed"] for c in data["sms"]["campaigns"])]],
        ),
        "outreach": (
            "宣传活动",
            ["活动", "类型", "开始时间", "区域", "状态", "总结数", "逾期总结", "参与人数",
             "发放资料", "咨询人数"],
            [[e["title"], e["kind"], e["starts_at"], e["area"],
              STATUS_NAMES.get(e["status"], e["status"]), e["reports"], e["late"],
              e["participants"], e["materials"], e["consultations"]]
             for e in data["outreach"]["list"]],
        ),
        "vacant": (
            "空缺网格",
            ["网格编码", "社区", "工作量", "点位数"],
            [[c["code"], c["community"], c["workload"], c["place_count"]]
             for c in data["vacant"]["cells"]],
        ),
    }  # fmt: skip


def filename(data: dict[str, Any], ext: str, section: str | None = None) -> str:
    area = safe_name(data["area"]["code"], "area")
    period = data.get("month") or data.get("day")
    return f"monthly-{area}-{period}{'-' + section if section else ''}.{ext}"


def check_format(fmt: str | None, section: str | None) -> None:
    """422 ``section`` for a CSV without a (known) section: before anything is computed."""
    if fmt == "csv" and section not in SECTIONS:
        raise ValidationFailed(
            "CSV is one section: say which.",
            details={"fields": {"section": [f"One of: {', '.join(SECTIONS)}."]}},
        )


def to_csv(data: dict[str, Any], section: str | None) -> bytes:
    """One section as CSV (UTF-8 with BOM); 422 ``section`` without one."""
    check_format("csv", section)
    _title, header, rows = tables(data)[section]
    return csv_bytes(header, rows)


# --- XLSX ------------------------------------------------------------------------------------


def to_xlsx(data: dict[str, Any]) -> bytes:
    """Sheet ``汇总`` (the area, the month, the headline figures against the previous month,
    with a chart), then one sheet per section; charts on patrols (per day), visits (by kind),
    cases (by category) and SMS (by campaign)."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.00%"})
    title = book.add_format({"bold": True, "font_size": 14})
    sheets = tables(data)
    names: dict[str, str] = {}
    for key, (name, header, rows) in sheets.items():
        sheet = book.add_worksheet(name)
        names[key] = name
        first = 0
        if key == "summary":
            area = data["area"]
            sheet.write(0, 0, f"{area['name']}网格月报 {data['month']}", title)
            sheet.write_row(1, 0, ["区域", area["code"], area["name"]])
            sheet.write_row(2, 0, ["统计区间", data["from"], data["to"]])
            sheet.write_row(
                3, 0, ["统计时间", data["as_of"], "" if data["complete"] else "本月未完"]
            )
            first = 5
        sheet.write_row(first, 0, header, bold)
        for i, row in enumerate(rows, start=first + 1):
            for j, value in enumerate(row):
                share = key == "summary" and row[1] in SHARE_NAMES and j >= 2
                share = share or (key == "households" and row[1] in SHARE_NAMES and j == 2)
                if share and isinstance(value, int | float):
                    sheet.write_number(i, j, value, percent)
                else:
                    sheet.write(i, j, value)
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, len(header), 12)
        sheet.freeze_panes(first + 1, 0)
        _chart(book, sheet, key, name, first, rows, len(header), data)
    book.close()
    return out.getvalue()


def _chart(book: Any, sheet: Any, key: str, name: str, first: int, rows: list, width: int,
           data: dict[str, Any]) -> None:  # fmt: skip
    """A native chart next to a section's table (rows ``first+1``..)."""
    count = len(rows)
    top, at = first + 1, f"{chr(ord('A') + width + 1)}2"
    if key == "patrols" and count > 1:
        chart = book.add_chart({"type": "column"})
        for col, label in ((1, "巡逻次数"), (3, "有巡逻网格数"), (4, "三时段全覆盖网格数")):
            chart.add_series({
                "name": label,
                "categories": [name, top, 0, top + count - 2, 0],
                "values": [name, top, col, top + count - 2, col],
            })  # fmt: skip
        chart.set_title({"name": "每日巡逻"})
    elif key == "visits":
        chart = book.add_chart({"type": "column"})
        chart.add_series({"name": "走访次数", "categories": [name, top, 0, top + count - 2, 0],
                          "values": [name, top, 2, top + count - 2, 2]})  # fmt: skip
        chart.set_title({"name": "走访（按类型）"})
    elif key == "cases" and count > 1:
        cats = [i for i, r in enumerate(rows) if r[0] == "category"]
        if not cats:
            return
        lo, hi = top + cats[0], top + cats[-1]
        chart = book.add_chart({"type": "bar"})
        chart.add_series({"name": "受理数", "categories": [name, lo, 2, hi, 2],
                          "values": [name, lo, 3, hi, 3]})  # fmt: skip
        chart.set_title({"name": "事件（按类别）"})
    elif key == "sms" and count > 1:
        chart = book.add_chart({"type": "bar"})
        chart.add_series({"name": "发送数", "categories": [name, top, 1, top + count - 2, 1],
                          "values": [name, top, 2, top + count - 2, 2]})  # fmt: skip
        chart.set_title({"name": "短信（按活动）"})
    elif key == "case_outcomes":
        chart = book.add_chart({"type": "pie"})
        chart.add_series({"name": "办理结果", "categories": [name, top, 0, top + count - 1, 0],
                          "values": [name, top, 2, top + count - 1, 2]})  # fmt: skip
        chart.set_title({"name": "事件办理结果"})
    else:
        return
    chart.set_legend({"position": "bottom"})
    sheet.insert_chart(at, chart)


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:24px;
color:#222;font-size:13px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #2b6cb0;
padding-bottom:2px;margin-top:28px}
.meta{color:#555;margin-bottom:12px}
table{border-collapse:collapse;margin:8px 0;min-width:50%}
th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}
th{background:#edf2f7}td:first-child,th:first-child{text-align:left}
.up{color:#276749}.down{color:#c53030}
svg{display:block;margin:8px 0}
section{page-break-inside:avoid}
@media print{body{margin:10mm}h2{page-break-after:avoid}}
"""


def _e(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def svg_bars(title: str, items: list[tuple[str, float]], width: int = 560) -> str:
    """A horizontal bar chart as inline SVG (presentation attributes only: no style)."""
    if not items:
        return ""
    bar, gap, label_w = 18, 6, 150
    height = 28 + len(items) * (bar + gap)
    top = max((v for _k, v in items), default=0) or 1
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    span = width - label_w - 60
    for i, (label, value) in enumerate(items):
        y = 26 + i * (bar + gap)
        w = round(span * (value or 0) / top, 1)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{html.escape(str(label))}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar}" fill="#3182ce"/>'
            f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{_e(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_columns(title: str, items: list[tuple[str, float]], width: int = 680) -> str:
    """A column chart (one column per item, e.g. per day) as inline SVG."""
    if not items:
        return ""
    height, base, left = 200, 170, 30
    top = max((v for _k, v in items), default=0) or 1
    step = (width - left) / len(items)
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{base}" x2="{width}" y2="{base}" stroke="#888"/>',
        f'<text x="{left - 4}" y="30" font-size="10" text-anchor="end">{_e(top)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        h = round(140 * (value or 0) / top, 1)
        x = round(left + i * step + step * 0.15, 1)
        parts.append(
            f'<rect x="{x}" y="{round(base - h, 1)}" width="{round(step * 0.7, 1)}" '
            f'height="{h}" fill="#3182ce"><title>{html.escape(str(label))}: {_e(value)}</title>'
            "</rect>"
        )
        if len(items) <= 12 or i % 5 == 0:
            parts.append(
                f'<text x="{round(x + step * 0.35, 1)}" y="{base + 14}" font-size="10" '
                f'text-anchor="middle">{html.escape(str(label))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _charts(key: str, data: dict[str, Any]) -> str:
    if key == "patrols":
        return svg_columns(
            "每日巡逻次数", [(d["day"][8:], d["patrols"]) for d in data["patrols"]["days"]]
        ) + svg_bars(
            "各时段巡逻网格日",
            [(WINDOW_NAMES[k], v) for k, v in data["patrols"]["windows"].items()],
        )
    if key == "visits":
        return svg_bars(
            "走访（按类型）",
            [(KIND_NAMES.get(k, k), v) for k, v in data["visits"]["by_kind"].items()],
        )
    if key == "cases":
        return svg_bars(
            "事件（按类别）", [(c["name"], c["received"]) for c in data["cases"]["categories"]]
        )
    if key == "case_outcomes":
        return svg_bars(
            "事件办理结果",
            [(OUTCOME_NAMES.get(k, k), v) for k, v in data["cases"]["outcomes"].items()],
        )
    if key == "sms":
        return svg_bars(
            "短信（按活动）", [(c["name"], c["sent"]) for c in data["sms"]["campaigns"]]
        )
    return ""


def to_html(data: dict[str, Any]) -> bytes:
    """The printable page (see the module docstring)."""
    area = data["area"]
    head = f"{area['name']}网格月报（{data['month']}）"
    meta = (
        f"区域 {_e(area['code'])} · 统计区间 {_e(data['from'])} 至 {_e(data['to'])} · "
        f"统计时间 {_e(data['as_of'])}" + ("" if data["complete"] else " · 本月尚未结束")
    )
    body = []
    for key, (name, header, rows) in tables(data).items():
        if key == "summary":
            head_row = "".join(f"<th>{h}</th>" for h in ("指标", "本月", "上月", "变化"))
            lines = "".join(
                f"<tr><td>{_e(r[0])}</td><td>{_pct(r[2], r[1])}</td><td>{_pct(r[3], r[1])}</td>"
                f"{_change(r[4], r[1] in SHARE_NAMES)}</tr>"
                for r in rows
            )
            table = f"<table><thead><tr>{head_row}</tr></thead><tbody>{lines}</tbody></table>"
        elif key == "households":
            table = _table(header, [[r[0], r[1], _Raw(_pct(r[2], r[1]))] for r in rows])
        else:
            table = _table(header, rows) if rows else "<p>本月无记录。</p>"
        body.append(
            f'<section id="{key}"><h2>{html.escape(name)}</h2>{_charts(key, data)}{table}</section>'
        )
    page = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(head)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{html.escape(head)}</h1><div class="meta">{meta}</div>{"".join(body)}'
        "</body></html>"
    )
    return page.encode("utf-8")


class _Raw(str):
    """Markup already escaped (a table cell's content)."""


def _pct(value: Any, key: str) -> str:
    """A share as a percentage (2 decimals), anything else as :func:`_e` shows it."""
    if key in SHARE_NAMES and isinstance(value, int | float):
        return f"{value * 100:.2f}%"
    return _e(value)


def _change(value: Any, share: bool = False) -> str:
    if value is None:
        return "<td>—</td>"
    shown = f"{value * 100:+.2f} 个百分点" if share else f"{value:+}"
    if value > 0:
        return f'<td class="up">{html.escape(shown)}</td>'
    if value < 0:
        return f'<td class="down">{html.escape(shown)}</td>'
    return "<td>0</td>"


def export(data: dict[str, Any], fmt: str, section: str | None = None) -> tuple[bytes, str, str]:
    """:func:`render`, audited (``monthly_report_export``: the area, the month, the format,
    the section, the kept report's id)."""
    out = render(data, fmt, section)
    audit.record(
        "monthly_report_export",
        "area",
        data["area"]["id"],
        {"area": data["area"]["code"], "month": data.get("month"), "format": fmt,
         "section": section, "archive": (data.get("archive") or {}).get("id")},
    )  # fmt: skip
    return out


def render(data: dict[str, Any], fmt: str, section: str | None = None) -> tuple[bytes, str, str]:
    """``(body, filename, mimetype)`` of ``data`` as ``xlsx``, ``html`` or ``csv``."""
    if fmt == "csv":
        return to_csv(data, section), filename(data, "csv", section), "text/csv"
    if fmt == "xlsx":
        return to_xlsx(data), filename(data, "xlsx"), XLSX_TYPE
    return to_html(data), filename(data, "html"), "text/html"
