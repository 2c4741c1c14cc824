"""The alert contract (topic ``alerts``) and nurse acknowledgements (topic ``alerts.acks``).

Fields named here are a contract with external consumers: add, never rename.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from schemas.base import (
    AddsOptionalFields,
    EventId,
    FrozenModel,
    InfusionId,
    PainScore,
    PatientRef,
    RateMlH,
)
from schemas.events import RiskFactor


class Rule(StrEnum):
    """The clinical rules R1-R8 (DOMAIN.md §1; docs/clinical-rules.md). Alerts may also carry
    technical rule ids ``T0``-``T99``, which are not clinical rules and have no member here."""

    R1 = "R1"  # back pain after a rate increase
    R2 = "R2"  # back pain with abnormal vital signs
    R3 = "R3"  # progressive neurological symptoms
    R4 = "R4"  # risk factors raise the priority
    R5 = "R5"  # pain persists after slowing or pausing
    R6 = "R6"  # renal-function advisory
    R7 = "R7"  # documented reaction at the next infusion's start
    R8 = "R8"  # dose rate above limits


class AlertPhase(StrEnum):
    START = "start"
    UPDATE = "update"
    ESCALATE = "escalate"
    END = "end"


class AlertPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class AlertType(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"
    ADVISORY = "advisory"


class RecommendationCode(StrEnum):
    SLOW_RATE = "slow_rate"
    PAUSE = "pause"
    HYDRATE = "hydrate"
    ANALGESIC = "analgesic"
    NOTIFY_PRESCRIBER = "notify_prescriber"
    NEUROLOGY_CONSULT = "neurology_consult"
    SECOND_LINE_PAIN = "second_line_pain"
    ASSESS_RENAL = "assess_renal"
    PREMEDICATE = "premedicate"
    CAP_RATE = "cap_rate"
    LOWER_CONCENTRATION = "lower_concentration"
    #: Technical alerts: check the device or feed the pipeline is blind to (issue 12).
    CHECK_FEED = "check_feed"


class Recommendation(FrozenModel):
    code: RecommendationCode
    text: Annotated[str, Field(min_length=1, max_length=400)]
    params: dict[str, Any] | None = None


class VitalsEvidence(FrozenModel):
    heart_rate_bpm: float | None = None
    systolic_mmhg: float | None = None
    temperature_c: float | None = None
    spo2_percent: float | None = None


class Evidence(FrozenModel):
    """What a nurse needs to judge the alert in ten seconds."""

    pain_score: PainScore | None = None
    symptom_event_id: EventId | None = None
    rate_before_ml_h: RateMlH | None = None
    rate_after_ml_h: RateMlH | None = None
    dose_rate_mg_kg_min: float | None = None
    minutes_since_rate_change: float | None = None
    rate_change_event_id: EventId | None = None
    vitals: VitalsEvidence | None = None
    #: Pre-infusion vitals the abnormal ones are compared with (R2).
    baseline_vitals: VitalsEvidence | None = None
    #: Which thresholds the vitals crossed, e.g. ``heart_rate_bpm > 120`` (R2).
    abnormal_vitals: tuple[str, ...] = ()
    #: Neurological signs reported, e.g. ``weakness`` (R3, R5).
    neurological_signs: tuple[str, ...] = ()
    #: The dose-rate limit crossed (R8) or the cap suggested (R7), mg/kg/min.
    limit_mg_kg_min: float | None = None
    #: The last rate the patient ran at without symptoms, mL/h (R1, R7).
    last_tolerated_rate_ml_h: RateMlH | None = None
    #: Pain when the nurse slowed or paused, and minutes since then (R5).
    pain_score_at_action: PainScore | None = None
    minutes_since_action: float | None = None


#: R1..R8 (DOMAIN.md §1) or T1.. for technical alerts.
RuleId = Annotated[str, Field(pattern=r"^(R[1-8]|T[0-9]{1,2})$")]


class Alert(FrozenModel):
    """One phase of one alert episode; ``alert_id`` is stable across the episode's phases."""

    alert_id: Annotated[str, Field(min_length=1, max_length=64)]
    phase: AlertPhase
    patient_ref: PatientRef
    infusion_id: InfusionId | None
    rule: RuleId
    priority: AlertPriority
    type: AlertType
    title: Annotated[str, Field(min_length=1, max_length=200)]
    recommendations: tuple[Recommendation, ...]
    evidence: Evidence
    risk_factors: tuple[RiskFactor, ...] = ()
    ward: str = "infusion-centre"
    event_time: AwareDatetime
    created_at: AwareDatetime
    #: The rules-file version that produced the alert (``streams/rules/*.toml``).
    rules_version: Annotated[str, Field(max_length=64)] | None = None
    #: Rules that adjusted this alert (``R4`` when risk factors raised its priority).
    modifiers: tuple[RuleId, ...] = ()
    #: Set when the alert was evaluated later than the grace after its trigger (event time).
    late_by_min: float | None = None


class AckResponse(StrEnum):
    """Nurse responses (IHE PCD-05/07 vocabulary)."""

    DELIVERED = "delivered"
    READ = "read"
    ACCEPTED = "accepted"
    TRUE_POSITIVE = "true_positive"
    NOT_CLINICALLY_RELEVANT = "not_clinically_relevant"
    FALSE_POSITIVE = "false_positive"
    REJECTED = "rejected"
    CALLBACK = "callback"

    @property
    def stops_escalation(self) -> bool:
        """The responder took responsibility: nobody else needs paging (IHE PCD-05/07)."""
        return self in _STOPS_ESCALATION

    @property
    def not_a_reaction(self) -> bool:
        """The nurse judged the alert was no reaction: its episode ends and R7 ignores it."""
        return self in _NOT_A_REACTION


_STOPS_ESCALATION = frozenset(
    {
        AckResponse.ACCEPTED,
        AckResponse.TRUE_POSITIVE,
        AckResponse.NOT_CLINICALLY_RELEVANT,
        AckResponse.FALSE_POSITIVE,
        AckResponse.CALLBACK,
    }
)
_NOT_A_REACTION = frozenset({AckResponse.FALSE_POSITIVE, AckResponse.NOT_CLINICALLY_RELEVANT})


class ActionTaken(StrEnum):
    SLOWED = "slowed"
    PAUSED = "paused"
    NONE = "none"


class AlertAck(AddsOptionalFields):
    """A nurse's response to an alert (topic ``alerts.acks``, key = patient_ref)."""

    ADDED_OPTIONAL = frozenset({"responder_id", "page_id"})

    event_id: EventId
    alert_id: Annotated[str, Field(min_length=1, max_length=64)]
    patient_ref: PatientRef
    response: AckResponse
    action_taken: ActionTaken = ActionTaken.NONE
    responder_role: Annotated[str, Field(min_length=1, max_length=32)] = "nurse"
    event_time: AwareDatetime
    #: The responder's roster id (staff, not patient, data), so that each nurse's answer is
    #: theirs rather than a shared role's (issue 12).
    responder_id: (
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")] | None
    ) = None
    #: Set when one answer to a page of several episodes is copied to each member episode: the
    #: page's id. The clinical stage applies every copy; the lifecycle only the page's own.
    page_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
