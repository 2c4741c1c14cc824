"""``pumpstream replay DIR --hl7``: the simulator's HL7 files sent to the gateway over MLLP, in
time order across the three files, one message at a time, each resent while the gateway answers
``AE`` (Kafka unavailable) and counted when it answers ``AR``.

The simulator's PCD-10 starts carry what a pump knows (product, concentration, weight, rate).
The age, dose, risk factors and prior infusions the clinical rules need come, in a hospital,
from the order and the patient record: an interface engine adds them to the message before the
gateway. The replay plays that part: to each infusion start without them it adds the rows
(``streams/gateway/codes.py``: LOINC 30525-0 for the age, pumpstream's local codes for the rest)
from the recording's ``infusion_started`` of the same event id (docs/integration.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import hl7
from hl7.exceptions import ParseException
from hl7.mllp import open_hl7_connection

from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from simulators.sim_event import SimEvent
from streams.exceptions import InputFileError, PumpstreamError
from streams.gateway.hl7_reading import hl7_time, read_message
from streams.gateway.rejections import Rejection

#: The simulator's files, each with the raw topic its messages feed (the progress bars).
HL7_FEEDS = (
    ("pcd-10-pump-events.hl7", PUMP_EVENTS_RAW.name),
    ("pcd-01-vitals.hl7", VITALS_RAW.name),
    ("pain-observations.hl7", SYMPTOMS_RAW.name),
)
#: PID-3.4 of the simulator's messages: ``pumpstream evaluate --pseudonymised`` derives the
#: gateway's ``patient_ref`` from the truth's patient and this authority.
SIMULATED_MRN_AUTHORITY = "PUMPSTREAM"
#: How long one message may keep being answered AE (Kafka unavailable) before the replay stops.
RETRY_FOR_S = 120.0
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0)
#: Longest wait for one ACK (the gateway answers AE after its own ack timeout, 10 s by default).
ACK_WAIT_S = 60.0


def _msh(text: str) -> hl7.Message:
    return hl7.parse(text.split("\r", 1)[0])


def _read_file(path: Path) -> list[str]:
    """The messages of one simulator HL7 file (segments end with CR, messages with a newline)."""
    return [m for m in path.read_bytes().decode("utf-8").split("\n") if m]


def read_hl7_feed(directory: Path) -> list[SimEvent]:
    """Every message of ``DIR/hl7/*.hl7``, merged by MSH-7 (ties: pump, vitals, pain, then file
    order, as ``replay`` merges the JSON files); ``offset_s`` from the first message."""
    hl7_dir = directory / "hl7"
    if not hl7_dir.is_dir():
        raise InputFileError(
            f"{hl7_dir}: no such directory; give a directory written by `pumpstream simulate "
            "--out DIR` (with its HL7 files, the default)"
        )
    merged: list[tuple[datetime, int, int, str, str]] = []
    for feed_index, (name, topic) in enumerate(HL7_FEEDS):
        path = hl7_dir / name
        if not path.is_file():
            continue
        for line, text in enumerate(_read_file(path)):
            try:
                when = hl7_time(str(_msh(text).segment("MSH")(7)))
            except (ParseException, ValueError, KeyError, IndexError) as exc:
                raise InputFileError(
                    f"{path}: message {line + 1} has no readable MSH-7 ({exc}); fix or delete it"
                ) from None
            merged.append((when, feed_index, line, topic, text))
    if not merged:
        names = ", ".join(name for name, _ in HL7_FEEDS)
        raise InputFileError(f"{hl7_dir}: no HL7 messages in {names}")
    merged.sort(key=lambda item: item[:3])
    first = merged[0][0]
    return [
        SimEvent((when - first).total_seconds(), topic, b"", text.encode("utf-8"))
        for when, _, _, topic, text in merged
    ]


def hl7_kind(value: bytes) -> str:
    """What a message is, for the progress line: ``ORU^R42 MDC_EVT_PUMP_DELIV_START``."""
    try:
        message = hl7.parse(value.decode("utf-8"))
        kind = (
            f"{message.extract_field('MSH', 1, 9, 1, 1)}^{message.extract_field('MSH', 1, 9, 1, 2)}"
        )
        event = message.extract_field("OBR", 1, 4, 1, 2)
    except (ParseException, ValueError, KeyError, IndexError):
        return "malformed"
    return f"{kind} {event}".strip()


@dataclass
class Hl7ReplayResult:
    sent: int = 0
    #: Resends after an AE (Kafka unavailable) or a lost connection.
    resent: int = 0
    #: (MSH-10, the ACK's text) of each message answered AR.
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _ack_code(ack: hl7.Message) -> tuple[str, str]:
    return str(ack.extract_field("MSA", 1, 1)), str(ack.extract_field("MSA", 1, 3))


class _Connection:
    """One MLLP connection to the gateway, reopened when it breaks."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        #: hl7.mllp's HL7StreamReader and HL7StreamWriter (the package has no type information).
        self._streams: tuple[Any, Any] | None = None

    async def open(self) -> None:
        if self._streams is None:
            try:
                self._streams = await open_hl7_connection(self.host, self.port, encoding="utf-8")
            except OSError as exc:
                raise ConnectionError(exc.strerror or str(exc)) from exc

    async def exchange(self, message: bytes) -> tuple[str, str]:
        """Send ``message``, return the ACK's MSA-1 and MSA-3."""
        await self.open()
        assert self._streams is not None
        reader, writer = self._streams
        try:
            writer.writeblock(message)
            await writer.drain()
            ack = await asyncio.wait_for(reader.readmessage(), ACK_WAIT_S)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ParseException) as exc:
            await self.close()
            raise ConnectionError(str(exc) or type(exc).__name__) from exc
        return _ack_code(ack)

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def send_hl7(
    events: Sequence[SimEvent],
    host: str,
    port: int,
    *,
    speed: float,
    on_sent: Callable[[SimEvent], None] = lambda e: None,
) -> Hl7ReplayResult:
    """Send ``events`` (HL7 messages) in order, each when ``offset_s / speed`` wall seconds have
    passed (``speed <= 0``: as fast as the ACKs come); resend on AE or a broken connection."""
    result = Hl7ReplayResult()
    connection = _Connection(host, port)
    try:
        await connection.open()
    except ConnectionError as exc:
        raise PumpstreamError(
            f"cannot reach the gateway at {host}:{port} ({exc}): start `pumpstream gateway` or "
            "fix --gateway"
        ) from None
    started = time.monotonic()
    try:
        for event in events:
            if speed > 0:
                delay = started + event.offset_s / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            code, text = await _deliver(connection, event.value, result)
            if code == "AR":
                result.rejected.append((hl7_control_id(event.value), text))
            result.sent += 1
            on_sent(event)
    finally:
        await connection.close()
    return result


def hl7_control_id(value: bytes) -> str:
    message = read_message(value)
    return "" if isinstance(message, Rejection) else message.header.control_id


async def _deliver(
    connection: _Connection, message: bytes, result: Hl7ReplayResult
) -> tuple[str, str]:
    """Until the gateway answers AA or AR (or :data:`RETRY_FOR_S` passes)."""
    deadline = time.monotonic() + RETRY_FOR_S
    attempt = 0
    while True:
        try:
            code, text = await connection.exchange(message)
            problem = f"AE ({text})" if code == "AE" else ""
        except ConnectionError as exc:
            code, problem = "", f"connection to the gateway failed ({exc})"
        if code in ("AA", "AR"):
            return code, text
        if code not in ("AE", ""):
            raise PumpstreamError(f"the gateway answered {code!r} (not AA, AE or AR): {text}")
        if time.monotonic() > deadline:
            raise PumpstreamError(
                f"message {hl7_control_id(message)}: {problem} for {RETRY_FOR_S:g} s: is "
                f"`pumpstream gateway` running on {connection.host}:{connection.port} and Kafka "
                "reachable from it?"
            )
        result.resent += 1
        await asyncio.sleep(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])
        attempt += 1
