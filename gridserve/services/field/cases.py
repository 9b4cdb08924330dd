"""Cases reported offline: the upload's ``type: "case"`` items, stored as tasks once per UUID.

Each item becomes what ``POST /tasks`` with a ``uuid`` makes for the worker's terminal (a task
of kind ``case``, assigned to the reporter, ``source`` terminal) through case intake
(:func:`gridserve.services.cases.intake.receive`: its category, level and deadline),
and is answered per item like a visit: ``created``, ``duplicate`` (the same report again),
``conflict`` (``uuid_taken``: other content under that UUID; the stored task is kept) or
``rejected`` with the reason (``unknown_place``, ``outside_coverage``, ``outside_area``,
``unknown_category``, ...). A rejected item
leaves nothing behind: everything it is checked against is read before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gridserve.errors import AppError, NotFound
from gridserve.scope import Principal
from gridserve.services.cases.intake import receive


@dataclass
class CaseOutcome:
    status: str  # created | duplicate | conflict | rejected
    code: str | None = None
    errors: dict[str, Any] | None = None
    version: int | None = None
    task_id: int | None = None


def _as_task(item: dict[str, Any]) -> dict[str, Any]:
    """A checked case item as the body ``POST /tasks`` takes for a terminal."""
    data = {
        "kind": "case",
        "uuid": item["uuid"],
        "title": item["title"],
        "details": item.get("details") or "",
        "priority": item.get("priority") or "normal",
        "attachments": item.get("attachments") or [],
        "observed_at": item.get("observed_at"),
    }
    if item.get("place_id") is not None:
        data["place_id"] = item["place_id"]
    if item.get("location") is not None:
        data["location"] = item["location"]
    if item.get("category") is not None:
        data["category"] = item["category"]
    return data


def store(principal: Principal, items: list[dict[str, Any]], today: dt.date) -> list[CaseOutcome]:
    """Store each checked case item for the worker ``principal``; one outcome per item."""
    outcomes = []
    for item in items:
        try:
            task, created = receive(principal, _as_task(item), today, source="terminal")
        except NotFound:
            outcomes.append(CaseOutcome("rejected", "unknown_place",
                                        {"place_id": ["No such place in your area."]}))  # fmt: skip
            continue
        except AppError as exc:
            if exc.code == "uuid_taken":
                kept = ["A different record is stored under this UUID; it is kept."]
                outcomes.append(CaseOutcome("conflict", exc.code, {"uuid": kept}))
                continue
            if exc.status != 422:
                raise  # not about this item (the worker is not active, ...): the whole batch
            errors = exc.details.get("fields") or {"_schema": [exc.message]}
            outcomes.append(CaseOutcome("rejected", exc.code, errors))
            continue
        outcomes.append(
            CaseOutcome("created" if created else "duplicate", version=task.version,
                        task_id=task.id)
        )  # fmt: skip
    return outcomes
