"""Reading a telemetry batch: the fast path, the reading-by-reading path when the envelope
fails, whole-message rejections, the time window, and readings of other partitions."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.dead_letters import DeadLetterReason
from schemas.raw_validation import IngestLimits
from simulators.sim_event import SimEvent
from simulators.telemetry_batches import batch_telemetry, readings_in
from streams.clinical.telemetry import read_batch
from streams.kafka.partitioning import partition_of
from tests.support.events import Patient, at

LIMITS = IngestLimits()
ARRIVAL = at(60)
PARTITIONS = 4


def _reading(p: Patient, minute: float, **fields: object) -> dict[str, object]:
    return {**json.loads(p.vitals(minute).model_dump_json()), **fields}


def _on(partition: int, count: int) -> list[Patient]:
    refs = (f"pt-{i}" for i in range(1000))
    return [Patient(r) for r in refs if partition_of(r.encode(), PARTITIONS) == partition][:count]


def _read(document: object, partition: int = 0) -> object:
    return read_batch(json.dumps(document).encode(), partition=partition, partitions=PARTITIONS,
                      arrival=ARRIVAL, limits=LIMITS)  # fmt: skip


def test_a_valid_batch_is_split_by_patient_in_order() -> None:
    p, q = _on(0, 2)
    reading = _read({"batch_id": "b1", "vitals": [_reading(p, 1), _reading(q, 1), _reading(p, 2)]})
    assert reading.batch_id == "b1"
    assert {ref: [v.event_id for v in vs] for ref, vs in reading.by_patient.items()} == {
        p.ref: [f"{p.ref}-vitals-1", f"{p.ref}-vitals-2"],
        q.ref: [f"{q.ref}-vitals-1"],
    }
    assert reading.rejected == []
    assert reading.accepted == 3


def test_one_bad_reading_costs_only_itself() -> None:
    (p,) = _on(0, 1)
    bad = _reading(p, 2, heart_rate_bpm={"value": True})
    reading = _read({"batch_id": "b2", "vitals": [_reading(p, 1), bad, _reading(p, 3)]})
    assert reading.accepted == 2
    [rejected] = reading.rejected
    assert rejected.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "reading 1" in rejected.detail
    assert json.loads(rejected.value or b"") == bad


def test_readings_outside_the_time_window_are_dead_lettered() -> None:
    (p,) = _on(0, 1)
    late = _reading(p, 0, event_time=(ARRIVAL - timedelta(days=4000)).isoformat())
    reading = _read({"batch_id": "b3", "vitals": [late, _reading(p, 1)]})
    assert reading.accepted == 1
    assert [r.reason for r in reading.rejected] == [DeadLetterReason.IMPLAUSIBLE_TIME]


def test_readings_of_another_partition_are_forwarded_not_applied() -> None:
    (p,) = _on(0, 1)
    (q,) = _on(3, 1)
    reading = _read({"batch_id": "b4", "vitals": [_reading(p, 1), _reading(q, 1)]})
    assert list(reading.by_patient) == [p.ref]
    assert {k: [v.patient_ref for v in vs] for k, vs in reading.elsewhere.items()} == {3: [q.ref]}


def test_messages_that_are_no_batch_are_rejected_whole_with_their_bytes() -> None:
    for raw, reason in [
        (b"\xff\xfe", DeadLetterReason.NOT_UTF8),
        (b"{not json", DeadLetterReason.NOT_JSON),
        (b'{"batch_id": "b", "vitals": []}', DeadLetterReason.SCHEMA_VIOLATION),
        (b'{"vitals": [{}]}', DeadLetterReason.SCHEMA_VIOLATION),
        (b'{"batch_id": "b", "vitals": [{}], "x": 1}', DeadLetterReason.SCHEMA_VIOLATION),
        (b"x" * (LIMITS.max_message_bytes + 1), DeadLetterReason.OVERSIZE),
        (None, DeadLetterReason.NOT_JSON),
    ]:
        reading = read_batch(raw, partition=0, partitions=PARTITIONS, arrival=ARRIVAL,
                             limits=LIMITS)  # fmt: skip
        assert [(r.reason, r.value) for r in reading.rejected] == [(reason, raw)], raw
        assert reading.accepted == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_no_input_raises(raw: bytes) -> None:
    read_batch(raw, partition=0, partitions=PARTITIONS, arrival=ARRIVAL, limits=LIMITS)


def test_the_simulator_packs_readings_by_partition_and_window_and_keeps_the_rest() -> None:
    patients = _on(0, 2) + _on(1, 1)
    events = []
    for second in range(6):
        for p in patients:
            value = p.vitals(second / 60).model_dump_json().encode()
            events.append(SimEvent(float(second), "vitals.raw", p.ref.encode(), value))
        events.append(SimEvent(float(second), "symptoms.raw", b"k", b"{}"))
    events.append(SimEvent(6.0, "vitals.raw", b"k", b"not json"))
    packed = batch_telemetry(events, partitions=PARTITIONS, window_s=3.0)
    assert readings_in(packed) == readings_in(events), "every reading sent, malformed or not"
    batches = [e for e in packed if e.topic == "telemetry.raw"]
    assert sorted({b.partition for b in batches}) == [0, 1]
    assert len(batches) == 4, "two 3-second windows, two partitions"
    assert [e for e in packed if e.topic == "symptoms.raw"] == [
        e for e in events if e.topic == "symptoms.raw"
    ], "clinical events unchanged, in order"
    assert packed[-1].value == b"not json", "a malformed reading goes alone, as it was"
    for batch in batches:
        reading = read_batch(batch.value, partition=batch.partition or 0, partitions=PARTITIONS,
                             arrival=ARRIVAL, limits=LIMITS)  # fmt: skip
        assert reading.rejected == []
        assert reading.elsewhere == {}
