"""The inputs ``pumpstream fuzz`` sends (``streams/cli/fuzz_inputs.py``): reproducible from the
seed, the same inputs whatever their number, every kind meaning what it says at ingest, and the
burst's patients away from the reacting patient's partition."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from schemas.raw_validation import Accepted, validate_raw
from schemas.topics import topic_by_name
from streams.cli.fuzz_inputs import (
    GOOD_PATIENT,
    KIND_NAMES,
    hostile_inputs,
    hostile_patients,
    reacting_patient,
)
from streams.kafka.partitioning import partition_of

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NEVER_ACCEPTED = (
    "implausible_time",
    "not_utf8",
    "truncated_json",
    "bool_as_number",
    "nan_infinity",
    "fraction_or_string_number",
    "wrong_topic",
    "tombstone",
)


def test_the_same_seed_gives_the_same_inputs_whatever_their_number() -> None:
    first = list(hostile_inputs(3, 500, NOW))
    assert first == list(hostile_inputs(3, 500, NOW))
    assert first[200:] == list(hostile_inputs(3, 300, NOW, start=200))
    assert first != list(hostile_inputs(4, 500, NOW))


def test_each_kind_meets_ingest_as_it_should() -> None:
    outcomes: dict[str, Counter[str]] = {}
    for item in hostile_inputs(1, 4_000, NOW):
        outcome = validate_raw(topic_by_name(item.topic), item.key, item.value, arrival=NOW)
        verdict = "accepted" if isinstance(outcome, Accepted) else outcome.reason.value
        outcomes.setdefault(item.kind, Counter())[verdict] += 1
    assert set(KIND_NAMES) - {"oversize"} <= set(outcomes)
    # Schema-valid extremes all reach the clinical agent; the named faults never do.
    assert set(outcomes["schema_valid_extreme"]) == {"accepted"}
    for kind in NEVER_ACCEPTED:
        assert "accepted" not in outcomes[kind], (kind, outcomes[kind])
    assert set(outcomes["implausible_time"]) == {"implausible_time"}
    assert set(outcomes["not_utf8"]) == {"not_utf8"}


def test_the_burst_keeps_away_from_the_reacting_patients_partition() -> None:
    ours = partition_of(GOOD_PATIENT.encode(), 4)
    away = hostile_patients(4, ours)
    assert away
    assert all(partition_of(ref.encode(), 4) != ours for ref in away)
    assert len(away) < len(hostile_patients())


def test_the_reacting_patient_ends_with_the_pain_report() -> None:
    events = reacting_patient(NOW)
    assert [e.topic for e in events] == ["pump.events.raw"] * 3 + ["symptoms.raw"]
    for item in events:
        outcome = validate_raw(topic_by_name(item.topic), item.key, item.value, arrival=NOW)
        assert isinstance(outcome, Accepted)
        assert outcome.event.event_id == item.event_id
