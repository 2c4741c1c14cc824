"""The raw topics the clinical agent reads itself: what it needs for them (:class:`RawIntake`),
and one raw clinical event read with the ingest stage's validation and dead-letter reasons
(:func:`read_raw`, on :func:`schemas.raw_validation.validate_raw`), with whether this partition
owns the event's patient.

Why here: every Faust hop costs a message its fetch, its trip through Faust's stream and a
produce; reading the raw topic in the clinical agent saves one of two (docs/benchmarks.md,
"One hop for clinical events"). A valid event's patient is owned by the partition its
``patient_ref`` hashes to; a producer that sent it without a key (or to a partition of its own
choosing) put it elsewhere, and that partition's worker may not hold the patient's state, so the
event is sent on to the owner's partition of the same raw topic, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.raw_validation import Accepted, IngestLimits, Rejected, validate_raw
from schemas.topics import TopicSpec
from streams.kafka.partitioning import partition_of


@dataclass(frozen=True, slots=True)
class RawIntake:
    """What reading raw topics needs beyond the clinical stage's own (``telemetry.raw`` always,
    the raw clinical topics in a worker running every stage): ingest's limits, the partition
    count (to tell this partition's patients from others'), and ingest's dead letter counter
    (``pumpstream_dead_letters_total``, by raw topic and reason)."""

    limits: IngestLimits
    partitions: int
    dead_letters: Any
    #: The raw clinical topics this agent reads and validates itself (a worker running every
    #: stage: one hop); empty when an ingest worker validates them (split stages).
    raw_topics: tuple[TopicSpec, ...] = ()


#: A header on an event sent on to its patient's partition: where it was read,
#: ``"<partition>@<offset>"`` of the same topic (the copy is the original bytes).
HEADER_FORWARDED_FROM = "pumpstream.forwarded_from"


@dataclass(frozen=True, slots=True)
class Misrouted:
    """A valid event on a partition that does not own its patient."""

    #: The patient_ref, as the message key the forwarded copy carries.
    key: bytes
    #: The partition that owns the patient.
    owner: int


def read_raw(
    spec: TopicSpec,
    key: bytes | None,
    value: bytes | None,
    *,
    partition: int,
    partitions: int,
    arrival: datetime,
    limits: IngestLimits,
) -> Accepted | Rejected | Misrouted:
    """One message of ``spec``'s raw topic, read on ``partition`` of ``partitions``: accepted
    (its validated form), rejected (the dead-letter reason), or misrouted (never raises)."""
    outcome = validate_raw(spec, key, value, arrival=arrival, limits=limits)
    if isinstance(outcome, Rejected):
        return outcome
    owner = partition_of(outcome.key, partitions)
    return outcome if owner == partition else Misrouted(outcome.key, owner)
