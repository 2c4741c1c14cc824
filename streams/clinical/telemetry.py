"""Reading a telemetry batch (``telemetry.raw``) in the clinical agent: one validation of the
whole envelope on the usual path, each reading on its own only when the envelope fails, so one
bad reading never costs the others.

The clinical agent reads ``telemetry.raw`` itself (one Faust hop per batch instead of ingest ->
validated topic -> clinical: docs/benchmarks.md measures both), with ingest's rules: the same
schema, the same plausibility window on event time, dead letters to the raw topic's dead-letter
topic. A reading whose patient belongs to another partition (a producer that did not batch by
partition) is sent on to that partition, never dropped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from schemas.dead_letters import DeadLetterReason
from schemas.events import VitalSigns
from schemas.raw_validation import IngestLimits, Rejected, implausible_time, validate_raw
from schemas.telemetry import TelemetryBatch
from streams.kafka.partitioning import partition_of

_BATCH = TypeAdapter(TelemetryBatch)
_VITALS = TypeAdapter(VitalSigns)


@dataclass(frozen=True, slots=True)
class RejectedReading:
    """A reading (or the whole message) set aside, with the bytes to keep."""

    reason: DeadLetterReason
    detail: str
    #: The message's own bytes when the whole message is rejected; else the reading, as JSON.
    value: bytes | None


@dataclass
class BatchReading:
    """What one telemetry message holds for this partition, and what it does not."""

    #: patient_ref -> the readings for this partition's patients, in the message's order.
    by_patient: dict[str, list[VitalSigns]] = field(default_factory=lambda: defaultdict(list))
    #: partition -> readings whose patient belongs there.
    elsewhere: dict[int, list[VitalSigns]] = field(default_factory=lambda: defaultdict(list))
    rejected: list[RejectedReading] = field(default_factory=list)
    batch_id: str = ""

    @property
    def accepted(self) -> int:
        return sum(len(v) for v in self.by_patient.values())


def read_batch(
    value: bytes | None,
    *,
    partition: int,
    partitions: int,
    arrival: datetime,
    limits: IngestLimits,
) -> BatchReading:
    """Split a ``telemetry.raw`` message into this partition's readings per patient, readings for
    other partitions, and rejections (never raises for any input)."""
    reading = BatchReading()
    if value is None or len(value) > limits.max_message_bytes:
        whole = validate_raw_envelope(value, limits)
        reading.rejected.append(RejectedReading(whole.reason, whole.detail, value))
        return reading
    try:
        batch = _BATCH.validate_json(value)
    except ValidationError:
        vitals = _readings_one_by_one(value, limits, reading)
    else:
        reading.batch_id = batch.batch_id
        vitals = batch.vitals
    earliest, latest = limits.plausible_times(arrival)  # once per batch
    for vital in vitals:
        too_old_or_new = (
            None
            if earliest <= vital.event_time <= latest
            else implausible_time(vital.event_time, arrival, limits)
        )
        if too_old_or_new is not None:
            reading.rejected.append(
                RejectedReading(
                    DeadLetterReason.IMPLAUSIBLE_TIME,
                    f"batch {reading.batch_id!r}: {too_old_or_new}",
                    vital.model_dump_json().encode(),
                )
            )
            continue
        owner = partition_of(vital.patient_ref.encode(), partitions)
        if owner == partition:
            reading.by_patient[vital.patient_ref].append(vital)
        else:
            reading.elsewhere[owner].append(vital)
    return reading


def validate_raw_envelope(value: bytes | None, limits: IngestLimits) -> Rejected:
    """Why a message that cannot be read as a batch at all is rejected (as ingest says it)."""
    from schemas.topics import TELEMETRY_RAW

    outcome = validate_raw(TELEMETRY_RAW, None, value, limits=limits)
    assert isinstance(outcome, Rejected), "only called for a message that fails as a whole"
    return outcome


def _readings_one_by_one(
    value: bytes, limits: IngestLimits, reading: BatchReading
) -> list[VitalSigns]:
    """The slow path: the envelope failed validation. If it is an object with a ``vitals``
    list, each reading is judged on its own; otherwise the message is rejected whole."""
    try:
        document = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        document = None
    items = document.get("vitals") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        whole = validate_raw_envelope(value, limits)
        reading.rejected.append(RejectedReading(whole.reason, whole.detail, value))
        return []
    batch_id = document.get("batch_id") if isinstance(document, dict) else None
    reading.batch_id = batch_id if isinstance(batch_id, str) else ""
    extra = set(document) - {"batch_id", "vitals"}
    if extra or not reading.batch_id:
        problem = f"unknown fields {sorted(extra)}" if extra else "no batch_id"
        reading.rejected.append(
            RejectedReading(DeadLetterReason.SCHEMA_VIOLATION, f"envelope: {problem}", value)
        )
        return []
    good: list[VitalSigns] = []
    for index, item in enumerate(items):
        text = json.dumps(item, allow_nan=True).encode()
        try:
            good.append(_VITALS.validate_json(text))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(reading)'}: {e['msg']}"
                for e in errors[:5]
            )
            reading.rejected.append(
                RejectedReading(
                    DeadLetterReason.SCHEMA_VIOLATION,
                    f"batch {reading.batch_id!r} reading {index}: {detail}"[:1000],
                    text,
                )
            )
    return good
