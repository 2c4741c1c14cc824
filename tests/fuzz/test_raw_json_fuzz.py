"""Ingest's raw JSON parser (``validate_raw``) under any input: it never raises; what it accepts
round-trips (the canonical JSON it writes validates again to the same event, keyed by its
patient); what it rejects carries one of ingest's reasons and a detail a dead letter can hold
(``ingest_promises.py``). Schema-valid events inside the event-time window are accepted, outside
it ``implausible_time``; anything over the size limit is ``oversize``."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import event, given
from hypothesis import strategies as st

from schemas.dead_letters import DeadLetterReason
from schemas.raw_validation import Accepted, IngestLimits, Rejected, validate_raw
from schemas.topics import RAW_TOPICS, SYMPTOMS_RAW, TopicSpec
from tests.fuzz.budget import budget
from tests.fuzz.hostile_json import hostile_json, patient_refs, valid_json
from tests.fuzz.ingest_promises import ARRIVAL, DEFAULT_LIMITS
from tests.fuzz.ingest_promises import check as promised

raw_topics = st.sampled_from(RAW_TOPICS)
keys = st.one_of(st.none(), st.binary(max_size=80), patient_refs.map(str.encode))


def check(
    spec: TopicSpec, key: bytes | None, value: bytes | None, limits: IngestLimits = DEFAULT_LIMITS
) -> Accepted | Rejected:
    outcome = promised(spec, key, value, limits)
    event("accepted" if isinstance(outcome, Accepted) else outcome.reason.value)
    return outcome


@budget(400)
@given(spec=raw_topics, key=keys, value=st.one_of(st.none(), st.binary(max_size=600)))
def test_any_bytes_are_accepted_or_rejected_with_a_reason(
    spec: TopicSpec, key: bytes | None, value: bytes | None
) -> None:
    check(spec, key, value)


@budget(400)
@given(data=st.data(), spec=raw_topics, key=keys)
def test_hostile_json_is_accepted_or_rejected_with_a_reason(
    data: st.DataObject, spec: TopicSpec, key: bytes | None
) -> None:
    check(spec, key, data.draw(hostile_json(spec)))


@budget(300)
@given(data=st.data(), spec=raw_topics)
def test_schema_valid_events_inside_the_window_are_accepted_and_round_trip(
    data: st.DataObject, spec: TopicSpec
) -> None:
    value = data.draw(valid_json(spec))
    outcome = check(spec, None, value)
    assert isinstance(outcome, Accepted), (value, outcome)
    keyed = check(spec, outcome.key, value)
    assert isinstance(keyed, Accepted)
    wrong = check(spec, outcome.key + b"-other", value)
    assert isinstance(wrong, Rejected)
    assert wrong.reason is DeadLetterReason.KEY_MISMATCH


@budget(150)
@given(data=st.data(), spec=raw_topics, beyond_s=st.integers(1, 10**9), ahead=st.booleans())
def test_an_event_time_outside_the_window_is_implausible(
    data: st.DataObject, spec: TopicSpec, beyond_s: int, ahead: bool
) -> None:
    limits = IngestLimits(max_age=timedelta(days=2), max_ahead=timedelta(minutes=5))
    value = data.draw(valid_json(spec))
    event = validate_raw(spec, None, value)
    assert isinstance(event, Accepted)
    edge = ARRIVAL + limits.max_ahead if ahead else ARRIVAL - limits.max_age
    moved = edge + timedelta(seconds=beyond_s if ahead else -beyond_s)
    shifted = event.event.model_copy(update={"event_time": moved}).model_dump_json().encode()
    outcome = check(spec, None, shifted, limits)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is DeadLetterReason.IMPLAUSIBLE_TIME


@budget(60)
@given(spec=raw_topics, size=st.integers(1, 4096), excess=st.integers(1, 2048), data=st.data())
def test_a_message_over_the_limit_is_oversize_whatever_it_holds(
    spec: TopicSpec, size: int, excess: int, data: st.DataObject
) -> None:
    limits = IngestLimits(max_message_bytes=size)
    value = data.draw(st.binary(min_size=size + excess, max_size=size + excess))
    outcome = check(spec, None, value, limits)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is DeadLetterReason.OVERSIZE


def test_a_message_of_twenty_thousand_unknown_fields_is_described_by_its_first_errors() -> None:
    """20,000 errors, one detail of at most 1,000 characters (describing every error cost the
    ingest agent tenths of a second per message; found by ``pumpstream fuzz``)."""
    value = json.dumps({f"{n:x}": 0 for n in range(20_000)}, separators=(",", ":")).encode()
    outcome = promised(SYMPTOMS_RAW, None, value)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert outcome.detail.startswith("event_id: Field required")
