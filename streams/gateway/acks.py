"""The HL7 ACK the gateway answers each message with (original-mode acknowledgement, HL7 v2.6
chapter 2.9): ``MSH`` + ``MSA`` (+ ``ERR`` for ``AE``/``AR``).

- ``AA``: every event the message carries is on its raw topic, acknowledged by Kafka;
- ``AR``: refused for good and kept on the dead-letter topic (do not resend unchanged);
- ``AE``: Kafka did not acknowledge in time (resend: a resent message is a duplicate downstream).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from schemas.hl7_er7 import components, escape, message, segment
from streams.gateway.hl7_reading import Header

SENDING_APPLICATION = "PUMPSTREAM_GATEWAY"
#: MSA-3 and ERR-8 are cut to this many characters.
MAX_TEXT_CHARS = 200


class AckCode(StrEnum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


def _field(value: str) -> str:
    """A field echoed from the sender (``APP^EUI64^EUI-64``), its components escaped."""
    return components(*value.split("^")) if value else ""


def ack_message(
    code: AckCode,
    header: Header,
    *,
    error: tuple[str, str] | None = None,
    text: str = "",
    location: str = "",
    now: datetime | None = None,
) -> bytes:
    """The ACK for the message whose MSH is ``header``; ``error`` is the table 0357 code and its
    name, ``text`` what went wrong in words, ``location`` ERR-2 (``OBX^3^3``)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%z")
    msh = segment(
        "MSH",
        {
            3: SENDING_APPLICATION,
            5: _field(header.sending_application),
            6: _field(header.sending_facility),
            7: stamp,
            9: components("ACK", header.trigger, "ACK"),
            10: escape(uuid.uuid4().hex[:20]),
            11: escape(header.processing_id or "P"),
            12: escape(header.version or "2.6"),
        },
    )
    short = text[:MAX_TEXT_CHARS]
    msa = segment("MSA", {1: code.value, 2: escape(header.control_id), 3: escape(short)})
    segments = [msh, msa]
    if error is not None:
        code_0357, name = error
        err_fields = {
            2: components(*location.split("^")) if location else "",
            3: components(code_0357, name, "HL70357"),
            4: "E",
            8: escape(short),
        }
        segments.append(segment("ERR", err_fields))
    return message(segments).encode("utf-8")
