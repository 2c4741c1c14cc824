"""Dead letters: the original bytes of a rejected message, and why it was rejected.

A dead letter keeps the rejected message's key and value byte for byte; the reason
travels in Kafka headers (the convention Kafka Connect uses), so a fixed message can
be replayed onto its source topic unchanged. The one exception: a value too large for a Kafka
message is kept by reference (its first bytes, its size and SHA-256 in headers).
"""

from __future__ import annotations

from enum import StrEnum


class DeadLetterReason(StrEnum):
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    SCHEMA_VIOLATION = "schema_violation"
    KEY_MISMATCH = "key_mismatch"
    #: The event time is implausibly far from when the message arrived (a device clock set to
    #: 2126 or year 1 would otherwise make every later alert "late" or overflow date arithmetic).
    IMPLAUSIBLE_TIME = "implausible_time"
    #: Larger than the ingest limit; dead-lettered by reference (the value is truncated).
    OVERSIZE = "oversize"
    #: An agent raised on this message; the message is set aside so the partition moves on
    #: (the exception class is in the detail; ``processing.dlq``).
    PROCESSING_FAILED = "processing_failed"


#: Header names on every dead letter.
HEADER_REASON = "pumpstream.dlq.reason"
HEADER_DETAIL = "pumpstream.dlq.detail"
HEADER_SOURCE_TOPIC = "pumpstream.dlq.source_topic"
HEADER_SOURCE_PARTITION = "pumpstream.dlq.source_partition"
HEADER_SOURCE_OFFSET = "pumpstream.dlq.source_offset"
#: On a dead letter whose value had to be truncated to fit Kafka's message size limit: the
#: original value's size in bytes and SHA-256 (hex); the value holds its first bytes.
HEADER_ORIGINAL_SIZE = "pumpstream.dlq.original_size"
HEADER_ORIGINAL_SHA256 = "pumpstream.dlq.original_sha256"
