"""Reading a telemetry batch (``telemetry.raw``) in the clinical agent: one validation of the
whole envelope on the usual path, each reading on its own only when the envelope fails, so one
bad reading never costs the others.

The clinical agent reads ``telemetry.raw`` itself (one Faust hop per batch instead of ingest ->
validated topic -> clinical: docs/benchmarks.md measures both), with ingest's rules: the same
schema, the same plausibility window on event time, dead letters to the raw topic's dead-letter
topic. A reading whose patient belongs to another partition (a producer that did not batch by
partition) is sent on to that partition, never dropped.

The envelope is decoded first by msgspec into plain structs and read straight into the
``Reading`` tuples the state keeps (``_fast_reading``): ~4x cheaper than pydantic's validation
of the whole envelope into models (docs/benchmarks.md, "Hot-path decode"). That fast path only
ever *accepts* what the pydantic schemas accept, with the same values: anything it does not
accept outright (a schema error, a time outside the plausible window, a reading of another
partition, an unusual but valid time format) is read again by the pydantic path, which alone
decides rejections and dead letters. So the schemas stay the single source of what is valid, and
``tests/unit/clinical/test_telemetry_fast_path.py`` proves the two readings equal for any input.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from pydantic import TypeAdapter, ValidationError

from schemas.base import EventId, PatientRef
from schemas.dead_letters import DeadLetterReason
from schemas.events import VITAL_BOUNDS, Validity, VitalSigns
from schemas.raw_validation import IngestLimits, Rejected, implausible_time, validate_raw
from schemas.telemetry import MAX_BATCH_VITALS, TelemetryBatch
from streams.clinical.vitals_assessment import Reading
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

    #: patient_ref -> the readings for this partition's patients, in the message's order, as
    #: the state keeps them.
    by_patient: dict[str, list[Reading]] = field(default_factory=lambda: defaultdict(list))
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
    fast = _fast_reading(value, partition, partitions, arrival, limits)
    if fast is not None:
        return fast
    return _schema_reading(value, partition, partitions, arrival, limits, reading)


def _schema_reading(
    value: bytes,
    partition: int,
    partitions: int,
    arrival: datetime,
    limits: IngestLimits,
    reading: BatchReading,
    sent: defaultdict[str, list[VitalSigns]] | None = None,
) -> BatchReading:
    """:func:`read_batch` by the pydantic schemas: what decides every rejection (and, into
    ``sent``, the validated events of this partition's readings)."""
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
            reading.by_patient[vital.patient_ref].append(Reading.of(vital))
            if sent is not None:
                sent[vital.patient_ref].append(vital)
        else:
            reading.elsewhere[owner].append(vital)
    return reading


def sent_readings(
    value: bytes,
    patient_ref: str,
    *,
    partition: int,
    partitions: int,
    arrival: datetime,
    limits: IngestLimits,
) -> list[VitalSigns]:
    """The readings of ``patient_ref`` that :func:`read_batch` (with the same arguments) gave,
    as the schema validated them: what is set aside when that patient's step fails."""
    sent: defaultdict[str, list[VitalSigns]] = defaultdict(list)
    _schema_reading(value, partition, partitions, arrival, limits, BatchReading(), sent)
    return sent[patient_ref]


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


# The fast path. Constraints are read from the pydantic schemas, never restated.


def _full_match(annotated: Any) -> tuple[re.Pattern[str], int]:
    """A string type's pattern and maximum length, from its JSON Schema (the pattern to be used
    with ``fullmatch``: with ``match``, its ``$`` would also match before a final newline,
    which pydantic's regex does not)."""
    schema = TypeAdapter[str](annotated).json_schema()
    return re.compile(schema["pattern"]), schema["maxLength"]


_EVENT_ID, _EVENT_ID_MAX = _full_match(EventId)
_PATIENT_REF, _PATIENT_REF_MAX = _full_match(PatientRef)
#: An event time the fast path reads itself: RFC 3339 with ``T``, seconds and an offset, as
#: devices and the gateway write it. Any other form the schema takes (``t``, a space, no
#: seconds, ...) is read by the pydantic path.
_EVENT_TIME = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)
_VALID = Validity.VALID
_INVALID = Validity.INVALID
_BOUNDS = tuple(VITAL_BOUNDS.values())
_READING = Reading._make
#: partitions -> patient_ref -> its partition, for references found valid (each cleared when
#: it holds ``_OWNERS_KEPT``).
_OWNERS: dict[int, dict[str, int]] = {}
_OWNERS_KEPT = 1 << 17


