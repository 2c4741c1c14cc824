"""Writing dead letters, for every stage: the original key and value with the reason in headers
(``schemas/dead_letters.py``), a value too large for a Kafka message kept by reference, and
WARNING lines rate-limited per source topic and reason, with counts (a burst of 17,000 bad
messages is a handful of lines, not 17,000)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.dead_letters import (
    HEADER_DETAIL,
    HEADER_ORIGINAL_SHA256,
    HEADER_ORIGINAL_SIZE,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    DeadLetterReason,
)

#: The largest value kept whole: Kafka's (and aiokafka's) default message limit is 1 MiB, and
#: the key, headers and record overhead need room beside the value.
MAX_WHOLE_VALUE_BYTES = 900_000
#: What is kept of a larger value: its first bytes (enough to see what it was).
KEPT_PREFIX_BYTES = 16_384
#: Longest detail header.
MAX_DETAIL_CHARS = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a message was set aside, and where it came from."""

    reason: DeadLetterReason
    detail: str
    source_topic: str
    partition: int
    offset: int


def processing_failure(message: Any, error: BaseException, where: str) -> DeadLetter:
    """The letter for a message an agent raised on (``processing.dlq``): the exception's class
    and text, where it was raised, and where the message came from."""
    return DeadLetter(
        DeadLetterReason.PROCESSING_FAILED,
        f"{type(error).__name__} in {where}: {error}",
        message.topic,
        message.partition,
        message.offset,
    )


def dead_letter_record(
    value: bytes | None, letter: DeadLetter, *, max_whole_bytes: int = MAX_WHOLE_VALUE_BYTES
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value and headers to write: the value whole, or by reference when it is larger than
    ``max_whole_bytes`` (its first bytes, with its size and SHA-256 in headers)."""
    headers = [
        (HEADER_REASON, letter.reason.value.encode()),
        (HEADER_DETAIL, letter.detail[:MAX_DETAIL_CHARS].encode()),
        (HEADER_SOURCE_TOPIC, letter.source_topic.encode()),
        (HEADER_SOURCE_PARTITION, str(letter.partition).encode()),
        (HEADER_SOURCE_OFFSET, str(letter.offset).encode()),
    ]
    if value is not None and len(value) > max_whole_bytes:
        headers += [
            (HEADER_ORIGINAL_SIZE, str(len(value)).encode()),
            (HEADER_ORIGINAL_SHA256, hashlib.sha256(value).hexdigest().encode()),
        ]
        value = value[:KEPT_PREFIX_BYTES]
    return value, headers


@dataclass
class _Burst:
    last_logged: float
    suppressed: int = 0


@dataclass
class RateLimitedLog:
    """At most one line per key per ``interval_s``; the next line says how many were held back."""

    logger: logging.Logger
    interval_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _bursts: dict[tuple[str, ...], _Burst] = field(default_factory=dict)

    def warning(self, key: tuple[str, ...], message: str, *args: Any) -> None:
        now = self.clock()
        burst = self._bursts.get(key)
        if burst is not None and now - burst.last_logged < self.interval_s:
            burst.suppressed += 1
            return
        held = 0 if burst is None else burst.suppressed
        suffix = f" (and {held} more like it in the last {self.interval_s:g} s)" if held else ""
        self.logger.warning(message + suffix, *args)
        self._bursts[key] = _Burst(now)


class DeadLetterSink:
    """Sends dead letters to a Faust topic and logs them, rate-limited."""

    def __init__(self, logger: logging.Logger, *, log_interval_s: float = 10.0) -> None:
        self._log = RateLimitedLog(logger, log_interval_s)

    async def send(
        self, topic: Any, key: bytes | None, value: bytes | None, letter: DeadLetter
    ) -> None:
        """Write ``value`` to the Faust ``topic`` as a dead letter (never raises for its size)."""
        self._log.warning(
            (letter.source_topic, letter.reason.value),
            "dead letter from %s[%s]@%s to %s: %s",
            letter.source_topic,
            letter.partition,
            letter.offset,
            topic.get_topic_name(),
            letter.reason.value,
        )
        kept, headers = dead_letter_record(value, letter)
        await topic.send(key=key, value=kept, headers=headers)
