"""HL7 v2 ER7 (the ``|^~\\&`` text encoding) for the messages pumpstream writes: escaping free
text and assembling segments and messages. The ``hl7`` package parses ER7 but builds nothing.

Escaping follows HL7 v2.6 chapter 2.7.4 for the default delimiters (MSH-1 ``|``, MSH-2 ``^~\\&``):
``\\`` -> ``\\E\\``, ``|`` -> ``\\F\\``, ``^`` -> ``\\S\\``, ``&`` -> ``\\T\\``, ``~`` -> ``\\R\\``.
Control characters become hexadecimal escapes (2.7.5): CR (``\\X0D\\``) would end the segment,
and MLLP's block characters 0x0B and 0x1C must not appear inside a frame. Every other character
passes through: the messages are UTF-8. ``hl7``'s own ``Message.escape`` is not used: it writes
non-ASCII as one ``\\Xhh\\`` per code point (``—`` becomes ``\\X2014\\``, two wrong bytes in UTF-8)
and CR as ``\\.br\\``, which only formatted text (FT) knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

FIELD_SEPARATOR = "|"
#: MSH-2: component, repetition, escape, subcomponent.
ENCODING_CHARACTERS = "^~\\&"
SEGMENT_SEPARATOR = "\r"

_ESCAPES = str.maketrans(
    {
        **{chr(code): f"\\X{code:02X}\\" for code in (*range(0x20), 0x7F)},
        "\\": "\\E\\",
        "|": "\\F\\",
        "^": "\\S\\",
        "&": "\\T\\",
        "~": "\\R\\",
    }
)


def escape(text: str) -> str:
    """``text`` as one ER7 value: delimiters and control characters escaped (in one pass, so
    the escape sequences written are never escaped again)."""
    return text.translate(_ESCAPES)


def components(*values: str) -> str:
    """One field of several components, each escaped: ``components("pt-1", "", "", "PI")``."""
    return "^".join(escape(value) for value in values)


def repetitions(*values: str) -> str:
    """One field repeated, each repetition escaped: ``repetitions("PH", "SP")`` is ``PH~SP``."""
    return "~".join(escape(value) for value in values)


def segment(name: str, fields: Mapping[int, str]) -> str:
    """One segment from its fields by position (``{3: code, 5: value}`` is OBX-3 and OBX-5).

    Values are ER7 already (escape text with :func:`escape` first); empty fields after the last
    non-empty one are left out. In MSH, the first field written is MSH-3: MSH-1 and MSH-2 are
    the delimiters themselves."""
    first = 3 if name == "MSH" else 1
    if any(position < first for position in fields):
        raise ValueError(f"{name} fields start at {name}-{first}: got {sorted(fields)}")
    last = max((position for position, value in fields.items() if value), default=first - 1)
    head = f"MSH{FIELD_SEPARATOR}{ENCODING_CHARACTERS}" if name == "MSH" else name
    return head + "".join(
        FIELD_SEPARATOR + fields.get(position, "") for position in range(first, last + 1)
    )


def message(segments: Iterable[str]) -> str:
    """Segments separated by CR, without a CR after the last one: the byte form pumpstream has
    always written (the simulator's files, PCD-04 over MLLP), which receivers and ``hl7.parse``
    read alike."""
    return SEGMENT_SEPARATOR.join(segments)
