"""One patient's visit to a chair: the pump's rate history and what the patient went through."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from schemas.clinical_units import dose_rate_mg_kg_min, rate_ml_h_for_dose_rate
from schemas.events import PumpStatus
from simulators.cohort import PatientProfile
from simulators.reaction_model import BaselineVitals, ReactionCourse, ReactionPlan


@dataclass(frozen=True, slots=True)
class RateStepUp:
    at_s: float
    rate_before_ml_h: float
    rate_after_ml_h: float


@dataclass(slots=True)
class Visit:
    chair: int
    number: int
    profile: PatientProfile
    infusion_id: str
    pump_id: str
    monitor_id: str
    rng: random.Random
    start_s: float
    #: Planned dose rates (mg/kg/min), start first.
    schedule: tuple[float, ...]
    tolerance: float
    baseline: BaselineVitals
    step: int = 0
    status: PumpStatus = PumpStatus.RUNNING
    rate_ml_h: float = 0.0
    delivered_ml: float = 0.0
    accounted_s: float = 0.0
    #: Bumped on every rate or status change: a completion scheduled before is void.
    completion_token: int = 0
    #: (time, rate mL/h, running) after each pump event.
    rate_history: list[tuple[float, float, bool]] = field(default_factory=list)
    increases: list[RateStepUp] = field(default_factory=list)
    #: Titration stops once the patient reports symptoms or the rate was lowered.
    held: bool = False
    planned_reaction: ReactionPlan | None = None
    trigger: RateStepUp | None = None
    reaction_cancelled: bool = False
    reaction: ReactionCourse | None = None
    first_report_s: float | None = None
    first_back_pain_report_s: float | None = None
    neuro_report_s: float | None = None
    action: str | None = None
    action_by: str | None = None
    action_s: float | None = None
    resolved_s: float | None = None
    end_s: float | None = None
    chronic_reports: int = 0
    _counters: dict[str, int] = field(default_factory=dict)

    def event_id(self, kind: str) -> str:
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return f"{self.infusion_id}-{kind}{n}"

    def rate_for(self, dose_mg_kg_min: float) -> float:
        rate = rate_ml_h_for_dose_rate(
            dose_mg_kg_min, self.profile.concentration_mg_ml, self.profile.weight_kg
        )
        # Pumps take 0.1 mL/h; rounding down never programs above the intended dose rate.
        return math.floor(round(rate * 10, 6)) / 10

    def dose_rate(self, rate_ml_h: float) -> float:
        return dose_rate_mg_kg_min(
            rate_ml_h, self.profile.concentration_mg_ml, self.profile.weight_kg
        )

    def account(self, now_s: float) -> None:
        """Add the volume delivered since the last change."""
        if self.status is PumpStatus.RUNNING:
            self.delivered_ml += self.rate_ml_h * (now_s - self.accounted_s) / 3600.0
        self.accounted_s = now_s

    def seconds_to_complete(self) -> float | None:
        if self.status is not PumpStatus.RUNNING or self.rate_ml_h <= 0:
            return None
        remaining = max(0.0, self.profile.volume_ml - self.delivered_ml)
        return remaining / self.rate_ml_h * 3600.0

    def latest_increase_before(self, at_s: float) -> RateStepUp | None:
        earlier = [s for s in self.increases if s.at_s <= at_s]
        return earlier[-1] if earlier else None

    def is_infusing(self) -> bool:
        return self.status is not PumpStatus.COMPLETED
