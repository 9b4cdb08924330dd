"""SMS rate limits in carrier segments: a token bucket per channel and one for the platform.

A channel's ``rate_per_second`` and the platform cap (``GRIDSERVE_SMS_PLATFORM_RATE``) are
carrier segments per second (a 75-character Chinese text is two segments, see
:func:`gridserve.sms.text.split`); 0 means no limit. Each limit is a token bucket: it fills at
its rate up to one second of it (at least one segment), and a message takes as many tokens as it
has segments from its channel's bucket and from the platform's. A message longer than a full
bucket (five segments on a channel of 2/s) goes when the bucket is full, leaving it in debt.

PostgreSQL: one bucket for all processes
    The buckets are rows of ``sms_rate_buckets`` (``channel:<id>``, ``platform``), so every
    dispatcher process (a scheduler, a pass run by hand, several nodes) draws on the same
    tokens and the rates hold for all of them together. A take is one statement on a connection
    of its own in autocommit (never the dispatcher's transaction): it locks the rows in key
    order, refills them from the database clock (``clock_timestamp()``, the one clock all
    processes share; never the test-travelling :func:`gridserve.db.utcnow`) and takes what
    is there, up to what was asked. Round trips are amortised: a batch takes tokens in chunks of
    up to a tenth of a second of the slowest rate (capped by what the rest of the batch needs)
    and gives back what it did not use when it ends, so tokens never sit in one process longer
    than its batch.
SQLite: in the process
    The embedded deployment runs one scheduler (a file lock), so the same buckets live in the
    process (:class:`LocalBuckets`, monotonic clock), kept across passes. A pass run by hand
    next to the scheduler cannot double-send (claims), only add its own rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, TEXT
from sqlalchemy.engine import Connection

from gridserve.extensions import db

CHUNK_SECONDS = 0.1  # a take asks for at most this much of the slowest rate
MIN_SLEEP = 0.005


@dataclass(frozen=True)
class Limit:
    """One bucket: its key and its rate in segments per second (> 0)."""

    key: str
    rate: float

    @property
    def cap(self) -> float:
        """A burst of one second of the rate, at least one segment."""
        return max(self.rate, 1.0)


def limits(channel_id: int, channel_rate: float, platform_rate: float) -> tuple[Limit, ...]:
    """The buckets a message on the channel takes from (none for a rate of 0), in key order."""
    out = [Limit(f"channel:{channel_id}", float(channel_rate or 0))]
    out.append(Limit("platform", float(platform_rate or 0)))
    return tuple(sorted((lim for lim in out if lim.rate > 0), key=lambda lim: lim.key))


@dataclass(frozen=True)
class Grant:
    """Tokens taken (from every bucket of the take); when none, the seconds until the least
    asked for could be there (other processes may take them first)."""

    tokens: int
    wait: float = 0.0


class Buckets(Protocol):
    def peek(self, limits: Sequence[Limit]) -> float: ...

    def take(self, limits: Sequence[Limit], want: int, least: int) -> Grant: ...

    def give_back(self, limits: Sequence[Limit], tokens: int) -> None: ...

    def close(self) -> None: ...


def decide(
    limits: Sequence[Limit], available: Sequence[float], want: int, least: int
) -> tuple[int, float]:
    """What a take grants from buckets holding ``available`` tokens: up to ``want`` if every
    bucket has ``least``; ``least`` from full buckets that can never hold it (debt); else none,
    with the wait until they could. The SQL of :class:`SharedBuckets` says the same."""
    floor = math.floor(min(available) + 1e-9)
    if floor >= least:
        return min(want, floor), 0.0
    if all(a >= lim.cap - 1e-9 for lim, a in zip(limits, available, strict=True)):
        return least, 0.0
    wait = max(
        (min(least, lim.cap) - a) / lim.rate
        for lim, a in zip(limits, available, strict=True)
        if a < min(least, lim.cap)
    )
    return 0, max(wait, MIN_SLEEP)


class LocalBuckets:
    """The buckets inside one process (SQLite's single scheduler): monotonic clock."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _available(self, lim: Limit, now: float) -> float:
        tokens, stamp = self._state.get(lim.key, (lim.cap, now))
        return min(lim.cap, tokens + max(0.0, now - stamp) * lim.rate)

    def peek(self, limits: Sequence[Limit]) -> float:
        """Seconds until every bucket holds a token (0: now); takes nothing."""
        with self._lock:
            now = time.monotonic()
            return decide(limits, [self._available(lim, now) for lim in limits], 1, 1)[1]

    def take(self, limits: Sequence[Limit], want: int, least: int) -> Grant:
        with self._lock:
            now = time.monotonic()
            available = [self._available(lim, now) for lim in limits]
            granted, wait = decide(limits, available, want, least)
            for lim, a in zip(limits, available, strict=True):
                self._state[lim.key] = (a - granted, now)
            return Grant(granted, wait)

    def give_back(self, limits: Sequence[Limit], tokens: int) -> None:
        with self._lock:
            now = time.monotonic()
            for lim in limits:
                self._state[lim.key] = (min(lim.cap, self._available(lim, now) + tokens), now)

    def close(self) -> None:
        pass


_TAKE = text(
    """
    WITH now AS MATERIALIZED (SELECT clock_timestamp() AS t),
    lim AS (SELECT * FROM unnest(:keys, :rates) AS l(key, rate)),
    cur AS (
        SELECT b.key, l.rate, greatest(l.rate, 1.0) AS cap,
               least(greatest(l.rate, 1.0),
                     b.tokens + greatest(0.0, extract(epoch FROM now.t - b.stamp)) * l.rate)
                   AS avail
        FROM sms_rate_buckets b JOIN lim l ON l.key = b.key CROSS JOIN now
        ORDER BY b.key
        FOR UPDATE OF b
    ),
    g AS (
        SELECT CASE
            WHEN floor(min(avail) + 1e-9) >= :least THEN least(:want, floor(min(avail) + 1e-9))
            WHEN bool_and(avail >= cap - 1e-9) THEN :least
            ELSE 0 END AS n
        FROM cur
    )
    UPDATE sms_rate_buckets b
    SET tokens = cur.avail - g.n, stamp = greatest(b.stamp, now.t)
    FROM cur, g, now
    WHERE b.key = cur.key
    RETURNING b.key, cur.avail, g.n
    """
).bindparams(
    bindparam("keys", type_=ARRAY(TEXT)), bindparam("rates", type_=ARRAY(DOUBLE_PRECISION))
)

_GIVE_BACK = text(
    """
    WITH lim AS (SELECT * FROM unnest(:keys, :rates) AS l(key, rate)),
    locked AS (
        SELECT b.key FROM sms_rate_buckets b JOIN lim l ON l.key = b.key
        ORDER BY b.key FOR UPDATE OF b
    )
    UPDATE sms_rate_buckets b SET tokens = least(greatest(l.rate, 1.0), b.tokens + :n)
    FROM lim l, locked
    WHERE b.key = l.key AND locked.key = b.key
    """
).bindparams(
    bindparam("keys", type_=ARRAY(TEXT)), bindparam("rates", type_=ARRAY(DOUBLE_PRECISION))
)

_PEEK = text(
    """
    SELECT b.key,
           least(greatest(l.rate, 1.0),
                 b.tokens + greatest(0.0, extract(epoch FROM clock_timestamp() - b.stamp))
                     * l.rate) AS avail
    FROM sms_rate_buckets b JOIN unnest(:keys, :rates) AS l(key, rate) ON l.key = b.key
    """
).bindparams(
    bindparam("keys", type_=ARRAY(TEXT)), bindparam("rates", type_=ARRAY(DOUBLE_PRECISION))
)

_CREATE = text(
    "INSERT INTO sms_rate_buckets (key, tokens, stamp) VALUES (:key, :cap, clock_timestamp()) "
    "ON CONFLICT (key) DO NOTHING"
)


class SharedBuckets:
    """The buckets as rows of ``sms_rate_buckets``, shared by every process (PostgreSQL).

    One connection of its own, in autocommit, for the length of a pass: each take and give-back
    is one statement and commits on its own, whatever the dispatcher's session does.
    """

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._known: set[str] = set()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _ensure(self, limits: Sequence[Limit]) -> None:
        for lim in limits:
            if lim.key not in self._known:
                self._connection().execute(_CREATE, {"key": lim.key, "cap": lim.cap})
                self._known.add(lim.key)

    def peek(self, limits: Sequence[Limit]) -> float:
        """Seconds until every bucket holds a token (0: now); takes nothing, locks nothing."""
        self._ensure(limits)
        params = {"keys": [lim.key for lim in limits], "rates": [float(lim.rate) for lim in limits]}
        rows = self._connection().execute(_PEEK, params).all()
        available = {row.key: float(row.avail) for row in rows}
        return decide(limits, [available.get(lim.key, 0.0) for lim in limits], 1, 1)[1]

    def take(self, limits: Sequence[Limit], want: int, least: int) -> Grant:
        self._ensure(limits)
        params = {
            "keys": [lim.key for lim in limits],
            "rates": [float(lim.rate) for lim in limits],
            "want": want,
            "least": least,
        }
        rows = self._connection().execute(_TAKE, params).all()
        if len(rows) != len(limits):  # a row went missing (table emptied): make it again
            self._known.difference_update(lim.key for lim in limits)
            self._ensure(limits)
            rows = self._connection().execute(_TAKE, params).all()
        granted = int(rows[0].n) if rows else 0
        if granted:
            return Grant(granted)
        available = {row.key: float(row.avail) for row in rows}
        _, wait = decide(limits, [available.get(lim.key, 0.0) for lim in limits], want, least)
        return Grant(0, wait or MIN_SLEEP)

    def give_back(self, limits: Sequence[Limit], tokens: int) -> None:
        if tokens <= 0:
            return
        self._connection().execute(
            _GIVE_BACK,
            {"keys": [lim.key for lim in limits], "rates": [float(lim.rate) for lim in limits],
             "n": tokens},
        )  # fmt: skip

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_LOCAL = LocalBuckets()


def buckets() -> Buckets:
    """The buckets of this deployment: shared rows on PostgreSQL, in the process on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return SharedBuckets()
    return _LOCAL


class Allowance:
    """The tokens one batch spends on one channel: taken in chunks, the rest given back.

    :meth:`ready` looks without taking (a batch is claimed only when there are tokens, and
    none is held while it is claimed); :meth:`spend` holds a message's segments just before
    it goes, waiting for them until a deadline; :meth:`release` gives back what the batch did
    not use.
    """

    def __init__(self, store: Buckets, limits: Sequence[Limit]) -> None:
        self.store = store
        self.limits = tuple(limits)
        self.held = 0
        self.wait = 0.0  # after a take that got nothing: seconds until tokens could be there
        slowest = min((lim.rate for lim in self.limits), default=0.0)
        self.chunk = max(1, math.ceil(slowest * CHUNK_SECONDS))

    @property
    def limited(self) -> bool:
        return bool(self.limits)

    def ready(self) -> bool:
        """Whether every bucket holds a token now (else :attr:`wait` says when it could)."""
        if not self.limits:
            return True
        self.wait = self.store.peek(self.limits)
        return self.wait <= 0

    def spend(self, segments: int, ahead: int, deadline: float) -> bool:
        """Hold ``segments`` tokens for the next message (``ahead``: the segments of it and
        the rest of the batch, so no more is taken than the batch needs); ``False`` if they
        cannot be had before ``deadline`` (``time.monotonic()``)."""
        if not self.limits:
            return True
        segments = max(1, segments)
        while self.held < segments:
            need = segments - self.held
            want = max(need, min(ahead - self.held, self.chunk))
            grant = self.store.take(self.limits, want, need)
            if grant.tokens:
                self.held += grant.tokens
                continue
            self.wait = grant.wait
            if time.monotonic() + grant.wait > deadline:
                return False
            time.sleep(grant.wait)
        self.held -= segments
        return True

    def release(self) -> None:
        if self.limits and self.held:
            self.store.give_back(self.limits, self.held)
        self.held = 0
