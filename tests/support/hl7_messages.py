"""IHE-style HL7 v2 messages for the gateway's tests, written by the simulator's own HL7 feed
(``simulators/hl7_feed.py``) from the one event-builder set (``tests/support/events.py``): the
input oracle is "these JSON events, as the simulator writes them in HL7". The simulator's PID-3
carries the event's ``patient_ref`` as the MRN, with the authority ``PUMPSTREAM``.

Also: MLLP framing by hand and a small raw-socket client, so tests reach the gateway with code
other than its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, SecretStr

from schemas.events import (
    InfusionCompleted,
    InfusionStarted,
    RateChanged,
    RiskFactor,
    SymptomKind,
    SymptomReport,
    Validity,
)
from schemas.ivig_products import Indication
from simulators.hl7_feed import pain_message, pcd01_message, pcd10_messages
from streams.cli.hl7_replay import SIMULATED_MRN_AUTHORITY
from streams.gateway.pseudonym import Pseudonymiser
from tests.support.events import Patient

PSEUDONYM_KEY = SecretStr("gateway-tests-pseudonym-key-0123")
MONITOR = "0050C20000000102"
PUMP = "0050C20000000101"
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"


def patient_ref_of(mrn: str) -> str:
    """The ``patient_ref`` the gateway derives from a simulator message's MRN."""
    return Pseudonymiser(PSEUDONYM_KEY).patient_ref(mrn, SIMULATED_MRN_AUTHORITY)


def frame(message: bytes | str) -> bytes:
    data = message.encode() if isinstance(message, str) else message
    return START_BLOCK + data + END_BLOCK


@dataclass(frozen=True)
class Sample:
    """One HL7 message and the JSON event the simulator's JSON feed carries for the same moment
    (None for a message that carries no event of its own: a STOP before a START)."""

    name: str
    message: bytes
    event: BaseModel | None


def infusion_start(patient: Patient, minute: float = 0, rate: float = 42.0) -> InfusionStarted:
    start = patient.start(minute, rate, age=71, dose_g_kg=0.8, risk=(RiskFactor.HYPERTENSION,))
    context = start.context.model_copy(
        update={"prior_infusions": 3, "indication": Indication.DERMATOMYOSITIS}
    )
    return start.model_copy(update={"device_id": PUMP, "context": context})


def one_message(event: BaseModel) -> bytes:
    (message,) = pcd10_messages(event)
    return message.encode()


def infusion_samples(patient: Patient) -> list[Sample]:
    """An infusion through every PCD-10 event, with vitals and pain, in time order."""
    start = infusion_start(patient)
    rate_change = RateChanged(**{**patient.rate(30, 84).model_dump(), "device_id": PUMP,
                                 "previous_rate_ml_h": 42.0})  # fmt: skip
    pause = patient.pause(50).model_copy(update={"device_id": PUMP})
    resume = patient.resume(70, 42.0).model_copy(update={"device_id": PUMP})
    done = InfusionCompleted(**{**patient.done(120).model_dump(), "device_id": PUMP,
                                "volume_delivered_ml": 310.5})  # fmt: skip
    vitals = patient.vitals(5, hr=91, sbp=131, temp=37.4, spo2=97, hr_validity=Validity.INVALID)
    pain = patient.pain(45, 6, infusion=patient.infusion)
    stop, restart = (m.encode() for m in pcd10_messages(rate_change))
    pain_text = pain_message(pain)
    assert pain_text is not None
    return [
        Sample("start", one_message(start), start),
        Sample("vitals", pcd01_message(vitals, MONITOR).encode(), vitals),
        Sample("stop-transitioning", stop, None),
        Sample("start-new-rate", restart, rate_change),
        Sample("pain", pain_text.encode(), pain),
        Sample("pause", one_message(pause), pause),
        Sample("resume", one_message(resume), resume),
        Sample("complete", one_message(done), done),
    ]


def vitals_message(mrn: str, minute: float = 0, hr: float = 80) -> bytes:
    return pcd01_message(Patient(mrn).vitals(minute, hr=hr), MONITOR).encode()


def pain_report(mrn: str, minute: float, nrs: int, symptom: SymptomKind) -> bytes:
    report = SymptomReport(**{**Patient(mrn).pain(minute, nrs).model_dump(), "symptom": symptom})
    text = pain_message(report)
    assert text is not None
    return text.encode()


def same_event(mapped: BaseModel, original: BaseModel) -> bool:
    """Equal but for the ids the gateway derives (event id, pseudonymous patient_ref)."""
    ids = {"event_id", "patient_ref"}
    return (
        type(mapped) is type(original)
        and mapped.model_dump(exclude=ids) == original.model_dump(exclude=ids)
        and getattr(mapped, "patient_ref", None)
        == patient_ref_of(str(getattr(original, "patient_ref", "")))
    )


def replaced(message: bytes, old: str, new: str) -> bytes:
    assert old.encode() in message, f"{old!r} not in the message"
    return message.replace(old.encode(), new.encode(), 1)


def hl7_time(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S.%f")[:-3] + when.strftime("%z")


async def exchange(port: int, *messages: bytes, timeout_s: float = 15.0) -> list[bytes]:
    """Send framed ``messages`` on one raw TCP connection and read one ACK each."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acks = []
    try:
        for message in messages:
            writer.write(frame(message))
            await writer.drain()
            acks.append(await asyncio.wait_for(read_ack(reader), timeout_s))
    finally:
        writer.close()
        await writer.wait_closed()
    return acks


async def read_ack(reader: asyncio.StreamReader) -> bytes:
    data = await reader.readuntil(END_BLOCK)
    assert data.startswith(START_BLOCK), data[:20]
    return data[1 : -len(END_BLOCK)]


def ack_code(ack: bytes) -> str:
    msa = next(s for s in ack.decode().split("\r") if s.startswith("MSA|"))
    return msa.split("|")[1]


def ack_segment(ack: bytes, name: str) -> list[str]:
    segment = next((s for s in ack.decode().split("\r") if s.startswith(f"{name}|")), "")
    return segment.split("|")
