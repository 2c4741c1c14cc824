"""Input events: pump events, vital signs and symptom reports, with their range checks."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, model_validator

from schemas.base import (
    AddsOptionalFields,
    ClinicalEvent,
    FrozenModel,
    InfusionId,
    PainScore,
    RateMlH,
    SharesFieldsSet,
    StrictFloat,
    StrictInt,
)
from schemas.clinical_units import dose_rate_mg_kg_min
from schemas.ivig_products import Indication, IvigProduct


class RiskFactor(StrEnum):
    """Risk factors for more severe reactions, named in the guidance (R4)."""

    AGE_65_PLUS = "age_65_plus"
    DEHYDRATION = "dehydration"
    RENAL_DISEASE = "renal_disease"
    DIABETES = "diabetes"
    HYPERTENSION = "hypertension"
    PRIOR_THROMBOEMBOLIC_EVENT = "prior_thromboembolic_event"
    IMMOBILISATION = "immobilisation"
    HIGH_DOSE = "high_dose"
    RAPID_RATE = "rapid_rate"


class InfusionContext(SharesFieldsSet, AddsOptionalFields):
    """What the pipeline must know about a patient and a bag to judge a rate."""

    #: Added after states were first stored: left out of the JSON while unset (byte-identical).
    ADDED_OPTIONAL = frozenset({"indication"})

    product: IvigProduct
    concentration_mg_ml: Annotated[
        StrictFloat, Field(gt=0, le=200, description="mg/mL; 10 % = 100")
    ]
    weight_kg: Annotated[StrictFloat, Field(ge=2, le=350)]
    age_years: Annotated[StrictInt, Field(ge=0, le=120)]
    dose_g_kg: Annotated[StrictFloat, Field(gt=0, le=3, description="Prescribed dose, g/kg")]
    risk_factors: tuple[RiskFactor, ...] = ()
    #: IVIG infusions this patient is known to have had before this one (from the order or the
    #: record); R6 counts repeated infusions from it as well as from what the pipeline has seen.
    prior_infusions: Annotated[StrictInt | None, Field(ge=0, le=1000)] = None
    ward: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]*$")] = (
        "infusion-centre"
    )
    #: Why the patient gets IVIG (from the order). R8 applies the product's label maximum for
    #: it; absent (unknown) or not on the product's label, the product's highest maximum.
    indication: Indication | None = None

    @property
    def effective_risk_factors(self) -> tuple[RiskFactor, ...]:
        """Declared risk factors plus age >= 65, which needs no declaration."""
        factors = list(self.risk_factors)
        if self.age_years >= 65 and RiskFactor.AGE_65_PLUS not in factors:
            factors.append(RiskFactor.AGE_65_PLUS)
        return tuple(factors)

    def dose_rate_mg_kg_min(self, rate_ml_h: float) -> float:
        return dose_rate_mg_kg_min(rate_ml_h, self.concentration_mg_ml, self.weight_kg)


class _PumpEvent(ClinicalEvent):
    infusion_id: InfusionId
    device_id: Annotated[str | None, Field(max_length=64)] = None


class InfusionStarted(_PumpEvent):
    kind: Literal["infusion_started"] = "infusion_started"
    rate_ml_h: RateMlH
    context: InfusionContext


class RateChanged(_PumpEvent):
    kind: Literal["rate_changed"] = "rate_changed"
    rate_ml_h: RateMlH
    previous_rate_ml_h: RateMlH | None = None


class InfusionPaused(_PumpEvent):
    kind: Literal["paused"] = "paused"


class InfusionResumed(_PumpEvent):
    kind: Literal["resumed"] = "resumed"
    rate_ml_h: RateMlH


class InfusionStopped(_PumpEvent):
    kind: Literal["stopped"] = "stopped"
    reason: Annotated[str, Field(max_length=200)] = ""


class InfusionCompleted(_PumpEvent):
    kind: Literal["completed"] = "completed"
    volume_delivered_ml: Annotated[StrictFloat | None, Field(ge=0, le=5000)] = None


class PumpAlarm(_PumpEvent):
    kind: Literal["pump_alarm"] = "pump_alarm"
    alarm: Literal["occlusion", "air_in_line", "door_open", "low_battery", "vtbi_complete", "other"]
    text: Annotated[str, Field(max_length=200)] = ""


PumpEvent = Annotated[
    InfusionStarted
    | RateChanged
    | InfusionPaused
    | InfusionResumed
    | InfusionStopped
    | InfusionCompleted
    | PumpAlarm,
    Field(discriminator="kind"),
]
PUMP_EVENT_ADAPTER: TypeAdapter[PumpEvent] = TypeAdapter(PumpEvent)


class PumpStatus(StrEnum):
    """The pump's state after a pump event (IHE PCD-10: infusing, paused, stopped, complete)."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class Validity(StrEnum):
    """Measurement validity, as IEEE 11073 marks it."""

    VALID = "valid"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"


