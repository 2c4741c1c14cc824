"""A few scripted IVIG infusions with titration steps: one reacts with back pain, others don't.

Rates follow the product labels (DOMAIN.md §2): a 10 % product at d mg/kg/min runs at
d x weight x 60 / 100 mL/h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from schemas.clinical_units import rate_ml_h_for_dose_rate
from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionStarted,
    Measurement,
    RateChanged,
    RiskFactor,
    SymptomKind,
    SymptomReport,
    VitalSigns,
)
from schemas.ivig_products import PRODUCT_LABELS, IvigProduct
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from simulators.sim_event import SimEvent

MIN = 60.0


@dataclass(frozen=True, slots=True)
class ScriptedPatient:
    patient_ref: str
    product: IvigProduct
    weight_kg: float
    age_years: int
    risk_factors: tuple[RiskFactor, ...]
    #: (minute, dose rate mg/kg/min) titration steps; the first is the start.
    steps: tuple[tuple[float, float], ...]
    #: (minute, NRS) back-pain reports.
    back_pain: tuple[tuple[float, int], ...] = ()
    #: Minute the infusion completes.
    end_min: float = 110.0
    #: Heart-rate rise (bpm) from this minute on, to mimic a mild rate reaction.
    hr_rise: tuple[float, float] | None = None


#: Pseudonymous references only (DOMAIN.md §5).
DEMO_PATIENTS: tuple[ScriptedPatient, ...] = (
    ScriptedPatient(
        "pt-reacts-01",
        IvigProduct.OCTAGAM_10,
        70.0,
        52,
        (),
        steps=((0, 1.0), (30, 2.0), (60, 4.0)),
        back_pain=((78, 6),),
        hr_rise=(70, 16.0),
    ),
    ScriptedPatient(
        "pt-tolerates-02",
        IvigProduct.PRIVIGEN,
        80.0,
        70,
        (RiskFactor.HYPERTENSION,),
        steps=((0, 0.5), (30, 1.0), (60, 2.0), (90, 4.0)),
    ),
    ScriptedPatient(
        "pt-early-pain-03",
        IvigProduct.GAMUNEX_C,
        62.0,
        45,
        (RiskFactor.RENAL_DISEASE,),
        steps=((0, 1.0), (30, 2.0)),
        back_pain=((20, 3),),
        end_min=100.0,
    ),
)


def _json(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def _patient_events(p: ScriptedPatient, start: datetime) -> list[SimEvent]:
    label = PRODUCT_LABELS[p.product]
    infusion_id = f"inf-{p.patient_ref}"
    key = p.patient_ref.encode()

    def at(minute: float) -> datetime:
        return start + timedelta(minutes=minute)

    seq = iter(range(1, 10_000))

    def eid(kind: str) -> str:
        return f"{p.patient_ref}-{kind}-{next(seq)}"

    def rate(dose: float) -> float:
        return round(rate_ml_h_for_dose_rate(dose, label.concentration_mg_ml, p.weight_kg), 1)

    context = InfusionContext(
        product=p.product,
        concentration_mg_ml=label.concentration_mg_ml,
        weight_kg=p.weight_kg,
        age_years=p.age_years,
        dose_g_kg=0.4,
        risk_factors=p.risk_factors,
    )
    events: list[SimEvent] = []
    (first_min, first_dose), *later = p.steps
    events.append(
        SimEvent(
            first_min * MIN,
            PUMP_EVENTS_RAW.name,
            key,
            _json(
                InfusionStarted(
                    event_id=eid("start"),
                    patient_ref=p.patient_ref,
                    event_time=at(first_min),
                    infusion_id=infusion_id,
                    rate_ml_h=rate(first_dose),
                    context=context,
                )
            ),
            note=f"start {label.name} at {first_dose} mg/kg/min",
        )
    )
    previous = rate(first_dose)
    for minute, dose in later:
        events.append(
            SimEvent(
                minute * MIN,
                PUMP_EVENTS_RAW.name,
                key,
                _json(
                    RateChanged(
                        event_id=eid("rate"),
                        patient_ref=p.patient_ref,
                        event_time=at(minute),
                        infusion_id=infusion_id,
                        rate_ml_h=rate(dose),
                        previous_rate_ml_h=previous,
                    )
                ),
                note=f"rate step to {dose} mg/kg/min",
            )
        )
        previous = rate(dose)
    for minute, nrs in p.back_pain:
        events.append(
            SimEvent(
                minute * MIN,
                SYMPTOMS_RAW.name,
                key,
                _json(
                    SymptomReport(
                        event_id=eid("pain"),
                        patient_ref=p.patient_ref,
                        event_time=at(minute),
                        symptom=SymptomKind.BACK_PAIN,
                        pain_score=nrs,
                        infusion_id=infusion_id,
                    )
                ),
                note=f"back pain {nrs}/10",
            )
        )
    for minute in range(0, int(p.end_min) + 1, 10):
        rise = p.hr_rise[1] if p.hr_rise and minute >= p.hr_rise[0] else 0.0
        events.append(
            SimEvent(
                minute * MIN + 1,
                VITALS_RAW.name,
                key,
                _json(
                    VitalSigns(
                        event_id=eid("vitals"),
                        patient_ref=p.patient_ref,
                        event_time=at(minute + 1 / 60),
                        heart_rate_bpm=Measurement(value=74 + rise),
                        systolic_mmhg=Measurement(value=124),
                        temperature_c=Measurement(value=36.8),
                        spo2_percent=Measurement(value=98),
                    )
                ),
            )
        )
    events.append(
        SimEvent(
            p.end_min * MIN,
            PUMP_EVENTS_RAW.name,
            key,
            _json(
                InfusionCompleted(
                    event_id=eid("done"),
                    patient_ref=p.patient_ref,
                    event_time=at(p.end_min),
                    infusion_id=infusion_id,
                )
            ),
            note="infusion completed",
        )
    )
    return events


#: A message a broken gateway might send: a rate in the wrong type. Goes to the DLQ.
MALFORMED_PUMP_MESSAGE = (
    b'{"kind": "rate_changed", "event_id": "gw-bad-1", "patient_ref": "pt-tolerates-02", '
    b'"event_time": "2026-01-01T10:00:00Z", "infusion_id": "inf-x", "rate_ml_h": "fast"}'
)


def demo_script(
    start: datetime, patients: tuple[ScriptedPatient, ...] = DEMO_PATIENTS
) -> list[SimEvent]:
    """Every message of the demo, ordered by simulated time."""
    events = [e for p in patients for e in _patient_events(p, start)]
    events.append(
        SimEvent(
            45 * MIN,
            PUMP_EVENTS_RAW.name,
            b"pt-tolerates-02",
            MALFORMED_PUMP_MESSAGE,
            note="malformed gateway message",
        )
    )
    events.sort(key=lambda e: (e.offset_s, e.topic, e.key))
    return events


def expected_r1_patients(patients: tuple[ScriptedPatient, ...] = DEMO_PATIENTS) -> set[str]:
    """Patients whose script has back pain within 60 min after a rate increase (ground truth)."""
    expected = set()
    for p in patients:
        step_minutes = [m for m, _ in p.steps[1:]]
        if any(0 <= pain_min - s <= 60 for pain_min, _ in p.back_pain for s in step_minutes):
            expected.add(p.patient_ref)
    return expected
