"""``ORU^R01`` observations -> events: IHE PCD-01 vital signs (one ``vitals`` event per message),
a pump's PCD-01 status (``rate_changed`` while it infuses), and patient-reported pain scores
(LOINC 72514-3, one ``symptom`` per score; OBX-20 says where it hurts).

A PCD-01 pump status says how the pump runs now, not what changed: only "infusing at R mL/h" is
forwarded (a rate in force, which changes nothing when R is the running rate). A pump that is not
infusing may be paused or finished, which PCD-01 cannot tell apart: pauses and completions come
from PCD-10.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.events import Measurement, RateChanged, SymptomKind, SymptomReport, VitalSigns
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from streams.gateway import codes
from streams.gateway.codes import CodeKind, DeliveryStatus, Term
from streams.gateway.hl7_reading import Message
from streams.gateway.message_facts import Mapped, MappedEvent, MessageFacts, build_event
from streams.gateway.observation_rows import Row, celsius, classify, match_term, number, rows_of
from streams.gateway.pump_events import PUMP_TERMS, delivery_status, device_id, rate_ml_h
from streams.gateway.rejections import Rejection, RejectReason, unknown_code

VITAL_TERMS = {vital.term: vital for vital in codes.VITALS}
OBSERVATION_TERMS: tuple[Term, ...] = (*VITAL_TERMS, codes.PAIN_SEVERITY, *PUMP_TERMS)


def carries_pain(message: Message) -> bool:
    """Whether the message reports a pain score (its dead letters belong to the symptom feed)."""
    return any(
        match_term(obx.coded(3), (codes.PAIN_SEVERITY,)) is not None for obx in message.all("OBX")
    )


def map_observations(message: Message, facts: MessageFacts) -> Mapped | Rejection:
    rows, problem = classify(message.all("OBX"), OBSERVATION_TERMS)
    if problem is not None:
        return problem
    events: list[MappedEvent] = []
    kinds: list[str] = []
    vitals = [row for row in rows if row.term in VITAL_TERMS]
    if vitals:
        event = _vital_signs(vitals, facts)
        if isinstance(event, Rejection):
            return event
        if event is not None:
            events.append(MappedEvent(VITALS_RAW, event))
            kinds.append("pcd01:vitals")
    for row in rows_of(rows, codes.PAIN_SEVERITY):
        report = _pain(row, facts)
        if isinstance(report, Rejection):
            return report
        events.append(MappedEvent(SYMPTOMS_RAW, report))
        kinds.append("pain")
    pump = [row for row in rows if row.term in PUMP_TERMS]
    if pump:
        running = _pump_status(pump, facts)
        if isinstance(running, Rejection):
            return running
        if running is not None:
            events.append(MappedEvent(PUMP_EVENTS_RAW, running))
            kinds.append("pcd01:pump")
    return Mapped("+".join(kinds) or "pcd01:empty", tuple(events))


def _vital_signs(rows: list[Row], facts: MessageFacts) -> BaseModel | Rejection | None:
    fields: dict[str, Any] = {}
    for row in rows:
        vital = VITAL_TERMS[row.term]
        validity = row.validity()
        if isinstance(validity, Rejection):
            return validity
        if not row.text:  # a row without a value ("cannot be obtained"): no measurement
            continue
        measured = row.measured(vital.units)
        if isinstance(measured, Rejection):
            return measured
        value, unit = measured
        if vital.field == "temperature_c":
            value = celsius(value, unit)
        fields.setdefault(vital.field, Measurement(value=value, validity=validity))
    if not fields:
        return None
    return build_event(VitalSigns, "OBX", **facts.common("vitals"), **fields)


def _pain(row: Row, facts: MessageFacts) -> BaseModel | Rejection:
    site = row.segment.coded(20)
    if site.code:
        symptom = codes.PAIN_SITES.get(site.code)
        if symptom is None:
            return unknown_code(CodeKind.BODY_SITE, str(site), row.segment.location(20))
    else:
        symptom = SymptomKind.OTHER
    unit = row.segment.value(6)
    if unit not in ("", codes.SCORE_UNIT):
        return unknown_code(CodeKind.UNIT, f"{unit!r} for a pain score", row.segment.location(6))
    score = number(row.text)
    if score is None or score != int(score):
        return Rejection(
            RejectReason.INVALID_VALUE,
            f"pain score {row.text!r} is not a whole number 0-10",
            row.location,
        )
    set_id = row.segment.value(1) or str(row.segment.occurrence)
    return build_event(
        SymptomReport,
        row.location,
        **facts.common(f"pain-{set_id}"),
        symptom=symptom,
        pain_score=int(score),
        infusion_id=facts.infusion_id,
        reporter="patient",
    )


def _pump_status(rows: list[Row], facts: MessageFacts) -> BaseModel | Rejection | None:
    status = delivery_status(rows)
    if isinstance(status, Rejection) or status is not DeliveryStatus.INFUSING:
        return status if isinstance(status, Rejection) else None
    rate = rate_ml_h(rows)
    if isinstance(rate, Rejection) or rate is None:
        return rate
    if facts.infusion_id is None:
        return Rejection(
            RejectReason.MISSING_FIELD,
            "the order number (OBR-3, ORC-3) of a pump status",
            "OBR^1^3",
        )
    return build_event(
        RateChanged,
        "OBX",
        **facts.common("pump"),
        infusion_id=facts.infusion_id,
        device_id=device_id(rows),
        rate_ml_h=rate,
    )
