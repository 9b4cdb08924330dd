"""The SMS token buckets: what a take grants, a burst of one second, and (PostgreSQL) one bucket
for every connection, hence every process. Rates here are so slow (0.01 segment/s) that no
refill happens while a test runs, so nothing depends on timing."""

from __future__ import annotations

import uuid

import pytest

from gridserve.extensions import db
from gridserve.services.sms import rates
from gridserve.services.sms.dispatch import segments

SLOW = 0.01  # one segment every 100 s


def test_a_take_grants_what_every_bucket_has_up_to_what_was_asked():
    both = (rates.Limit("channel:1", 20), rates.Limit("platform", 500))
    assert rates.decide(both, [20, 500], want=8, least=2) == (8, 0)
    assert rates.decide(both, [5.5, 500], want=8, least=2) == (5, 0)  # the channel's
    granted, wait = rates.decide(both, [1.0, 0.5], want=8, least=2)
    assert granted == 0 and wait == pytest.approx(max(1 / 20, 1.5 / 500))


def test_a_text_longer_than_a_full_bucket_goes_when_it_is_full_and_leaves_it_in_debt():
    two = (rates.Limit("channel:1", 2),)  # a burst of two segments
    assert rates.decide(two, [2], want=5, least=5) == (5, 0)
    granted, wait = rates.decide(two, [1.5], want=5, least=5)
    assert granted == 0 and wait == pytest.approx(0.25)  # until the bucket is full


def test_segments_are_counted_the_carriers_way():
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2  # GSM-7: 160, then 153
    assert segments("汉" * 70) == 1 and segments("汉" * 71) == 2  # UCS-2: 70, then 67
    assert segments("a" * 159 + "汉") == 3  # one Chinese character makes it all UCS-2


def test_the_process_buckets_burst_one_second_then_wait_and_take_back_what_was_not_used():
    buckets = rates.LocalBuckets()
    slow = (rates.Limit("channel:1", SLOW),)
    assert buckets.take(slow, want=5, least=1) == rates.Grant(1)  # the cap: at least one
    refused = buckets.take(slow, want=5, least=1)
    assert refused.tokens == 0 and refused.wait > 50 and buckets.peek(slow) > 50
    buckets.give_back(slow, 1)
    assert buckets.peek(slow) == 0
    assert buckets.take(slow, want=5, least=1).tokens == 1
    assert rates.limits(3, 0, 0) == ()  # 0: no limit, no bucket


def test_the_buckets_are_rows_every_connection_shares(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps its buckets in the one scheduler process")
    key = f"channel:test-{uuid.uuid4().hex[:8]}"
    slow = (rates.Limit(key, SLOW),)
    one, other = rates.SharedBuckets(), rates.SharedBuckets()  # two connections, two processes
    try:
        assert one.take(slow, want=5, least=1).tokens == 1
        refused = other.take(slow, want=5, least=1)
        assert refused.tokens == 0 and refused.wait > 50
        assert other.peek(slow) > 50
        one.give_back(slow, 1)
        assert other.peek(slow) == 0 and one.peek(slow) == 0, "a look takes nothing"
        assert other.take(slow, want=5, least=1).tokens == 1
        both = (rates.Limit(key, SLOW), rates.Limit(f"{key}-b", 1000))
        assert one.take(both, want=5, least=1).tokens == 0, "both buckets must have the tokens"
        assert other.take((both[1],), want=5000, least=1).tokens == 1000, "untouched: full"
    finally:
        one.close()
        other.close()
