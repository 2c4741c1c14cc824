"""One HL7 v2 message -> the events it carries, or why not (a pure function: no I/O, no clock).

- ``ORU^R42`` (IHE PCD-10): one pump event (``pump_events.py``);
- ``ORU^R01``: vital signs (PCD-01), a pump's status, reported pain scores (``observations.py``);
- anything else: ``hl7_unsupported_message``.

The patient is PID-3, pseudonymised (``pseudonym.py``); the event time is OBR-7 (else OBX-14 of
the first row) with its UTC offset; the infusion is the order number. Event ids are
``hl7-<sha256(MSH-3|MSH-4|MSH-10)[:32]>:<part>``, so a resent message repeats its ids and the
clinical stage drops it as a duplicate.
"""

from __future__ import annotations

import dataclasses
import hashlib

from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW, TopicSpec
from streams.gateway.hl7_reading import Header, Message, Segment, hl7_time
from streams.gateway.message_facts import Mapped, MessageFacts, ward_name
from streams.gateway.observations import carries_pain, map_observations
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.pump_events import LastStopOf, map_pcd10
from streams.gateway.rejections import Rejection, RejectReason

#: PID-3.5 identifier types preferred for the patient, in order (HL7 table 0203).
PATIENT_ID_TYPES = ("MR", "PI")
#: Messages the gateway maps (MSH-9.1, MSH-9.2).
PCD10 = ("ORU", "R42")
OBSERVATION_RESULT = ("ORU", "R01")


def event_id_base(header: Header) -> str:
    source = f"{header.sending_application}|{header.sending_facility}|{header.control_id}"
    return "hl7-" + hashlib.sha256(source.encode()).hexdigest()[:32]


def feed_of(message: Message) -> TopicSpec:
    """The raw topic whose dead-letter topic keeps this message if it is refused."""
    header = message.header
    if (header.message_code, header.trigger) == OBSERVATION_RESULT:
        return SYMPTOMS_RAW if carries_pain(message) else VITALS_RAW
    return PUMP_EVENTS_RAW


def _unsupported(header: Header) -> Rejection | None:
    if not header.control_id:
        return Rejection(RejectReason.MISSING_FIELD, "MSH-10 (message control id)", "MSH^1^10")
    if header.processing_id[:1] != "P":
        return Rejection(
            RejectReason.UNSUPPORTED_MESSAGE,
            f"processing id {header.processing_id!r} (MSH-11): only production (P) messages "
            "reach the clinical pipeline",
            "MSH^1^11",
        )
    if not header.version.startswith("2."):
        return Rejection(
            RejectReason.UNSUPPORTED_MESSAGE,
            f"HL7 version {header.version!r} (MSH-12): the gateway reads v2.x",
            "MSH^1^12",
        )
    if (header.message_code, header.trigger) not in (PCD10, OBSERVATION_RESULT):
        return Rejection(
            RejectReason.UNSUPPORTED_MESSAGE,
            f"message type {header.message_type or '(empty)'} (MSH-9): the gateway takes "
            "ORU^R01 (PCD-01, pain scores) and ORU^R42 (PCD-10)",
            "MSH^1^9",
        )
    return None


def patient_identifier(pid: Segment) -> tuple[str, str] | None:
    """PID-3: the repetition of type MR, else PI, else the first; (identifier, authority)."""
    repetitions = range(1, max(1, pid.repetitions(3)) + 1)
    candidates = [(pid.value(3, 5, r), pid.value(3, 1, r), pid.value(3, 4, r)) for r in repetitions]
    candidates = [c for c in candidates if c[1]]
    for wanted in PATIENT_ID_TYPES:
        for kind, identifier, authority in candidates:
            if kind == wanted:
                return identifier, authority
    return (candidates[0][1], candidates[0][2]) if candidates else None


def message_facts(message: Message, pseudonymiser: Pseudonymiser) -> MessageFacts | Rejection:
    pids = message.all("PID")
    if len(pids) != 1:
        what = "no PID segment" if not pids else f"{len(pids)} PID segments"
        return Rejection(
            RejectReason.UNSUPPORTED_MESSAGE, f"{what}: one patient per message", "PID^1^3"
        )
    patient = patient_identifier(pids[0])
    if patient is None:
        return Rejection(RejectReason.MISSING_FIELD, "PID-3 (the patient identifier)", "PID^1^3")
    obr = message.first("OBR")
    obx = message.first("OBX")
    when, where = (obr.value(7), obr.location(7)) if obr is not None else ("", "OBR^1^7")
    if not when and obx is not None:
        when, where = obx.value(14), obx.location(14)
    if not when:
        return Rejection(RejectReason.MISSING_FIELD, "the observation time (OBR-7)", "OBR^1^7")
    try:
        event_time = hl7_time(when)
    except ValueError as exc:
        return Rejection(RejectReason.INVALID_VALUE, f"the observation time: {exc}", where)
    orders = [s for s in (message.first("OBR"), message.first("ORC")) if s is not None]
    infusion_id = next(
        (v for field in (3, 2) for order in orders if (v := order.value(field))), None
    )
    pv1 = message.first("PV1")
    return MessageFacts(
        event_id=event_id_base(message.header),
        patient_ref=pseudonymiser.patient_ref(*patient),
        event_time=event_time,
        infusion_id=infusion_id,
        ward=ward_name(pv1.value(3)) if pv1 is not None else None,
        birth_date=pids[0].value(7),
    )


def map_message(
    message: Message, pseudonymiser: Pseudonymiser, last_stop: LastStopOf
) -> Mapped | Rejection:
    """The events ``message`` carries, or why it cannot be mapped."""
    outcome = _map(message, pseudonymiser, last_stop)
    if isinstance(outcome, Rejection):
        return dataclasses.replace(outcome, feed=feed_of(message))
    return outcome


def _map(
    message: Message, pseudonymiser: Pseudonymiser, last_stop: LastStopOf
) -> Mapped | Rejection:
    header = message.header
    problem = _unsupported(header)
    if problem is not None:
        return problem
    facts = message_facts(message, pseudonymiser)
    if isinstance(facts, Rejection):
        return facts
    if (header.message_code, header.trigger) == PCD10:
        return map_pcd10(message, facts, last_stop)
    return map_observations(message, facts)