class _Measurement(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    value: float
    validity: Validity = Validity.VALID


class _Vitals(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """``VitalSigns`` as JSON (the test asserts the same fields), its strings checked after."""

    event_id: str
    patient_ref: str
    event_time: str
    kind: Literal["vitals"] = "vitals"
    heart_rate_bpm: _Measurement | None = None
    systolic_mmhg: _Measurement | None = None
    diastolic_mmhg: _Measurement | None = None
    temperature_c: _Measurement | None = None
    spo2_percent: _Measurement | None = None
    respiratory_rate_per_min: _Measurement | None = None


class _Batch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    batch_id: str
    vitals: list[_Vitals]


_DECODER = msgspec.json.Decoder(_Batch)


def _fast_reading(
    value: bytes, partition: int, partitions: int, arrival: datetime, limits: IngestLimits
) -> BatchReading | None:
    """The envelope read into ``Reading``s when every reading in it is valid, within the
    plausible window and of this partition; else None (the pydantic path reads it)."""
    try:
        batch = _DECODER.decode(value)
    except msgspec.MsgspecError:
        return None
    vitals = batch.vitals
    if not (
        0 < len(vitals) <= MAX_BATCH_VITALS
        and len(batch.batch_id) <= _EVENT_ID_MAX
        and _EVENT_ID.fullmatch(batch.batch_id)
    ):
        return None
    earliest, latest = limits.plausible_times(arrival)
    owners = _OWNERS.setdefault(partitions, {})
    times: dict[str, datetime] = {}  # (the readings of one envelope share a few times)
    by_patient: defaultdict[str, list[Reading]] = defaultdict(list)
    for vital in vitals:
        ref = vital.patient_ref
        owner = owners.get(ref)
        if owner is None:
            if not (len(ref) <= _PATIENT_REF_MAX and _PATIENT_REF.fullmatch(ref)):
                return None
            owner = partition_of(ref.encode(), partitions)
            if len(owners) >= _OWNERS_KEPT:
                owners.clear()
            owners[ref] = owner
        if owner != partition:
            return None
        event_id = vital.event_id
        if not (len(event_id) <= _EVENT_ID_MAX and _EVENT_ID.fullmatch(event_id)):
            return None
        when = times.get(vital.event_time)
        if when is None:
            when = _event_time(vital.event_time)
            if when is None or not earliest <= when <= latest:
                return None
            times[vital.event_time] = when
        hr, sbp, temp, spo2 = (
            vital.heart_rate_bpm,
            vital.systolic_mmhg,
            vital.temperature_c,
            vital.spo2_percent,
        )
        if not _measurements_valid(
            (hr, sbp, vital.diastolic_mmhg, temp, spo2, vital.respiratory_rate_per_min)
        ):
            return None
        by_patient[ref].append(
            _READING(
                (
                    when,
                    event_id,
                    None if hr is None or hr.validity is not _VALID else hr.value,
                    None if sbp is None or sbp.validity is not _VALID else sbp.value,
                    None if temp is None or temp.validity is not _VALID else temp.value,
                    None if spo2 is None or spo2.validity is not _VALID else spo2.value,
                )
            )
        )
    return BatchReading(by_patient=by_patient, batch_id=batch.batch_id)


def _event_time(text: str) -> datetime | None:
    if not _EVENT_TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _measurements_valid(measurements: tuple[_Measurement | None, ...]) -> bool:
    """``VitalSigns``' own check: at least one measured, each valid or questionable one within
    its bounds (in ``VITAL_BOUNDS``' order, the struct's)."""
    measured = False
    for m, (low, high) in zip(measurements, _BOUNDS, strict=True):
        if m is None:
            continue
        measured = True
        # (An invalid value may be out of bounds, never infinite: msgspec rejects a number
        # beyond a double's range, as the schema does.)
        if m.validity is not _INVALID and not low <= m.value <= high:
            return False
    return measured
