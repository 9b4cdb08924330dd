"""Rotation plans: which sender sends when (错时发送, staggered to spare the SMS platform).

A :class:`RotationPlan` lists the senders in order and when to start; :func:`compute` turns it
into :class:`Slot` s (only slots that will send) plus ``events`` that say what happened and why
(for the audit log). Nothing here touches a clock, a database or the network.

Rules
-----
Send window
    Each sending day contributes the plan's window ``[start, end)`` in local time
    (``plan.timezone``). The window is first clipped to the complement of the deployment's
    quiet hours (``quiet``, default 21:00–08:00, may wrap midnight): no campaign can send in
    quiet hours. If nothing is left, :class:`ScheduleError` ``window_in_quiet_hours``. If the
    quiet hours cut the window in two (e.g. quiet 12:00–13:00), the longer part is used (the
    earlier one on a tie). A clipped window is reported by a ``window_clipped`` event.
Usable days
    A day is usable unless it is in ``blocked_days`` or, with ``working_days_only``, it is not a
    Chinese working day as :mod:`gridserve.workdays` says (the operator's calendar for the year,
    else ``chinese-calendar``: statutory holidays are off, the adjusted working weekends 调休
    are on). Each unusable day that the schedule passes over is reported once (``day_skipped``)
    and simply not used, whatever the policy: the next slot starts on the next usable day and
    everyone after moves along.
Unknown years
    A day whose year no calendar knows raises :class:`ScheduleError` ``calendar_unknown_year``
    by default. With ``unknown_years="stop"`` (the dispatcher, progress) the schedule stops
    there instead: the slots before it are kept, and ``Schedule.unknown_year`` and an event
    ``calendar_unknown_year`` name the year to load.
Slots
    A slot is the next ``slot_days`` usable days (a holiday inside a multi-day slot is stepped
    over and not listed in ``Slot.days``). It starts at the window start of its first day and
    ends at the window end of its last day; the sender sends only inside the window on each of
    ``Slot.days``. The next slot starts on the next usable day after the last one.
Rounds
    ``rounds=N`` goes through the order N times; ``rounds=None`` repeats until ``end``
    (required then). With ``end`` no slot may end after ``end``'s window end: a sender whose
    slot would not fit gets ``out_of_campaign`` (with ``rounds=None`` only for the round in
    progress; a round that would start after the campaign is not reported). With
    ``rotate_each_round`` round r+1's order is round r's *planned* order with the first sender
    moved to the end (ABC, BCA, CAB, ...); policy moves inside a round do not carry over.
Unavailable senders
    ``unavailable`` maps a sender to a reason (content not approved, channel down); by default
    the sender is unavailable for the whole computation, or, when ``available_from`` names a
    day for it, on slots starting before that day. Availability is judged on a slot's first day.

    ``shift``: the unavailable sender's slot goes to the next sender and everyone after moves
    one slot earlier; the sender sends nothing this round (event ``skipped``).

    ``skip_append``: the sender is moved to the end of this round's order (event ``deferred``)
    and tried again there; if it can send then, its slot has status ``"deferred"`` and a note
    saying why it moved; if it still cannot, it is dropped for the round (event ``dropped``).

    Example, order A B C D from Mon, one day each, B unavailable until Wed::

        shift        Mon A, Tue C, Wed D                (B skipped)
        skip_append  Mon A, Tue C, Wed D, Thu B         (B deferred, sends at the end)

    With B unavailable for good, ``skip_append`` gives Mon A, Tue C, Wed D and events
    ``deferred`` then ``dropped`` for B.

    A round in which nobody can send (event ``round_empty``) still uses up one usable day, so
    that a plan always ends; with ``rounds=None`` it stops there if no sender becomes available
    later.

Every event is a JSON-ready dict with at least ``kind`` and ``day`` (ISO date) and, as
relevant, ``sender``, ``round``, ``reason`` and ``policy``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridserve.workdays import UnknownYear, WorkingDays

Policy = Literal["skip_append", "shift"]
POLICIES: tuple[str, ...] = get_args(Policy)
DEFAULT_WINDOW: tuple[time, time] = (time(8, 0), time(21, 0))
DEFAULT_QUIET: tuple[time, time] = (time(21, 0), time(8, 0))

_DAY_US = 24 * 3600 * 1_000_000
_ONE_DAY = timedelta(days=1)


class ScheduleError(ValueError):
    """A plan that cannot be scheduled: ``code`` (stable, for the API), ``message``, ``details``."""

    def __init__(
        self, code: str, message: str = "", details: Mapping[str, Any] | None = None
    ) -> None:
        self.code = code
        self.message = message or code.replace("_", " ")
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(f"{code}: {self.message}")


@dataclass(frozen=True)
class RotationPlan:
    """A campaign's rotation, validated on construction (:class:`ScheduleError` if invalid).

    ``senders`` are sender keys in sending order (unique, non-empty strings); ``start`` is the
    first day that may be used; ``end`` the campaign's last day (inclusive). See the module
    docstring for the rules.
    """

    senders: tuple[str, ...]
    start: date
    slot_days: int = 1
    window: tuple[time, time] = DEFAULT_WINDOW
    working_days_only: bool = False
    rounds: int | None = 1
    end: date | None = None
    rotate_each_round: bool = False
    policy: Policy = "shift"
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        object.__setattr__(self, "senders", tuple(self.senders))
        object.__setattr__(self, "window", tuple(self.window))
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime):
                object.__setattr__(self, name, value.date())
        if not self.senders:
            raise ScheduleError("no_senders", "a rotation needs at least one sender")
        for key in self.senders:
            if not isinstance(key, str) or not key.strip():
                raise ScheduleError(
                    "invalid_sender", "sender keys must be non-empty strings", {"sender": key}
                )
        seen: set[str] = set()
        for key in self.senders:
            if key in seen:
                raise ScheduleError(
                    "duplicate_sender", f"sender {key!r} appears more than once", {"sender": key}
                )
            seen.add(key)
        if not isinstance(self.slot_days, int) or self.slot_days < 1:
            raise ScheduleError(
                "invalid_slot_length",
                "a slot lasts at least one day",
                {"slot_days": self.slot_days},
            )
        if len(self.window) != 2 or not all(isinstance(t, time) for t in self.window):
            raise ScheduleError("invalid_window", "the window is a pair of times (start, end)")
        if self.window[0] >= self.window[1]:
            raise ScheduleError(
                "invalid_window",
                "the window must start before it ends (same day)",
                {"window": [t.isoformat() for t in self.window]},
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ScheduleError(
                "unknown_timezone",
                f"unknown time zone {self.timezone!r}",
                {"timezone": self.timezone},
            ) from exc
        if self.rounds is not None and (not isinstance(self.rounds, int) or self.rounds < 1):
            raise ScheduleError(
                "invalid_rounds",
                "rounds is at least 1 (or None: until the end)",
                {"rounds": self.rounds},
            )
        if self.rounds is None and self.end is None:
            raise ScheduleError(
                "rounds_or_end_required", "rounds=None (until the end) needs an end date"
            )
        if self.end is not None and self.end < self.start:
            raise ScheduleError(
                "invalid_end",
                "the campaign cannot end before it starts",
                {"start": self.start.isoformat(), "end": self.end.isoformat()},
            )
        if self.policy not in POLICIES:
            raise ScheduleError(
                "invalid_policy", f"policy is one of {', '.join(POLICIES)}", {"policy": self.policy}
            )


@dataclass(frozen=True)
class Slot:
    """One sender's turn: it may send on ``days`` inside the window, from ``start`` to ``end``.

    ``start``/``end`` are aware datetimes in the plan's time zone; ``round`` is 1-based;
    ``position`` is the slot's 1-based rank among the slots of its round (after the policy moved
    anyone). ``status`` is ``"scheduled"``, or ``"deferred"`` for a sender that ``skip_append``
    moved to the end of the round, with ``note`` saying why.
    """

    sender: str
    start: datetime
    end: datetime
    round: int
    position: int
    status: str = "scheduled"
    note: str | None = None
    days: tuple[date, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO datetimes and dates)."""
        return {
            "sender": self.sender,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "round": self.round,
            "position": self.position,
            "status": self.status,
            "note": self.note,
            "days": [d.isoformat() for d in self.days],
        }


