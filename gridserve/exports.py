"""What the CSV / XLSX exports share: shares rounded like SQL, a CSV Excel opens as UTF-8, a
workbook's header row, safe file names.

No Flask request in here; the API's side (the attachment response) is ``api.common.attachment``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def share_of(part: int, whole: int) -> float:
    """``part / whole`` rounded half up to 4 decimals (as SQL's ``round(numeric, 4)`` does,
    so an export or a hand-written query agrees to the last digit); 0 when ``whole`` is 0."""
    if not whole:
        return 0
    return (part * 20000 + whole) // (2 * whole) / 10000


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One table, UTF-8 with a BOM (Excel opens it as UTF-8), CRLF lines; None is empty."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode("utf-8")


def bold_row(sheet: Any, row: int) -> None:
    """Set row ``row`` of an openpyxl sheet in bold (a header)."""
    from openpyxl.styles import Font

    bold = Font(bold=True)
    for cell in sheet[row]:
        cell.font = bold


def workbook_bytes(book: Any) -> bytes:
    """An openpyxl workbook saved to bytes."""
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def safe_name(text: str, fallback: str) -> str:
    """``text`` reduced to ``[A-Za-z0-9_.-]`` for a file name (``fallback`` when nothing is
    left)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or fallback
