"""What ingest promises for any raw message, checked the same way by the hypothesis properties
and the atheris entry point: ``validate_raw`` returns (never raises); an accepted message
round-trips and is keyed by its patient; a rejected one carries one of ingest's reasons and a
detail the dead-letter sink can write as a header, with a value within Kafka's limit."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.dead_letters import HEADER_DETAIL, DeadLetterReason
from schemas.raw_validation import Accepted, IngestLimits, Rejected, validate_raw
from schemas.topics import TopicSpec
from streams.kafka.dead_letters import (
    MAX_DETAIL_CHARS,
    MAX_WHOLE_VALUE_BYTES,
    DeadLetter,
    dead_letter_record,
)

#: The arrival every check validates against.
ARRIVAL = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
#: Every reason ingest gives (``processing_failed`` is the agents' guard, never ingest's verdict).
INGEST_REASONS = set(DeadLetterReason) - {DeadLetterReason.PROCESSING_FAILED}
DEFAULT_LIMITS = IngestLimits()


def check(
    spec: TopicSpec,
    key: bytes | None,
    value: bytes | None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Accepted | Rejected:
    """Validate as the ingest agent does and check what every outcome promises."""
    outcome = validate_raw(spec, key, value, arrival=ARRIVAL, limits=limits)
    if isinstance(outcome, Accepted):
        assert outcome.key == outcome.event.patient_ref.encode()
        assert key is None or key == outcome.key
        again = validate_raw(spec, outcome.key, outcome.value, arrival=ARRIVAL, limits=limits)
        assert isinstance(again, Accepted), again
        assert again.event == outcome.event
        assert again.value == outcome.value
        return outcome
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason in INGEST_REASONS
    assert outcome.detail
    # What the dead-letter sink writes: the detail as a UTF-8 header (encoding it raises on a
    # lone surrogate), the value within Kafka's limit.
    letter = DeadLetter(outcome.reason, outcome.detail, spec.name, 0, 0)
    kept, headers = dead_letter_record(value, letter)
    assert len(dict(headers)[HEADER_DETAIL]) <= 4 * MAX_DETAIL_CHARS
    assert kept is None or len(kept) <= MAX_WHOLE_VALUE_BYTES
    return outcome