class Measurement(FrozenModel):
    value: StrictFloat
    validity: Validity = Validity.VALID


_INVALID = Validity.INVALID
#: Physiologically possible bounds; values outside are rejected as data errors, not vitals.
VITAL_BOUNDS: dict[str, tuple[float, float]] = {
    "heart_rate_bpm": (0, 300),
    "systolic_mmhg": (0, 300),
    "diastolic_mmhg": (0, 250),
    "temperature_c": (25, 45),
    "spo2_percent": (0, 100),
    "respiratory_rate_per_min": (0, 80),
}


class VitalSigns(ClinicalEvent):
    """One set of vital-sign observations for a patient at one event time."""

    kind: Literal["vitals"] = "vitals"
    heart_rate_bpm: Measurement | None = None
    systolic_mmhg: Measurement | None = None
    diastolic_mmhg: Measurement | None = None
    temperature_c: Measurement | None = None
    spo2_percent: Measurement | None = None
    respiratory_rate_per_min: Measurement | None = None

    @model_validator(mode="after")
    def _within_bounds(self) -> VitalSigns:
        # (On the telemetry path for every reading: the fields straight from the instance's
        # dict, and the enum member from a module constant, Python 3.11's enum lookup being
        # slow.)
        measured = 0
        fields = self.__dict__
        for name, (low, high) in VITAL_BOUNDS.items():
            m: Measurement | None = fields[name]
            if m is None:
                continue
            measured += 1
            if m.validity is not _INVALID and not low <= m.value <= high:
                raise ValueError(f"{name}={m.value} is outside the possible range {low}-{high}")
        if measured == 0:
            raise ValueError("a vital-signs event must carry at least one measurement")
        return self


class SymptomKind(StrEnum):
    BACK_PAIN = "back_pain"
    HEADACHE = "headache"
    CHILLS = "chills"
    FLUSHING = "flushing"
    NAUSEA = "nausea"
    CHEST_TIGHTNESS = "chest_tightness"
    MYALGIA = "myalgia"
    NECK_PAIN = "neck_pain"
    OTHER = "other"


NEUROLOGICAL_SIGN_NAMES = (
    "weakness",
    "numbness",
    "tingling",
    "spreading",
    "neck_stiffness",
    "severe_headache",
)


class NeurologicalSigns(AddsOptionalFields):
    """Neurological symptoms that make R3 fire when progressive (guidance: 'Monitor for
    progression')."""

    #: Added after states were first stored: left out of the JSON while unset (byte-identical).
    ADDED_OPTIONAL = frozenset({"progressive"})

    weakness: bool = False
    numbness: bool = False
    tingling: bool = False
    spreading: bool = False
    neck_stiffness: bool = False
    severe_headache: bool = False
    #: Whether the signs are progressing, as the reporter judged: ``False`` (explicitly not
    #: progressive, e.g. stable since before the infusion) and R3 does not act on them;
    #: ``None`` (unknown, every message before this field) is treated as progressive.
    progressive: bool | None = None

    @property
    def any(self) -> bool:
        return any(getattr(self, name) for name in NEUROLOGICAL_SIGN_NAMES)


class SymptomReport(ClinicalEvent):
    """A symptom reported by the patient (or recorded by a nurse on the patient's behalf)."""

    kind: Literal["symptom"] = "symptom"
    symptom: SymptomKind
    pain_score: PainScore | None = None
    infusion_id: InfusionId | None = None
    reporter: Literal["patient", "nurse"] = "patient"
    neurological: NeurologicalSigns = NeurologicalSigns()

    @model_validator(mode="after")
    def _pain_needs_score(self) -> SymptomReport:
        if (
            self.symptom in {SymptomKind.BACK_PAIN, SymptomKind.NECK_PAIN}
            and self.pain_score is None
        ):
            raise ValueError(f"a {self.symptom.value} report needs pain_score (NRS 0-10)")
        return self
