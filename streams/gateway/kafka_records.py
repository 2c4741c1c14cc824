"""The records the gateway writes: events onto the raw topics, refused messages onto the raw
topic's dead-letter topic.

A dead letter keeps the message byte for byte except what identifies the patient (DOMAIN.md §5:
the MRN never enters Kafka): the PID segment is replaced by one that names the pseudonymous
``patient_ref`` alone (``PID|||ps-...``), and the segments that carry other people's or insurance
identifiers (PD1, NK1, MRG, GT1, IN1-IN3) are emptied to their names. Segment separators, every
other byte and the character set stay as received. Headers follow ``schemas/dead_letters.py``
(reason, detail), with ``pumpstream.dlq.source: hl7-mllp`` for the source (no topic, partition or
offset: the message never was on one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import hl7
from hl7.exceptions import ParseException

from schemas.dead_letters import HEADER_DETAIL, HEADER_REASON
from streams.gateway.hl7_reading import Message
from streams.gateway.message_facts import Mapped
from streams.gateway.message_mapping import patient_identifier
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.rejections import Rejection

#: Where a gateway dead letter came from (the ingest's dead letters name a source topic instead).
HEADER_SOURCE = "pumpstream.dlq.source"
SOURCE_MLLP = b"hl7-mllp"
#: Segments emptied in a dead letter besides PID: patient demographics, next of kin, merged
#: identifiers, guarantor, insurance.
IDENTIFYING_SEGMENTS = ("PD1", "NK1", "MRG", "GT1", "IN1", "IN2", "IN3")
_SEPARATORS = re.compile(r"(\r\n|\r|\n)")
MAX_DETAIL_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def event_records(mapped: Mapped) -> list[Record]:
    return [Record(e.topic.name, e.key, e.value) for e in mapped.events]


def _patient_ref(msh: str, pid: str, pseudonymiser: Pseudonymiser) -> str | None:
    """The pseudonym of the PID segment's patient, read with the message's own delimiters."""
    try:
        message = Message(hl7.parse(f"{msh}\r{pid}"))
    except (ParseException, ValueError, IndexError, KeyError):
        return None
    pid_segment = message.first("PID")
    patient = patient_identifier(pid_segment) if pid_segment is not None else None
    return pseudonymiser.patient_ref(*patient) if patient is not None else None


def redacted(payload: bytes, pseudonymiser: Pseudonymiser) -> tuple[bytes, str | None]:
    """``payload`` without the patient's identifiers, and its ``patient_ref`` when PID-3 could
    be read. Latin-1 maps bytes to characters one to one, so every other byte is kept."""
    parts = _SEPARATORS.split(payload.decode("latin-1"))
    msh = next((p for p in parts if p.startswith("MSH")), "")
    delimiter = msh[3] if len(msh) > 3 else "|"
    patient_ref: str | None = None
    for index in range(0, len(parts), 2):
        name = parts[index][:3]
        if name == "PID":
            if patient_ref is None and msh:
                patient_ref = _patient_ref(msh, parts[index], pseudonymiser)
            parts[index] = f"PID{delimiter * 3}{patient_ref}" if patient_ref else "PID"
        elif name in IDENTIFYING_SEGMENTS:
            parts[index] = name
    return "".join(parts).encode("latin-1", errors="replace"), patient_ref


def dead_letter(payload: bytes, rejection: Rejection, pseudonymiser: Pseudonymiser) -> Record:
    """The record that keeps a refused message on its feed's dead-letter topic."""
    assert rejection.feed.dlq is not None
    value, patient_ref = redacted(payload, pseudonymiser)
    headers = (
        (HEADER_REASON, rejection.reason.value.encode()),
        (HEADER_DETAIL, rejection.detail[:MAX_DETAIL_CHARS].encode()),
        (HEADER_SOURCE, SOURCE_MLLP),
    )
    key = patient_ref.encode() if patient_ref else None
    return Record(rejection.feed.dlq, key, value, headers)
