"""The one set of clinical event builders for every test: a :class:`Patient` builds its events
on a timeline of minutes from ``t0`` (default :data:`T0`). One Octagam 10 % infusion in a 70 kg
patient: 42 mL/h = 1 mg/kg/min, 84 = 2, 168 = 4, 525 = 12.5 (above the 12 label maximum)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.alerts import AckResponse, ActionTaken, AlertAck
from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    InfusionStopped,
    Measurement,
    NeurologicalSigns,
    RateChanged,
    RiskFactor,
    SymptomKind,
    SymptomReport,
    Validity,
    VitalSigns,
)
from schemas.ivig_products import Indication, IvigProduct
from streams.clinical.recommendation_texts import alert_id_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    """Minute ``minute`` of the default timeline."""
    return T0 + timedelta(minutes=minute)


@dataclass(frozen=True)
class Patient:
    """Event builders for one patient; ids are unique per patient and minute. Pump events belong
    to the patient's infusion ``infusion`` (a letter) unless another one is named."""

    ref: str
    infusion: str = "a"
    #: Minute 0 of the patient's timeline.
    t0: datetime = T0

    def at(self, minute: float) -> datetime:
        return self.t0 + timedelta(minutes=minute)

    def infusion_id(self, infusion: str | None = None) -> str:
        return f"inf-{self.ref}-{infusion or self.infusion}"

    def start(
        self,
        minute: float = 0,
        rate: float = 42.0,
        *,
        infusion: str | None = None,
        age: int = 50,
        dose_g_kg: float = 0.4,
        risk: tuple[RiskFactor, ...] = (),
        indication: Indication | None = None,
    ) -> InfusionStarted:
        return InfusionStarted(
            event_id=f"{self.ref}-start-{infusion or self.infusion}", patient_ref=self.ref,
            event_time=self.at(minute), infusion_id=self.infusion_id(infusion), rate_ml_h=rate,
            context=InfusionContext(
                product=IvigProduct.OCTAGAM_10, concentration_mg_ml=100, weight_kg=70,
                age_years=age, dose_g_kg=dose_g_kg, risk_factors=risk, indication=indication,
            ),
        )  # fmt: skip

    def rate(self, minute: float, rate: float, *, infusion: str | None = None) -> RateChanged:
        return RateChanged(
            event_id=f"{self.ref}-rate-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), infusion_id=self.infusion_id(infusion), rate_ml_h=rate,
        )  # fmt: skip

    def pause(self, minute: float) -> InfusionPaused:
        return InfusionPaused(
            event_id=f"{self.ref}-pause-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), infusion_id=self.infusion_id(),
        )  # fmt: skip

    def resume(self, minute: float, rate: float) -> InfusionResumed:
        return InfusionResumed(
            event_id=f"{self.ref}-resume-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), infusion_id=self.infusion_id(), rate_ml_h=rate,
        )  # fmt: skip

    def stop(self, minute: float) -> InfusionStopped:
        return InfusionStopped(
            event_id=f"{self.ref}-stop-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), infusion_id=self.infusion_id(),
        )  # fmt: skip

    def done(self, minute: float, *, infusion: str | None = None) -> InfusionCompleted:
        return InfusionCompleted(
            event_id=f"{self.ref}-done-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), infusion_id=self.infusion_id(infusion),
        )  # fmt: skip

    def pain(
        self,
        minute: float,
        nrs: int,
        *,
        symptom: SymptomKind = SymptomKind.BACK_PAIN,
        infusion: str | None = None,
        **neuro: bool,
    ) -> SymptomReport:
        """A pain report (back pain unless ``symptom`` says otherwise); it names an infusion only
        when ``infusion`` is given."""
        return SymptomReport(
            event_id=f"{self.ref}-pain-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), symptom=symptom, pain_score=nrs,
            neurological=NeurologicalSigns(**neuro),
            infusion_id=self.infusion_id(infusion) if infusion else None,
        )  # fmt: skip

    def symptom(self, minute: float, kind: SymptomKind, **neuro: bool) -> SymptomReport:
        return SymptomReport(
            event_id=f"{self.ref}-symptom-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), symptom=kind,
            pain_score=5 if kind is SymptomKind.NECK_PAIN else None,
            neurological=NeurologicalSigns(**neuro),
        )  # fmt: skip

    def vitals(
        self,
        minute: float,
        hr: float = 80,
        sbp: float = 125,
        temp: float = 36.8,
        spo2: float = 98,
        *,
        hr_validity: Validity = Validity.VALID,
    ) -> VitalSigns:
        return VitalSigns(
            event_id=f"{self.ref}-vitals-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), heart_rate_bpm=Measurement(value=hr, validity=hr_validity),
            systolic_mmhg=Measurement(value=sbp), temperature_c=Measurement(value=temp),
            spo2_percent=Measurement(value=spo2),
        )  # fmt: skip

    def ack(
        self,
        minute: float,
        rule: str,
        trigger_event_id: str,
        response: AckResponse,
        action: ActionTaken = ActionTaken.NONE,
        *,
        infusion: str | None = None,
    ) -> AlertAck:
        """A nurse's response to the alert a rule raised for ``trigger_event_id`` (alert ids
        are deterministic, so the test can name it as a nurse's page would)."""
        return AlertAck(
            event_id=f"{self.ref}-ack-{minute:g}", patient_ref=self.ref,
            event_time=self.at(minute), response=response, action_taken=action,
            alert_id=alert_id_for(f"{self.infusion_id(infusion)}:{rule}:{trigger_event_id}"),
        )  # fmt: skip