@dataclass(frozen=True)
class Schedule:
    """The computed slots (in time order), the events that explain them, the window used."""

    slots: list[Slot]
    events: list[dict[str, Any]]
    window_effective: tuple[time, time]
    policy: str = "shift"
    timezone: str = "Asia/Shanghai"
    unknown_year: int | None = None  # the schedule stops before this year (no calendar for it)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, e.g. for ``GET .../schedule``."""
        return {
            "policy": self.policy,
            "timezone": self.timezone,
            "window": [t.isoformat(timespec="minutes") for t in self.window_effective],
            "slots": [s.as_dict() for s in self.slots],
            "events": [dict(e) for e in self.events],
            "unknown_year": self.unknown_year,
        }


def _us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _time(us: int) -> time:
    seconds, micro = divmod(us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


def _quiet_us(quiet: tuple[time, time]) -> tuple[int, int]:
    if len(quiet) != 2 or not all(isinstance(t, time) for t in quiet):
        raise ScheduleError("invalid_quiet_hours", "quiet hours are a pair of times (start, end)")
    qs, qe = _us(quiet[0]), _us(quiet[1])
    if qs == qe:
        raise ScheduleError(
            "invalid_quiet_hours",
            "quiet hours must start and end at different times",
            {"quiet": [t.isoformat() for t in quiet]},
        )
    return qs, qe


def is_quiet(moment: time, quiet: tuple[time, time] = DEFAULT_QUIET) -> bool:
    """Whether a local time of day falls in the quiet hours ``[start, end)`` (may wrap midnight)."""
    qs, qe = _quiet_us(quiet)
    t = _us(moment)
    return qs <= t < qe if qs < qe else (t >= qs or t < qe)


def effective_window(
    window: tuple[time, time], quiet: tuple[time, time] = DEFAULT_QUIET
) -> tuple[time, time]:
    """The part of ``window`` outside the quiet hours (the longer part if they cut it in two).

    Raises :class:`ScheduleError` ``window_in_quiet_hours`` if the window lies wholly in them.
    """
    ws, we = _us(window[0]), _us(window[1])
    qs, qe = _quiet_us(quiet)
    allowed = [(0, qs), (qe, _DAY_US)] if qs < qe else [(qe, qs)]
    parts = [(max(ws, a), min(we, b)) for a, b in allowed]
    parts = [(a, b) for a, b in parts if a < b]
    if not parts:
        raise ScheduleError(
            "window_in_quiet_hours",
            "the send window lies entirely within the quiet hours",
            {
                "window": [t.isoformat() for t in window],
                "quiet": [t.isoformat() for t in quiet],
            },
        )
    a, b = max(parts, key=lambda p: (p[1] - p[0], -p[0]))
    return _time(a), _time(b)


def compute(
    plan: RotationPlan,
    *,
    quiet: tuple[time, time] = DEFAULT_QUIET,
    unavailable: Mapping[str, str] | None = None,
    blocked_days: Collection[date] = (),
    available_from: Mapping[str, date] | None = None,
    working_days: Callable[[date], tuple[bool, str | None]] | None = None,
    unknown_years: Literal["raise", "stop"] = "raise",
) -> Schedule:
    """Compute the slots of ``plan`` (see the module docstring for the rules).

    ``quiet`` is the deployment's quiet hours; ``unavailable`` maps senders that cannot send to
    the reason; ``available_from`` optionally bounds that unavailability (the first day the
    sender can send again); ``blocked_days`` are days nobody sends; ``working_days`` answers
    (working?, holiday name) for a day or raises :class:`gridserve.workdays.UnknownYear`
    (default: the package alone); ``unknown_years`` says what an unknown year does.
    Raises :class:`ScheduleError` (``window_in_quiet_hours``, ``calendar_unknown_year``, ...).
    """
    return _Computation(
        plan,
        quiet,
        unavailable or {},
        blocked_days,
        available_from or {},
        working_days or WorkingDays(),
        unknown_years,
    ).run()


class _UnknownDay(Exception):
    """Internal: the walk reached a day of a year no calendar knows (``unknown_years="stop"``)."""


class _Computation:
    def __init__(
        self,
        plan: RotationPlan,
        quiet: tuple[time, time],
        unavailable: Mapping[str, str],
        blocked_days: Collection[date],
        available_from: Mapping[str, date],
        working_days: Callable[[date], tuple[bool, str | None]],
        unknown_years: str,
    ) -> None:
        self.plan = plan
        self.working_days = working_days
        self.stop_at_unknown = unknown_years == "stop"
        self.unknown: tuple[int, date] | None = None
        self.window = effective_window(plan.window, quiet)
        self.tz = ZoneInfo(plan.timezone)
        self.unavailable = unavailable
        self.available_from = available_from
        self.blocked = frozenset(d.date() if isinstance(d, datetime) else d for d in blocked_days)
        self._reasons: dict[date, str | None] = {}
        self.slots: list[Slot] = []
        self.events: list[dict[str, Any]] = []
        self.cursor = plan.start
        if self.window != plan.window:
            self.events.append(
                {
                    "kind": "window_clipped",
                    "day": plan.start.isoformat(),
                    "reason": "send window clipped to stay outside quiet hours",
                    "window": [t.isoformat() for t in plan.window],
                    "effective": [t.isoformat() for t in self.window],
                    "quiet": [t.isoformat() for t in quiet],
                }
            )

    # -- days ---------------------------------------------------------------------------
    def day_reason(self, day: date) -> str | None:
        """Why ``day`` cannot be used, or None if it can."""
        if day in self._reasons:
            return self._reasons[day]
        reason: str | None = None
        if day in self.blocked:
            reason = f"blocked day {day.isoformat()}"
        elif self.plan.working_days_only:
            try:
                workday, name = self.working_days(day)
            except UnknownYear as exc:
                if self.stop_at_unknown:
                    self.unknown = (exc.year, day)
                    raise _UnknownDay from exc
                raise ScheduleError(
                    "calendar_unknown_year",
                    f"no working-day calendar for {exc.year}: load the year's holiday "
                    f"arrangement with PUT /api/v1/calendars/CN/{exc.year}",
                    {"year": exc.year, "day": day.isoformat()},
                ) from exc
            if not workday:
                reason = (
                    f"holiday {day.isoformat()} ({name})"
                    if name
                    else f"non-working day {day.isoformat()} (weekend)"
                )
        self._reasons[day] = reason
        return reason

    def next_days(self, n: int) -> tuple[list[date], list[tuple[date, str]]] | None:
        """The next ``n`` usable days from the cursor and the unusable ones passed over.

        None if they do not fit before the campaign's end.
        """
        days: list[date] = []
        passed: list[tuple[date, str]] = []
        day = self.cursor
        end = self.plan.end
        while len(days) < n:
            if end is not None and day > end:
                return None
            reason = self.day_reason(day)
            if reason is None:
                days.append(day)
            else:
                passed.append((day, reason))
            day += _ONE_DAY
        return days, passed

    def advance(
        self, days: list[date], passed: list[tuple[date, str]], out: list[dict[str, Any]]
    ) -> None:
        for day, reason in passed:
            out.append(
                {
                    "kind": "day_skipped",
                    "day": day.isoformat(),
                    "reason": reason,
                    "policy": self.plan.policy,
                }
            )
        self.cursor = days[-1] + _ONE_DAY

    # -- senders ------------------------------------------------------------------------
    def sender_reason(self, sender: str, day: date) -> str | None:
        """Why ``sender`` cannot send in a slot starting on ``day``, or None if it can."""
        first_day = self.available_from.get(sender)
        if first_day is not None:
            if day >= first_day:
                return None
            return self.unavailable.get(sender) or f"not available before {first_day.isoformat()}"
        return self.unavailable.get(sender)

    @staticmethod
    def moved_note(reason: str, round_no: int) -> str:
        return f"sender unavailable: {reason}; moved to the end of round {round_no}"

    def may_become_available(self, senders: list[str]) -> bool:
        end = self.plan.end
        return any(
            d > self.cursor and (end is None or d <= end)
            for s, d in self.available_from.items()
            if s in senders
        )

    # -- rounds -------------------------------------------------------------------------
    def run(self) -> Schedule:
        plan = self.plan
        order = list(plan.senders)
        round_no = 0
        while plan.rounds is None or round_no < plan.rounds:
            round_no += 1
            if round_no > 1 and plan.rotate_each_round:
                order = order[1:] + order[:1]
            slots, events, ran_out = self.run_round(round_no, order)
            if self.unknown is not None:  # stop before the unknown year, keep what came before
                self.slots.extend(slots)
                self.events.extend(events)
                break
            if plan.rounds is None and ran_out and not slots:
                break  # the campaign ends before this round starts: nothing to report
            self.slots.extend(slots)
            self.events.extend(events)
            if ran_out:
                if plan.rounds is None:
                    break
                continue
            if not slots:
                try:
                    found = self.next_days(1)
                except _UnknownDay:
                    break
                day = found[0][0] if found else self.cursor
                self.events.append(
                    {
                        "kind": "round_empty",
                        "day": day.isoformat(),
                        "round": round_no,
                        "reason": "no sender available",
                        "policy": plan.policy,
                    }
                )
                if found is None:
                    if plan.rounds is None:
                        break
                    continue
                self.advance(found[0], found[1], self.events)
                if plan.rounds is None and not self.may_become_available(order):
                    break
        if self.unknown is not None:
            year, day = self.unknown
            self.events.append(
                {
                    "kind": "calendar_unknown_year",
                    "day": day.isoformat(),
                    "year": year,
                    "reason": f"no working-day calendar for {year}: slots from {day.isoformat()} "
                    f"wait until it is loaded (PUT /api/v1/calendars/CN/{year})",
                    "policy": plan.policy,
                }
            )
        return Schedule(
            slots=self.slots,
            events=self.events,
            window_effective=self.window,
            policy=plan.policy,
            timezone=plan.timezone,
            unknown_year=self.unknown[0] if self.unknown else None,
        )

    def run_round(
        self, round_no: int, order: list[str]
    ) -> tuple[list[Slot], list[dict[str, Any]], bool]:
        plan = self.plan
        slots: list[Slot] = []
        events: list[dict[str, Any]] = []
        queue: deque[tuple[str, str | None]] = deque((s, None) for s in order)
        ran_out = False
        while queue:
            sender, moved_because = queue.popleft()
            try:
                found = None if ran_out else self.next_days(plan.slot_days)
            except _UnknownDay:
                return slots, events, True
            if found is None:
                ran_out = True
                events.append(
                    {
                        "kind": "out_of_campaign",
                        "sender": sender,
                        "round": round_no,
                        "day": (plan.end or self.cursor).isoformat(),
                        "reason": "no room for this slot before the campaign ends",
                        "policy": plan.policy,
                    }
                )
                continue
            days, passed = found
            reason = self.sender_reason(sender, days[0])
            if reason is not None:
                if plan.policy == "shift":
                    kind = "skipped"
                elif moved_because is None:
                    kind = "deferred"
                    queue.append((sender, reason))
                else:
                    kind = "dropped"
                events.append(
                    {
                        "kind": kind,
                        "sender": sender,
                        "round": round_no,
                        "day": days[0].isoformat(),
                        "reason": reason,
                        "policy": plan.policy,
                    }
                )
                continue
            self.advance(days, passed, events)
            note = None if moved_because is None else self.moved_note(moved_because, round_no)
            slots.append(
                Slot(
                    sender=sender,
                    start=datetime.combine(days[0], self.window[0], tzinfo=self.tz),
                    end=datetime.combine(days[-1], self.window[1], tzinfo=self.tz),
                    round=round_no,
                    position=len(slots) + 1,
                    status="scheduled" if moved_because is None else "deferred",
                    note=note,
                    days=tuple(days),
                )
            )
        return slots, events, ran_out


__all__ = [
    "DEFAULT_QUIET",
    "DEFAULT_WINDOW",
    "POLICIES",
    "Policy",
    "RotationPlan",
    "Schedule",
    "ScheduleError",
    "Slot",
    "compute",
    "effective_window",
    "is_quiet",
]
