"""Documented infusion reactions (compacted topic ``reactions``, key = patient_ref)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field

from schemas.alerts import AckResponse, ActionTaken, VitalsEvidence
from schemas.base import FrozenModel, InfusionId, PainScore, PatientRef, RateMlH
from schemas.ivig_products import IvigProduct


class ReactionRecord(FrozenModel):
    """One documented reaction (guidance: 'Document reaction details to guide management of
    future infusions')."""

    patient_ref: PatientRef
    infusion_id: InfusionId
    alert_id: str
    rule: Annotated[str, Field(pattern=r"^R[1-3]$")]
    product: IvigProduct
    concentration_mg_ml: float
    rate_at_onset_ml_h: RateMlH
    dose_rate_at_onset_mg_kg_min: float
    minutes_since_rate_step: float | None
    peak_pain_score: PainScore | None
    vitals: VitalsEvidence | None = None
    actions_taken: tuple[ActionTaken, ...] = ()
    outcome: Annotated[str, Field(max_length=200)]
    #: The nurse's judgement when one was recorded; R7 ignores reactions marked false positive.
    nurse_response: AckResponse | None = None
    #: The last rate run without symptoms before the onset (R7 caps below it).
    last_tolerated_rate_ml_h: RateMlH | None = None
    last_tolerated_dose_rate_mg_kg_min: float | None = None
    onset_time: AwareDatetime
    ended_time: AwareDatetime


class ReactionHistory(FrozenModel):
    """The compacted topic's value: every documented reaction of one patient."""

    patient_ref: PatientRef
    reactions: tuple[ReactionRecord, ...]
