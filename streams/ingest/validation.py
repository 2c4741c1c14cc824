"""Ingest: parse and validate raw bytes once, at the edge; reject with a reason, never raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

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
class Rejected:
    reason: DeadLetterReason
    detail: str


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        got = error.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        parts.append(f"{where}: {error['msg']} (got {shown[:60]})")
    return "; ".join(parts)[:_MAX_DETAIL_CHARS]


def validate_raw(spec: TopicSpec, key: bytes | None, value: bytes | None) -> Accepted | Rejected:
    """Validate one raw message of ``spec``'s topic into its model."""
    assert spec.value_adapter is not None, f"{spec.name} has no value model"
    if value is None:
        return Rejected(DeadLetterReason.NOT_JSON, "empty message (no value)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(DeadLetterReason.NOT_UTF8, f"not UTF-8 at byte {exc.start}")
    try:
        event = spec.value_adapter.validate_json(text)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return Rejected(DeadLetterReason.NOT_JSON, _describe(exc))
        return Rejected(DeadLetterReason.SCHEMA_VIOLATION, _describe(exc))
    patient_ref: str = event.patient_ref
    if key is not None and key != patient_ref.encode():
        return Rejected(
            DeadLetterReason.KEY_MISMATCH,
            "message key does not equal the event's patient_ref "
            "(clinical topics are keyed by patient_ref)",
        )
    return Accepted(event, patient_ref.encode(), event.model_dump_json().encode())
