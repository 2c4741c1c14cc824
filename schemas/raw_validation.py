"""Ingest: parse and validate raw bytes once, at the edge; reject with a reason, never raise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.dead_letters import DeadLetterReason
from schemas.topics import TopicSpec

_MAX_DETAIL_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Accepted:
    event: Any
    key: bytes
    #: Canonical JSON of the validated event, as written to the validated topic.
    value: bytes


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What ingest accepts beyond the schema (settings: ``PUMPSTREAM_MAX_MESSAGE_BYTES``,
    ``PUMPSTREAM_EVENT_TIME_MAX_AGE_DAYS``, ``PUMPSTREAM_EVENT_TIME_MAX_AHEAD_S``)."""

    max_message_bytes: int = 262_144
    #: How far an event time may lie before / after the message's arrival.
    max_age: timedelta = timedelta(days=3650)
    max_ahead: timedelta = timedelta(days=1)

    def plausible_times(self, arrival: datetime) -> tuple[datetime, datetime]:
        """The earliest and latest event time plausible for a message arriving at ``arrival``."""
        return arrival - self.max_age, arrival + self.max_ahead


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: DeadLetterReason
    detail: str


def _describe(errors: list[ErrorDetails]) -> str:
    """The first errors, as many as the detail holds (a message with 20,000 unknown keys has
    20,000 errors: describing them all cost the agent tenths of a second per message)."""
    parts: list[str] = []
    length = 0
    for error in errors:
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        got = error.get("input")
        shown = repr(got)[:60] if not isinstance(got, dict | list) else type(got).__name__
        parts.append(f"{where}: {error['msg']} (got {shown})")
        length += len(parts[-1]) + 2
        if length >= _MAX_DETAIL_CHARS:
            break
    return "; ".join(parts)[:_MAX_DETAIL_CHARS]


def validate_raw(
    spec: TopicSpec,
    key: bytes | None,
    value: bytes | None,
    *,
    arrival: datetime | None = None,
    limits: IngestLimits = IngestLimits(),
) -> Accepted | Rejected:
    """Validate one raw message of ``spec``'s topic into its model; with ``arrival`` (the agent
    always gives it), its event time must also be plausible for that moment (offline checks of a
    recording leave it out)."""
    assert spec.value_adapter is not None, f"{spec.name} has no value model"
    if value is None:
        return Rejected(DeadLetterReason.NOT_JSON, "empty message (no value)")
    if len(value) > limits.max_message_bytes:
        return Rejected(
            DeadLetterReason.OVERSIZE,
            f"{len(value)} bytes, more than the {limits.max_message_bytes} ingest accepts "
            "(not parsed)",
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(DeadLetterReason.NOT_UTF8, f"not UTF-8 at byte {exc.start}")
    try:
        event = spec.value_adapter.validate_json(text)
    except ValidationError as exc:
        # Once, and without documentation URLs: building them was most of the cost of a
        # message with thousands of errors.
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return Rejected(DeadLetterReason.NOT_JSON, _describe(errors))
        return Rejected(DeadLetterReason.SCHEMA_VIOLATION, _describe(errors))
    implausible = None if arrival is None else implausible_time(event.event_time, arrival, limits)
    if implausible is not None:
        return Rejected(DeadLetterReason.IMPLAUSIBLE_TIME, implausible)
    patient_ref: str = event.patient_ref
    if key is not None and key != patient_ref.encode():
        return Rejected(
            DeadLetterReason.KEY_MISMATCH,
            "message key does not equal the event's patient_ref "
            "(clinical topics are keyed by patient_ref)",
        )
    return Accepted(event, patient_ref.encode(), event.model_dump_json().encode())


def implausible_time(event_time: datetime, arrival: datetime, limits: IngestLimits) -> str | None:
    """Why ``event_time`` is not plausible for a message arriving at ``arrival``, or None."""
    earliest, latest = limits.plausible_times(arrival)
    if event_time < earliest:
        return (
            f"event_time {event_time.isoformat()} is more than {limits.max_age.days} days before "
            f"its arrival at {arrival.isoformat(timespec='seconds')}"
        )
    if event_time > latest:
        return (
            f"event_time {event_time.isoformat()} is more than "
            f"{limits.max_ahead.total_seconds():g} s after its arrival at "
            f"{arrival.isoformat(timespec='seconds')} (a device clock ahead?)"
        )
    return None
