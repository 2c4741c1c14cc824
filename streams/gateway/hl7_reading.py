"""Reading one HL7 v2 message: its bytes as text (MSH-18), parsed by the ``hl7`` package, and
read field by field without exceptions (an absent field is empty, as HL7 means it).

Segment separators are CR; a sender that ends segments with LF or CR LF is read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import hl7
from hl7.datatypes import parse_datetime
from hl7.exceptions import ParseException

from streams.gateway.rejections import Rejection, RejectReason

#: MSH-18 character sets the gateway reads (HL7 table 0211); empty means the default, which
#: pumpstream takes to be UTF-8 (HL7 v2.8's preferred set, and what the simulator writes).
CHARSETS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "ASCII": "ascii", "8859/1": "latin-1"}


@dataclass(frozen=True, slots=True)
class Coded:
    """A coded element (CE/CWE/CNE): code, text and coding system."""

    code: str
    text: str
    system: str

    def __str__(self) -> str:
        return "^".join(part for part in (self.code, self.text, self.system))


class Segment:
    """One segment; values are unescaped and stripped, and empty when absent."""

    def __init__(self, segment: hl7.Segment, occurrence: int) -> None:
        self._segment = segment
        self._values: dict[tuple[int, int, int], str] = {}
        self.name = str(segment[0][0])
        #: 1 for the first segment of its kind in the message.
        self.occurrence = occurrence

    def value(self, field: int, component: int = 1, repetition: int = 1) -> str:
        key = (field, component, repetition)
        known = self._values.get(key)
        if known is None:
            try:
                known = str(self._segment.extract_field(1, field, repetition, component, 1))
            except IndexError:  # the path goes deeper than the value: nothing there
                known = ""
            known = self._values[key] = known.strip()
        return known

    def coded(self, field: int, repetition: int = 1) -> Coded:
        return Coded(
            self.value(field, 1, repetition),
            self.value(field, 2, repetition),
            self.value(field, 3, repetition),
        )

    def repetitions(self, field: int) -> int:
        """How many repetitions ``field`` has (0 when it is absent)."""
        if field >= len(self._segment) or not str(self._segment(field)):
            return 0
        return len(self._segment(field))

    def location(self, field: int) -> str:
        """ERR-2 (ERL): segment id, its occurrence, the field."""
        return f"{self.name}^{self.occurrence}^{field}"


@dataclass(frozen=True, slots=True)
class Header:
    """What the ACK needs from MSH, read even from a message that cannot be parsed whole."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_code: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    charset: str = ""

    @property
    def message_type(self) -> str:
        return f"{self.message_code}^{self.trigger}" if self.trigger else self.message_code

    @classmethod
    def of(cls, msh: Segment) -> Header:
        return cls(
            sending_application=_raw_field(msh, 3),
            sending_facility=_raw_field(msh, 4),
            receiving_application=_raw_field(msh, 5),
            receiving_facility=_raw_field(msh, 6),
            message_code=msh.value(9, 1),
            trigger=msh.value(9, 2),
            control_id=msh.value(10),
            processing_id=msh.value(11),
            version=msh.value(12),
            charset=msh.value(18),
        )


def _raw_field(segment: Segment, field: int) -> str:
    """A whole field with its components (``APP^EUI64^EUI-64``), for echoing into the ACK."""
    parts = [segment.value(field, component) for component in range(1, 4)]
    return "^".join(parts).rstrip("^")


class Message:
    """A parsed message: its header and its segments by name."""

    def __init__(self, parsed: hl7.Message) -> None:
        counts: dict[str, int] = {}
        self.segments: list[Segment] = []
        for raw in parsed:
            name = str(raw[0][0])
            counts[name] = counts.get(name, 0) + 1
            self.segments.append(Segment(raw, counts[name]))
        self.header = Header.of(self.segments[0])

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)


def _segments_text(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r").strip()


def read_header(payload: bytes) -> Header:
    """MSH of ``payload``, read from its first segment alone (a message too large or too broken
    to parse whole still gets an ACK naming its control id); empty fields when there is none."""
    first = _segments_text(payload[:4096].decode("latin-1")).split("\r", 1)[0]
    try:
        return Message(hl7.parse(first)).header if first.startswith("MSH") else Header()
    # hl7's parser asserts on repeated delimiters in MSH-1/MSH-2 ("MSH|^^~\&|...").
    except (ParseException, ValueError, IndexError, KeyError, AssertionError):
        return Header()


def _parsed(text: str) -> Message | Rejection:
    try:
        return Message(hl7.parse(_segments_text(text)))
    except AssertionError:  # hl7's parser, on repeated delimiters in MSH-1/MSH-2
        return Rejection(
            RejectReason.NOT_HL7, "cannot parse the message: MSH-1/MSH-2 repeat a delimiter"
        )
    except (ParseException, ValueError, IndexError, KeyError) as exc:
        return Rejection(RejectReason.NOT_HL7, f"cannot parse the message: {exc}")


def read_message(payload: bytes) -> Message | Rejection:
    """Decode ``payload`` with its MSH-18 character set and parse it (once, for the usual UTF-8
    or ASCII message)."""
    if not payload.lstrip().startswith(b"MSH"):
        return Rejection(RejectReason.NOT_HL7, "the message does not start with an MSH segment")
    try:
        message = _parsed(payload.decode("utf-8"))
        charset = message.header.charset if isinstance(message, Message) else ""
    except UnicodeDecodeError:
        message, charset = None, read_header(payload).charset
    encoding = CHARSETS.get(charset.upper())
    if encoding is None:
        return Rejection(
            RejectReason.UNSUPPORTED_MESSAGE,
            f"character set {charset!r} (MSH-18): send UNICODE UTF-8, ASCII or 8859/1",
            "MSH^1^18",
        )
    if message is not None and encoding != "latin-1":
        if encoding == "ascii" and not payload.isascii():
            return Rejection(RejectReason.NOT_TEXT, "not ASCII text (MSH-18)", "MSH^1^18")
        return message
    try:
        return _parsed(payload.decode(encoding))
    except UnicodeDecodeError as exc:
        return Rejection(
            RejectReason.NOT_TEXT, f"not {encoding} text at byte {exc.start} (MSH-18)", "MSH^1^18"
        )


def hl7_time(value: str) -> datetime:
    """An HL7 DTM with its UTC offset, in UTC; ``ValueError`` naming the problem otherwise (a
    time without an offset is the sender's local time, which the gateway does not guess)."""
    try:
        parsed: datetime | None = parse_datetime(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{value!r} is not an HL7 date/time") from exc
    if parsed is None:
        raise ValueError("empty date/time")
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset (+HHMM)")
    return parsed.astimezone(UTC)


def hl7_date(value: str) -> date:
    """An HL7 date (DT, or the date of a DTM): ``19760303``."""
    try:
        parsed: datetime | None = parse_datetime(value[:8])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{value!r} is not an HL7 date") from exc
    if parsed is None or len(value) < 8:
        raise ValueError(f"{value!r} is not a full date (YYYYMMDD)")
    return parsed.date()
