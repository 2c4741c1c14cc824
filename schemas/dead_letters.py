"""Dead letters: the original bytes of a rejected message, and why it was rejected.

A dead letter keeps the rejected message's key and value byte for byte; the reason
travels in Kafka headers (the convention Kafka Connect uses), so a fixed message can
be replayed onto its source topic unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class DeadLetterReason(StrEnum):
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    SCHEMA_VIOLATION = "schema_violation"
    KEY_MISMATCH = "key_mismatch"


#: Header names on every dead letter.
HEADER_REASON = "pumpstream.dlq.reason"
HEADER_DETAIL = "pumpstream.dlq.detail"
HEADER_SOURCE_TOPIC = "pumpstream.dlq.source_topic"
HEADER_SOURCE_PARTITION = "pumpstream.dlq.source_partition"
HEADER_SOURCE_OFFSET = "pumpstream.dlq.source_offset"
