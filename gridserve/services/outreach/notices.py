"""Change notices to an event's participants (如遇特殊情况变更则及时另行通知).

PLACEHOLDER for the notices helper: ``announce`` is the one entry point the event life cycle
calls when an approved event's time or venue changes, or when it is cancelled.
"""

from __future__ import annotations

from typing import Any

from gridserve.models import OutreachEvent, OutreachNotice
from gridserve.scope import Principal


def announce(
    principal: Principal, event: OutreachEvent, reason: str, changes: dict[str, Any]
) -> list[OutreachNotice]:
    """Tell the host, the lead and every co-organiser of ``event`` (one notice each, texted to
    their contacts with a mobile). ``reason``: ``changed`` or ``cancelled``; ``changes``:
    ``{field: {"from": old, "to": new}}`` in API terms (starts_at, ends_at, venue)."""
    raise NotImplementedError("notices.announce: written by the notices helper")
