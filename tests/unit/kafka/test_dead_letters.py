"""Dead letters: headers, values too large for a Kafka message kept by reference, and log lines
rate-limited with counts."""

from __future__ import annotations

import hashlib
import logging

import pytest

from schemas.dead_letters import (
    HEADER_ORIGINAL_SHA256,
    HEADER_ORIGINAL_SIZE,
    HEADER_REASON,
    HEADER_SOURCE_TOPIC,
    DeadLetterReason,
)
from streams.kafka.dead_letters import (
    KEPT_PREFIX_BYTES,
    DeadLetter,
    RateLimitedLog,
    dead_letter_record,
)

LETTER = DeadLetter(DeadLetterReason.OVERSIZE, "too big", "vitals.raw", 3, 41)


def test_a_small_value_is_kept_whole_with_the_reason_in_headers() -> None:
    value, headers = dead_letter_record(b"original", LETTER)
    assert value == b"original"
    found = dict(headers)
    assert found[HEADER_REASON] == b"oversize"
    assert found[HEADER_SOURCE_TOPIC] == b"vitals.raw"
    assert HEADER_ORIGINAL_SIZE not in found


def test_a_value_too_large_for_kafka_is_kept_by_reference() -> None:
    big = b"y" * 2_000_000
    value, headers = dead_letter_record(big, LETTER)
    assert value == big[:KEPT_PREFIX_BYTES]
    found = dict(headers)
    assert found[HEADER_ORIGINAL_SIZE] == b"2000000"
    assert found[HEADER_ORIGINAL_SHA256] == hashlib.sha256(big).hexdigest().encode()
    assert sum(len(k) + len(v) for k, v in headers) + len(value or b"") < 1_000_000


def test_dead_letter_lines_are_rate_limited_with_counts(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.dlq"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.dlq"):
        for _ in range(17_000):
            limited.warning(("vitals.raw", "not_json"), "dead letter %s", "x")
        limited.warning(("vitals.raw", "oversize"), "dead letter %s", "y")  # another key
        now[0] = 10.5
        limited.warning(("vitals.raw", "not_json"), "dead letter %s", "z")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "dead letter x",
        "dead letter y",
        "dead letter z (and 16999 more like it in the last 10 s)",
    ]
