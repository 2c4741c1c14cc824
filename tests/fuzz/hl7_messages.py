"""HL7 v2 messages for the gateway's fuzz tests: the simulator's PCD-10, PCD-01 and pain
messages with a real-looking PID (an MRN, a name, a date of birth), and hypothesis strategies
that damage them field by field, segment by segment and byte by byte."""

from __future__ import annotations

from hypothesis import strategies as st

from simulators.hl7_feed import pain_message, pcd01_message, pcd10_messages
from tests.support.events import Patient

#: The identifiers the PID carries: none of them may leave the gateway (DOMAIN.md §5).
MRN = "MRN0048213377"
PATIENT_NAME = "Hollowaymere"
PID = f"PID|||{MRN}^^^HOSP^MR||{PATIENT_NAME}^Jane||19560214|F"
MONITOR = "0050C20000001203"


def _with_pid(message: str) -> str:
    segments = message.split("\r")
    return "\r".join(PID if s.startswith("PID") else s for s in segments)


def _age_from_pid7(message: str) -> str:
    """The infusion start with its age row taken out, so the gateway reads the age from PID-7
    (the date of birth) as it does for a sender that gives only that."""
    return "\r".join(s for s in message.split("\r") if "|30525-0^" not in s)


def templates() -> list[str]:
    """One message of every kind the gateway maps, as a sender would write it."""
    p = Patient("pt-fuzz")
    messages = [
        *map(_age_from_pid7, pcd10_messages(p.start())),
        *pcd10_messages(p.rate(30, 84.0)),
        *pcd10_messages(p.pause(40)),
        *pcd10_messages(p.resume(45, 84.0)),
        *pcd10_messages(p.done(120)),
        pcd01_message(p.vitals(10), MONITOR),
        pain_message(p.pain(50, 6)),
    ]
    return [_with_pid(m) for m in messages if m is not None]


TEMPLATES = templates()
#: Text a sender (or a broken interface engine) might put in a field.
field_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="|^~\\&\r\n\x0b\x1c\t 0123456789.-+ABCXYZ", max_size=30),
    st.sampled_from(
        [
            "",
            '""',
            "\\X0D\\",
            "\\F\\",
            "\\E\\",
            "\\X1C\\\\X0D\\",
            "\\Zxx\\",
            "\\",
            "^^^^",
            "~~~",
            "&&&",
            "ORU^R42^ORU_R01",
            "ORU^R01",
            "ACK",
            "ADT^A01",
            "P",
            "T",
            "D",
            "2.6",
            "3.0",
            "UNICODE UTF-8",
            "ASCII",
            "8859/1",
            "UTF-16",
            "20260302090000+0000",
            "20260302090000",
            "99991231235959+2400",
            "00000000",
            "1e999",
            "NaN",
            "-1",
            "1000000",
            "157784^MDC_FLOW_FLUID_PUMP^MDC",
            "265266^MDC_DIM_MILLI_L_PER_HR^MDC",
            "72514-3",
        ]
    ),
)


@st.composite
def damaged_messages(draw: st.DrawFn) -> bytes:
    """A template with one to five faults: a field set to anything, a segment dropped,
    duplicated, moved or invented, the delimiters changed, the text cut short; then written
    with any segment separator and character set, maybe with stray bytes."""
    segments = [s.split("|") for s in draw(st.sampled_from(TEMPLATES)).split("\r")]
    for _ in range(draw(st.integers(1, 5))):
        fault = draw(
            st.sampled_from(["field", "field", "field", "drop", "dup", "move", "new", "delims"])
        )
        index = draw(st.integers(0, len(segments) - 1)) if segments else 0
        if fault == "field" and segments:
            fields = segments[index]
            position = draw(st.integers(1, 22))
            fields += [""] * (position + 1 - len(fields))
            fields[position] = draw(field_text)
        elif fault == "drop" and segments:
            segments.pop(index)
        elif fault == "dup" and segments:
            segments.insert(index, list(segments[index]))
        elif fault == "move" and len(segments) > 1:
            segments.insert(draw(st.integers(0, len(segments) - 1)), segments.pop(index))
        elif fault == "new":
            name = draw(st.sampled_from(["PID", "OBX", "OBR", "ORC", "PV1", "MSH", "ZZZ", "NTE"]))
            segments.insert(index, [name, *draw(st.lists(field_text, max_size=8))])
        elif fault == "delims" and segments and segments[0][0] == "MSH" and len(segments[0]) > 1:
            segments[0][1] = draw(st.one_of(st.text(max_size=6), st.just("^~\\&")))
    separator = draw(st.sampled_from(["\r", "\n", "\r\n", "\r\r"]))
    text = separator.join("|".join(fields) for fields in segments)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16", "cp1252"]))
    payload = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(payload)))
        payload = payload[:at] + draw(st.binary(min_size=1, max_size=6)) + payload[at:]
    return payload


#: Anything a sender could put in a frame: damaged messages, bytes after an MSH, any bytes.
hl7_payloads = st.one_of(
    damaged_messages(),
    st.binary(max_size=300).map(lambda b: b"MSH|^~\\&|" + b),
    st.binary(max_size=300),
    st.sampled_from([t.encode() for t in TEMPLATES]),
)
