"""IHE PCD-10 ``ORU^R42`` (IPEC: one infusion pump event per message) -> pump events.

- DELIVERY START with the drug rows (184514, 157760, 68063): ``infusion_started``, which also
  needs the infusion context (age, dose; docs/integration.md);
- DELIVERY START after a STOP ``transitioning``: ``rate_changed`` (previous rate: the STOP's);
- DELIVERY START after a STOP ``pump-status-not-infusing``: ``resumed``;
- DELIVERY STOP ``transitioning``: no event (remembered for the START that follows);
- DELIVERY STOP ``pump-status-not-infusing``: ``paused``;
- DELIVERY COMP: ``completed`` (volume delivered from 157993);
- MDC_EVT_FLUID_LINE_OCCL / MDC_EVT_ALARM: ``pump_alarm`` (occlusion / other).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pydantic import BaseModel

from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    PumpAlarm,
    RateChanged,
    RiskFactor,
)
from schemas.ivig_products import PRODUCT_LABELS, IvigProduct
from schemas.topics import PUMP_EVENTS_RAW
from streams.gateway import codes
from streams.gateway.codes import CodeKind, DeliveryStatus, Term
from streams.gateway.delivery_stops import InfusionKey, LastStop, StopKind, StopUpdate
from streams.gateway.hl7_reading import Message, hl7_date
from streams.gateway.message_facts import Mapped, MappedEvent, MessageFacts, build_event
from streams.gateway.observation_rows import Row, classify, first_of, match_term, rows_of
from streams.gateway.rejections import Rejection, RejectReason, unknown_code

PUMP_TERMS: tuple[Term, ...] = (
    codes.DELIVERY_STATUS,
    codes.PROGRAMMED_RATE,
    codes.CURRENT_RATE,
    codes.DRUG_LABEL,
    codes.CONCENTRATION,
    codes.PATIENT_WEIGHT,
    codes.VOLUME_DELIVERED,
    *codes.DEVICE_ROWS,
    *codes.PASSED_OVER,
    *codes.CONTEXT_ROWS,
)
_PRODUCTS = {
    **{label.name.casefold(): product for product, label in PRODUCT_LABELS.items()},
    **{product.value: product for product in IvigProduct},
}

LastStopOf = Callable[[InfusionKey], LastStop | None]


def _missing(what: str, location: str = "") -> Rejection:
    return Rejection(RejectReason.MISSING_FIELD, what, location)


def _event(facts: MessageFacts, model: type[BaseModel], **fields: object) -> BaseModel | Rejection:
    assert facts.infusion_id is not None
    return build_event(model, "", **facts.common("pump"), infusion_id=facts.infusion_id, **fields)


def device_id(rows: list[Row]) -> str | None:
    """OBX-18.1 (the EUI-64) of the first row that names its device (the MDS row)."""
    return next((d for row in rows if (d := row.segment.value(18))), None)


def delivery_status(rows: list[Row]) -> DeliveryStatus | Rejection | None:
    row = first_of(rows, codes.DELIVERY_STATUS)
    if row is None or not row.text:
        return None
    try:
        return DeliveryStatus(row.text)
    except ValueError:
        return unknown_code(CodeKind.DELIVERY_STATUS, repr(row.text), row.location)


def rate_ml_h(rows: list[Row]) -> float | Rejection | None:
    """The programmed rate (157784), else the current one (158014), in mL/h."""
    row = first_of(rows, codes.PROGRAMMED_RATE, codes.CURRENT_RATE)
    if row is None:
        return None
    measured = row.measured((codes.ML_PER_H,))
    return measured if isinstance(measured, Rejection) else measured[0]


def map_pcd10(message: Message, facts: MessageFacts, last_stop: LastStopOf) -> Mapped | Rejection:
    """One PCD-10 message -> at most one pump event (and the STOP to remember)."""
    obr = message.first("OBR")
    if obr is None:
        return _missing("OBR (the pump event) is missing")
    event_term = match_term(obr.coded(4), codes.PUMP_EVENTS)
    if event_term is None:
        shown = str(obr.coded(4)) or "(empty)"
        return unknown_code(CodeKind.EVENT, shown, obr.location(4))
    if facts.infusion_id is None:
        return _missing("the order number (OBR-3, ORC-3) that identifies the infusion", "OBR^1^3")
    rows, problem = classify(message.all("OBX"), PUMP_TERMS)
    if problem is not None:
        return problem
    status = delivery_status(rows)
    if isinstance(status, Rejection):
        return status
    key = (facts.patient_ref, facts.infusion_id)
    device = device_id(rows)
    if event_term == codes.DELIVERY_START:
        return _start(rows, facts, device, status, last_stop(key), key)
    if event_term == codes.DELIVERY_STOP:
        return _stop(rows, facts, device, status, key)
    if event_term == codes.DELIVERY_COMPLETE:
        return _complete(rows, facts, device, key)
    alarm = "occlusion" if event_term == codes.OCCLUSION else "other"
    event = _event(facts, PumpAlarm, device_id=device, alarm=alarm, text=event_term.name)
    return event if isinstance(event, Rejection) else _one("pcd10:alarm", event)


def _one(kind: str, event: BaseModel, update: StopUpdate | None = None) -> Mapped:
    return Mapped(kind, (MappedEvent(PUMP_EVENTS_RAW, event),), update)


def _start(
    rows: list[Row],
    facts: MessageFacts,
    device: str | None,
    status: DeliveryStatus | None,
    previous: LastStop | None,
    key: InfusionKey,
) -> Mapped | Rejection:
    if status not in (None, DeliveryStatus.INFUSING):
        return Rejection(
            RejectReason.INVALID_VALUE, f"a DELIVERY START with delivery status {status}"
        )
    rate = rate_ml_h(rows)
    if isinstance(rate, Rejection):
        return rate
    if rate is None:
        return _missing("the rate (OBX MDC_FLOW_FLUID_PUMP) of a DELIVERY START")
    forget = StopUpdate(key, None)
    if first_of(rows, codes.DRUG_LABEL) is not None:
        context = infusion_context(rows, facts)
        if isinstance(context, Rejection):
            return context
        event = _event(facts, InfusionStarted, device_id=device, rate_ml_h=rate, context=context)
        return event if isinstance(event, Rejection) else _one("pcd10:start", event, forget)
    if previous is not None and previous.kind is StopKind.PAUSED:
        event = _event(facts, InfusionResumed, device_id=device, rate_ml_h=rate)
        return event if isinstance(event, Rejection) else _one("pcd10:resume", event, forget)
    before = previous.rate_ml_h if previous is not None else None
    event = _event(facts, RateChanged, device_id=device, rate_ml_h=rate, previous_rate_ml_h=before)
    return event if isinstance(event, Rejection) else _one("pcd10:rate", event, forget)


def _stop(
    rows: list[Row],
    facts: MessageFacts,
    device: str | None,
    status: DeliveryStatus | None,
    key: InfusionKey,
) -> Mapped | Rejection:
    if status is None:
        return _missing("the delivery status (OBX MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS) of a STOP")
    if status is DeliveryStatus.TRANSITIONING:
        rate = rate_ml_h(rows)
        if isinstance(rate, Rejection):
            return rate
        remember = StopUpdate(key, LastStop(StopKind.TRANSITIONING, rate))
        return Mapped("pcd10:stop-transitioning", (), remember)
    if status is DeliveryStatus.NOT_INFUSING:
        event = _event(facts, InfusionPaused, device_id=device)
        update = StopUpdate(key, LastStop(StopKind.PAUSED))
        return event if isinstance(event, Rejection) else _one("pcd10:pause", event, update)
    return Rejection(RejectReason.INVALID_VALUE, "a DELIVERY STOP with delivery status infusing")


def _complete(
    rows: list[Row], facts: MessageFacts, device: str | None, key: InfusionKey
) -> Mapped | Rejection:
    volume: float | None = None
    row = first_of(rows, codes.VOLUME_DELIVERED)
    if row is not None:
        measured = row.measured((codes.ML,))
        if isinstance(measured, Rejection):
            return measured
        volume = measured[0]
    event = _event(facts, InfusionCompleted, device_id=device, volume_delivered_ml=volume)
    forget = StopUpdate(key, None)
    return event if isinstance(event, Rejection) else _one("pcd10:complete", event, forget)


def infusion_context(rows: list[Row], facts: MessageFacts) -> InfusionContext | Rejection:
    """The product, concentration and weight the pump reports, with the age, dose, risk factors,
    prior infusions and indication an interface engine adds from the order and the patient
    record."""
    label = first_of(rows, codes.DRUG_LABEL)
    assert label is not None
    product = _PRODUCTS.get(label.text.casefold())
    if product is None:
        return unknown_code(CodeKind.PRODUCT, repr(label.text), label.location)
    fields: dict[str, object] = {"product": product}
    for name, term, unit in (
        ("concentration_mg_ml", codes.CONCENTRATION, codes.MG_PER_ML),
        ("weight_kg", codes.PATIENT_WEIGHT, codes.KG),
    ):
        row = first_of(rows, term)
        if row is None:
            return _missing(f"{term.name} (the {name}) of an infusion start")
        measured = row.measured((unit,))
        if isinstance(measured, Rejection):
            return measured
        fields[name] = measured[0]
    age = _age(rows, facts)
    if isinstance(age, Rejection):
        return age
    dose = first_of(rows, codes.DOSE_G_KG)
    if dose is None:
        return _missing(
            f"the prescribed dose of an infusion start: OBX {codes.DOSE_G_KG.er7} in "
            f"{codes.DOSE_UNIT} (docs/integration.md)"
        )
    dose_g_kg = dose.count((codes.DOSE_UNIT,))
    if isinstance(dose_g_kg, Rejection):
        return dose_g_kg
    risks = _risk_factors(rows_of(rows, codes.RISK_FACTOR))
    if isinstance(risks, Rejection):
        return risks
    prior = first_of(rows, codes.PRIOR_INFUSIONS)
    if prior is not None:
        count = prior.count(("", "{infusions}"))
        if isinstance(count, Rejection):
            return count
        if count != int(count):
            return Rejection(RejectReason.INVALID_VALUE, "prior infusions must be a whole number")
        fields["prior_infusions"] = int(count)
    indication_row = first_of(rows, codes.INDICATION)
    if indication_row is not None:
        code = indication_row.segment.value(5, 1)
        indication = codes.INDICATION_CODES.get(code)
        if indication is None:
            return unknown_code(CodeKind.INDICATION, repr(code), indication_row.location)
        fields["indication"] = indication
    if facts.ward is not None:
        fields["ward"] = facts.ward
    context = build_event(
        InfusionContext, "OBX", age_years=age, dose_g_kg=dose_g_kg, risk_factors=risks, **fields
    )
    assert isinstance(context, InfusionContext | Rejection)
    return context


def _age(rows: list[Row], facts: MessageFacts) -> int | Rejection:
    """From an OBX 30525-0 (years), else from PID-7 (the date of birth, on the event's date)."""
    row = first_of(rows, codes.AGE)
    if row is not None:
        years = row.count((codes.YEARS, ""))
        if isinstance(years, Rejection):
            return years
        if years != int(years):
            return Rejection(RejectReason.INVALID_VALUE, "the age is not whole years", row.location)
        return int(years)
    if facts.birth_date:
        try:
            born = hl7_date(facts.birth_date)
        except ValueError:
            # Never the value itself: a date of birth is an identifier (DOMAIN.md §5).
            return Rejection(
                RejectReason.INVALID_VALUE, "PID-7 is not an HL7 date (YYYYMMDD)", "PID^1^7"
            )
        return _years_between(born, facts.event_time.date())
    return _missing(
        "the patient's age for an infusion start: PID-7 (date of birth) or OBX "
        f"{codes.AGE.er7} (docs/integration.md)",
        "PID^1^7",
    )


def _years_between(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _risk_factors(rows: list[Row]) -> tuple[RiskFactor, ...] | Rejection:
    factors: list[RiskFactor] = []
    for row in rows:
        for repetition in range(1, max(1, row.segment.repetitions(5)) + 1):
            code = row.segment.value(5, 1, repetition)
            factor = codes.RISK_FACTOR_CODES.get(code)
            if factor is None:
                return unknown_code(CodeKind.RISK_FACTOR, repr(code), row.location)
            if factor not in factors:
                factors.append(factor)
    return tuple(factors)
