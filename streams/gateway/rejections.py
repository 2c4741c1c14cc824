"""Why the gateway refuses a message: the reason codes (the dead letter's reason header and the
``reason`` label), the HL7 error code (table 0357) its ``ERR`` segment carries, and where in the
message the problem is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.topics import PUMP_EVENTS_RAW, TopicSpec
from streams.gateway.codes import CodeKind


class RejectReason(StrEnum):
    """Why a message was answered ``AR`` and dead-lettered (or, too large, only refused)."""

    #: Not an HL7 v2 message: no MSH segment, or delimiters that cannot be read.
    NOT_HL7 = "hl7_not_parsed"
    #: Not UTF-8 (or the MSH-18 character set) text.
    NOT_TEXT = "hl7_not_text"
    #: A message type, trigger, processing id or version the gateway does not take.
    UNSUPPORTED_MESSAGE = "hl7_unsupported_message"
    #: A code (observation, unit, event, status, product, site) outside the gateway's tables.
    UNKNOWN_CODE = "hl7_unknown_code"
    #: A field the mapping needs is empty (PID-3, OBR-7, the order number, the rate...).
    MISSING_FIELD = "hl7_missing_field"
    #: A value of the wrong type or out of range (a rate of "fast", a time without a UTC offset).
    INVALID_VALUE = "hl7_invalid_value"
    #: Larger than ``PUMPSTREAM_GATEWAY_MAX_MESSAGE_BYTES``: refused, not kept.
    TOO_LARGE = "hl7_too_large"


#: HL7 table 0357 (message error condition codes) for each reason.
HL7_ERROR_CODES: dict[RejectReason, tuple[str, str]] = {
    RejectReason.NOT_HL7: ("100", "Segment sequence error"),
    RejectReason.NOT_TEXT: ("102", "Data type error"),
    RejectReason.UNSUPPORTED_MESSAGE: ("200", "Unsupported message type"),
    RejectReason.UNKNOWN_CODE: ("103", "Table value not found"),
    RejectReason.MISSING_FIELD: ("101", "Required field missing"),
    RejectReason.INVALID_VALUE: ("102", "Data type error"),
    RejectReason.TOO_LARGE: ("207", "Application internal error"),
}
#: Table 0357 code of an ``AE``: Kafka did not acknowledge in time (the sender should resend).
KAFKA_UNAVAILABLE_ERROR = ("207", "Application internal error")


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message the gateway cannot turn into events, and why (never any patient data in
    ``detail``: it goes to the dead letter's headers, the ACK and the log)."""

    reason: RejectReason
    detail: str
    #: Where: ``OBX^3^3`` (segment, occurrence, field) for ERR-2, or empty.
    location: str = ""
    #: For an unknown code: which kind (the metric's label).
    code_kind: CodeKind | None = None
    #: The raw topic whose dead-letter topic keeps the message (the feed it belongs to).
    feed: TopicSpec = PUMP_EVENTS_RAW

    @property
    def hl7_error(self) -> tuple[str, str]:
        return HL7_ERROR_CODES[self.reason]


def unknown_code(
    kind: CodeKind, what: str, location: str, feed: TopicSpec = PUMP_EVENTS_RAW
) -> Rejection:
    detail = f"unknown {kind.value} {what}"
    return Rejection(RejectReason.UNKNOWN_CODE, detail, location, kind, feed)
