"""A visit record's rules, without a database or HTTP: one field list, pure checks and flags."""

from __future__ import annotations

import datetime as dt

from gridserve.services.field.visits import (
    RECORD_FIELDS,
    SME_FIELDS,
    content_hash,
    record_errors,
    record_flags,
)

NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)


def _record(**changes):
    record = {
        "type": "patrol",
        "place_id": None,
        "started_at": NOW - dt.timedelta(hours=1),
        "ended_at": None,
        "location": {"lon": 104.0, "lat": 30.4, "accuracy_m": 8.0},
        "mock_location": False,
        "notes": "",
        "answers": {},
        "attachments": [],
    }
    return record | changes


def _flags(record, **kwargs):
    options = {
        "now": NOW,
        "outside_assigned_cell": False,
        "device_clock_skewed": False,
        "low_accuracy_m": 50.0,
        "clock_skew": dt.timedelta(minutes=5),
    }
    return record_flags(record, **(options | kwargs))


def test_the_upload_schema_loads_exactly_the_record_fields():
    from api.sync import VisitItemSchema

    assert set(VisitItemSchema().fields) == {"uuid", "base_version", *RECORD_FIELDS, *SME_FIELDS}


def test_a_record_may_not_end_before_it_starts():
    assert record_errors(_record()) == {}
    assert record_errors(_record(ended_at=NOW)) == {}
    early = _record(ended_at=NOW - dt.timedelta(hours=2))
    assert record_errors(early) == {"ended_at": ["Ends before it starts."]}


def test_a_plain_record_has_no_flags():
    assert _flags(_record()) == []


def test_each_flag_and_their_order():
    assert _flags(_record(location=None)) == ["no_location"]
    vague = _record(location={"lon": 104.0, "lat": 30.4, "accuracy_m": 80.0})
    assert _flags(vague) == ["low_accuracy"]
    assert _flags(_record(location={"lon": 104.0, "lat": 30.4, "accuracy_m": None})) == []
    assert _flags(_record(), outside_assigned_cell=True) == ["outside_assigned_cell"]
    assert _flags(_record(mock_location=True)) == ["mock_location"]
    assert _flags(_record(), device_clock_skewed=True) == ["clock_skew"]
    future = _record(started_at=NOW + dt.timedelta(minutes=6))
    assert _flags(future) == ["clock_skew"]
    assert _flags(_record(started_at=NOW + dt.timedelta(minutes=4))) == []
    everything = _record(
        location={"lon": 104.0, "lat": 30.4, "accuracy_m": 80.0}, mock_location=True
    )
    assert _flags(everything, outside_assigned_cell=True, device_clock_skewed=True) == [
        "low_accuracy",
        "outside_assigned_cell",
        "mock_location",
        "clock_skew",
    ]


def test_the_content_hash_reads_the_record_fields_only():
    record = _record()
    assert content_hash(record) == content_hash(record | {"uuid": "x", "base_version": 3})
    assert content_hash(record) != content_hash(record | {"notes": "changed"})
