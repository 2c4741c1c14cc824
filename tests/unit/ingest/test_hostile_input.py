"""Input that passes a schema but would stall or mislead the pipeline is dead-lettered at ingest
with a reason: implausible event times, oversize messages, booleans and NaN posing as numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.dead_letters import DeadLetterReason
from schemas.raw_validation import Accepted, IngestLimits, Rejected, validate_raw
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW, TopicSpec
from tests.support.events import Patient

ARRIVAL = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
P = Patient("pt-h", t0=ARRIVAL - timedelta(hours=2))


def _json(event: object, **changes: object) -> bytes:
    data = json.loads(event.model_dump_json())  # type: ignore[attr-defined]
    data.update(changes)
    return json.dumps(data, separators=(",", ":")).encode()


DEFAULT_LIMITS = IngestLimits()


def _reject(spec: TopicSpec, value: bytes, limits: IngestLimits = DEFAULT_LIMITS) -> Rejected:
    outcome = validate_raw(spec, None, value, arrival=ARRIVAL, limits=limits)
    assert isinstance(outcome, Rejected), outcome
    return outcome


@pytest.mark.parametrize(
    ("event_time", "words"),
    [
        pytest.param("9999-12-31T23:59:59Z", "after its arrival", id="year-9999"),
        pytest.param("2126-01-01T00:00:00Z", "after its arrival", id="a-century-ahead"),
        pytest.param("0001-01-01T00:00:00Z", "days before its arrival", id="year-1"),
        pytest.param("1970-01-01T00:00:00Z", "days before its arrival", id="epoch-zero"),
    ],
)
def test_an_implausible_event_time_is_dead_lettered(event_time: str, words: str) -> None:
    rejected = _reject(PUMP_EVENTS_RAW, _json(P.rate(30, 84.0), event_time=event_time))
    assert rejected.reason is DeadLetterReason.IMPLAUSIBLE_TIME
    assert words in rejected.detail


def test_the_window_is_relative_to_arrival_and_configurable() -> None:
    limits = IngestLimits(max_age=timedelta(days=2), max_ahead=timedelta(minutes=5))
    fine = validate_raw(VITALS_RAW, None, _json(P.vitals(0)), arrival=ARRIVAL, limits=limits)
    assert isinstance(fine, Accepted)
    ahead = _json(P.vitals(0), event_time=(ARRIVAL + timedelta(minutes=6)).isoformat())
    assert _reject(VITALS_RAW, ahead, limits).reason is DeadLetterReason.IMPLAUSIBLE_TIME
    old = _json(P.vitals(0), event_time=(ARRIVAL - timedelta(days=3)).isoformat())
    assert _reject(VITALS_RAW, old, limits).reason is DeadLetterReason.IMPLAUSIBLE_TIME
    # Offline validation of a recording (no arrival) checks only the schema.
    assert isinstance(validate_raw(VITALS_RAW, None, old), Accepted)


def test_an_oversize_message_is_rejected_unparsed() -> None:
    value = b'{"padding": "' + b"x" * 300_000 + b'"}'
    rejected = _reject(SYMPTOMS_RAW, value)
    assert rejected.reason is DeadLetterReason.OVERSIZE
    assert "300015 bytes" in rejected.detail


VITALS = _json(P.vitals(0))
HR_80 = b'"heart_rate_bpm":{"value":80.0,"validity":"valid"}'
NOT_NUMBERS = {
    "true-as-a-rate": (PUMP_EVENTS_RAW, _json(P.rate(30, 84.0), rate_ml_h=True), "rate_ml_h"),
    "string-as-a-rate": (PUMP_EVENTS_RAW, _json(P.rate(30, 84.0), rate_ml_h="84"), "rate_ml_h"),
    "fractional-pain": (SYMPTOMS_RAW, _json(P.pain(40, 6), pain_score=6.5), "pain_score"),
    "true-as-pain": (SYMPTOMS_RAW, _json(P.pain(40, 6), pain_score=True), "pain_score"),
    "nan-marked-invalid": (
        VITALS_RAW,
        VITALS.replace(HR_80, b'"heart_rate_bpm":{"value":NaN,"validity":"invalid"}'),
        "heart_rate_bpm",
    ),
    "infinity": (
        VITALS_RAW,
        VITALS.replace(HR_80, b'"heart_rate_bpm":{"value":Infinity,"validity":"valid"}'),
        "heart_rate_bpm",
    ),
}


@pytest.mark.parametrize(("spec", "value", "field"), NOT_NUMBERS.values(), ids=NOT_NUMBERS.keys())
def test_numbers_are_strict(spec: TopicSpec, value: bytes, field: str) -> None:
    rejected = _reject(spec, value)
    assert rejected.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert field in rejected.detail


def test_whole_numbers_still_count_as_rates() -> None:
    outcome = validate_raw(
        PUMP_EVENTS_RAW, None, _json(P.rate(30, 84.0), rate_ml_h=84), arrival=ARRIVAL
    )
    assert isinstance(outcome, Accepted)
    assert outcome.event.rate_ml_h == 84.0
