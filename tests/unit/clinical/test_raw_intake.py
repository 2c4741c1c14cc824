"""A raw clinical event read by the clinical agent: ingest's verdicts, and the partition check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.dead_letters import DeadLetterReason
from schemas.raw_validation import Accepted, IngestLimits, Rejected, validate_raw
from schemas.topics import PUMP_EVENTS_RAW
from streams.clinical.raw_intake import Misrouted, read_raw
from streams.kafka.partitioning import partition_of
from tests.support.events import Patient

NOW = datetime.now(UTC).replace(microsecond=0)
PARTITIONS = 4
REF = "pt-intake"
OWNER = partition_of(REF.encode(), PARTITIONS)


def _read(value: bytes | None, key: bytes | None, partition: int) -> object:
    return read_raw(
        PUMP_EVENTS_RAW, key, value, partition=partition, partitions=PARTITIONS, arrival=NOW,
        limits=IngestLimits(),
    )  # fmt: skip


def test_an_event_on_its_patients_partition_is_accepted_as_ingest_accepts_it() -> None:
    value = Patient(REF, t0=NOW - timedelta(hours=1)).start().model_dump_json().encode()
    outcome = _read(value, REF.encode(), OWNER)
    assert isinstance(outcome, Accepted)
    assert outcome == validate_raw(PUMP_EVENTS_RAW, REF.encode(), value, arrival=NOW)


def test_an_event_elsewhere_is_misrouted_to_its_patients_partition() -> None:
    value = Patient(REF, t0=NOW - timedelta(hours=1)).start().model_dump_json().encode()
    for partition in set(range(PARTITIONS)) - {OWNER}:
        assert _read(value, None, partition) == Misrouted(REF.encode(), OWNER)


def test_rejections_are_ingests_whatever_the_partition() -> None:
    late = Patient(REF, t0=NOW - timedelta(days=4000)).start().model_dump_json().encode()
    pain = Patient(REF, t0=NOW).pain(1, 5).model_dump_json().encode()
    cases = [
        (b"\xff not text", REF.encode(), DeadLetterReason.NOT_UTF8),
        (b"{", REF.encode(), DeadLetterReason.NOT_JSON),
        (pain, REF.encode(), DeadLetterReason.SCHEMA_VIOLATION),  # a report on the pump topic
        (late, REF.encode(), DeadLetterReason.IMPLAUSIBLE_TIME),
        (None, None, DeadLetterReason.NOT_JSON),
    ]
    for value, key, reason in cases:
        for partition in range(PARTITIONS):
            outcome = _read(value, key, partition)
            assert isinstance(outcome, Rejected), (value, partition)
            assert outcome.reason is reason
    other = Patient(REF, t0=NOW).start().model_dump_json().encode()
    outcome = _read(other, b"someone-else", OWNER)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is DeadLetterReason.KEY_MISMATCH
