"""Rate reactions: who reacts at which dose rate, when, how badly, and how it settles.

Pure functions over a seeded ``random.Random`` (no clock, no I/O). Facts from DOMAIN.md §2:
reactions start 10-60 min after a rate step, more often on a first infusion, at faster rates and
with risk factors; they settle 15-30 min after slowing or pausing, and sometimes persist.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

from schemas.events import SymptomKind
from simulators.cohort import PatientProfile
from simulators.scenario import Range, ReactionSpec


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class NeuroKind(StrEnum):
    #: Tingling -> numbness -> weakness, spreading (the guidance's Guillain-Barre warning).
    PROGRESSIVE = "progressive"
    #: Severe headache with neck stiffness (aseptic meningitis pattern).
    MENINGISM = "meningism"


def draw(rng: random.Random, span: Range) -> float:
    return rng.uniform(span.low, span.high)


def tolerance_mg_kg_min(profile: PatientProfile, spec: ReactionSpec, rng: random.Random) -> float:
    """The dose rate this patient tolerates on this visit: log-normal between patients, lower on
    a first infusion, with each risk factor and after a documented reaction."""
    tolerance = spec.tolerance_median_mg_kg_min * math.exp(rng.gauss(0.0, spec.tolerance_sigma))
    if profile.first_infusion:
        tolerance *= spec.first_infusion_factor
    risks = len(profile.risk_factors) + (1 if profile.age_years >= 65 else 0)
    tolerance *= spec.risk_factor_factor**risks
    if profile.prior_reactions:
        tolerance *= spec.prior_reaction_factor
    return tolerance


def step_reaction_probability(
    dose_rate_mg_kg_min: float, tolerance: float, spec: ReactionSpec
) -> float:
    """Chance that a step up to ``dose_rate_mg_kg_min`` sets off a reaction:
    1 - exp(-base x (dose rate / tolerance)^k), rising steeply past the tolerance."""
    ratio = dose_rate_mg_kg_min / tolerance
    return 1.0 - math.exp(-spec.hazard_base * ratio**spec.hazard_exponent)


@dataclass(frozen=True, slots=True)
class BaselineVitals:
    heart_rate_bpm: float
    systolic_mmhg: float
    diastolic_mmhg: float
    temperature_c: float
    spo2_percent: float
    respiratory_rate_per_min: float


def draw_baseline(rng: random.Random) -> BaselineVitals:
    systolic = min(170.0, max(100.0, rng.gauss(128, 14)))
    return BaselineVitals(
        heart_rate_bpm=min(98.0, max(55.0, rng.gauss(76, 9))),
        systolic_mmhg=systolic,
        diastolic_mmhg=systolic * rng.uniform(0.58, 0.68),
        temperature_c=min(37.3, max(36.2, rng.gauss(36.7, 0.25))),
        spo2_percent=rng.uniform(95.5, 99.4),
        respiratory_rate_per_min=min(20.0, max(12.0, rng.gauss(15, 1.8))),
    )


@dataclass(frozen=True, slots=True)
class VitalsShift:
    """Change from baseline at full reaction intensity."""

    heart_rate_bpm: float = 0.0
    systolic_mmhg: float = 0.0
    temperature_c: float = 0.0
    spo2_percent: float = 0.0
    respiratory_rate_per_min: float = 0.0


def draw_vitals_shift(
    severity: Severity, baseline: BaselineVitals, rng: random.Random
) -> VitalsShift:
    """DOMAIN.md §2 patterns. Mild stays below the R2 thresholds (HR +10-18, SBP +-10-18,
    temperature +0-0.5 C); moderate reaches HR > 100 and >= 38 C; severe HR > 120, SBP < 90,
    SpO2 < 92. Keeping mild clear of the thresholds keeps the ground truth crisp."""
    if severity is Severity.MILD:
        return VitalsShift(
            heart_rate_bpm=rng.uniform(10, 18),
            systolic_mmhg=rng.choice((-1, 1)) * rng.uniform(10, 18),
            temperature_c=rng.uniform(0.0, 0.5),
            respiratory_rate_per_min=rng.uniform(0, 3),
        )
    if severity is Severity.MODERATE:
        heart_rate = max(baseline.heart_rate_bpm + 22, rng.uniform(104, 116))
        return VitalsShift(
            heart_rate_bpm=heart_rate - baseline.heart_rate_bpm,
            systolic_mmhg=rng.uniform(-15, 15),
            temperature_c=max(38.2, rng.uniform(38.2, 38.8)) - baseline.temperature_c,
            respiratory_rate_per_min=rng.uniform(3, 6),
        )
    return VitalsShift(
        heart_rate_bpm=rng.uniform(126, 142) - baseline.heart_rate_bpm,
        systolic_mmhg=rng.uniform(76, 86) - baseline.systolic_mmhg,
        temperature_c=rng.uniform(38.3, 39.2) - baseline.temperature_c,
        spo2_percent=rng.uniform(86, 90) - baseline.spo2_percent,
        respiratory_rate_per_min=rng.uniform(6, 10),
    )


@dataclass(frozen=True, slots=True)
class ReactionPlan:
    """Everything random about one reaction, drawn when the step sets it off."""

    onset_delay_s: float
    severity: Severity
    symptoms: tuple[SymptomKind, ...]
    peak_pain_score: int
    vitals_shift: VitalsShift
    neuro: NeuroKind | None
    neuro_delay_s: float
    persists: bool
    resolution_s: float
    ramp_s: float

    @property
    def back_pain(self) -> bool:
        return SymptomKind.BACK_PAIN in self.symptoms


_PEAK_NRS = {Severity.MILD: (3, 6), Severity.MODERATE: (5, 8), Severity.SEVERE: (7, 10)}


def plan_reaction(
    spec: ReactionSpec,
    rng: random.Random,
    dose_rate_mg_kg_min: float,
    tolerance: float,
    baseline: BaselineVitals,
) -> ReactionPlan:
    """Draw a reaction set off by a step to ``dose_rate_mg_kg_min``; the further past the
    tolerance, the more likely a worse one."""
    onset_delay_s = draw(rng, spec.onset_min) * 60
    mild, moderate, severe = spec.severity_weights
    excess = max(1.0, dose_rate_mg_kg_min / tolerance)
    severity = rng.choices(
        (Severity.MILD, Severity.MODERATE, Severity.SEVERE),
        weights=(mild, moderate * excess, severe * excess),
    )[0]
    symptoms = [
        kind
        for kind, p in (
            (SymptomKind.BACK_PAIN, spec.back_pain_probability),
            (SymptomKind.HEADACHE, spec.headache_probability),
            (SymptomKind.CHILLS, spec.chills_probability),
            (SymptomKind.FLUSHING, spec.flushing_probability),
        )
        if rng.random() < p
    ]
    if severity is not Severity.MILD and SymptomKind.CHILLS not in symptoms:
        symptoms.append(SymptomKind.CHILLS)  # moderate: chills (DOMAIN.md §2)
    if not symptoms:
        symptoms.append(SymptomKind.BACK_PAIN)
    low, high = _PEAK_NRS[severity]
    peak = rng.randint(low, high)
    shift = draw_vitals_shift(severity, baseline, rng)
    neuro: NeuroKind | None = None
    if rng.random() < spec.neuro_probability:
        neuro = rng.choice((NeuroKind.PROGRESSIVE, NeuroKind.MENINGISM))
    neuro_delay_s = rng.uniform(15, 45) * 60
    persists = rng.random() < spec.persist_probability
    resolution_s = draw(rng, spec.resolution_min) * 60
    return ReactionPlan(
        onset_delay_s=onset_delay_s,
        severity=severity,
        symptoms=tuple(symptoms),
        peak_pain_score=peak,
        vitals_shift=shift,
        neuro=neuro,
        neuro_delay_s=neuro_delay_s,
        persists=persists,
        resolution_s=resolution_s,
        ramp_s=spec.ramp_min * 60,
    )


@dataclass(slots=True)
class ReactionCourse:
    """The course of one reaction on simulated time: onset, ramp, and relief once the rate is
    slowed or paused (unless it persists)."""

    plan: ReactionPlan
    onset_s: float
    relief_from_s: float | None = None
    relief_level: float = 1.0

    def intensity_at(self, t_s: float) -> float:
        """0 before onset, rising linearly to 1 over the ramp, then falling linearly to 0 over
        the resolution time once relief starts."""
        if t_s < self.onset_s:
            return 0.0
        ramp = min(1.0, (t_s - self.onset_s) / self.plan.ramp_s)
        if self.relief_from_s is None or t_s < self.relief_from_s:
            return ramp
        done = (t_s - self.relief_from_s) / self.plan.resolution_s
        return max(0.0, self.relief_level * (1.0 - done))

    def start_relief(self, t_s: float) -> float | None:
        """Slowing or pausing at ``t_s``: return when the reaction will have resolved, or None
        when it persists (or relief already started)."""
        if self.relief_from_s is not None or self.plan.persists:
            return None
        self.relief_level = self.intensity_at(t_s)
        self.relief_from_s = t_s
        return t_s + self.plan.resolution_s

    def pain_score_at(self, t_s: float) -> int:
        return round(self.plan.peak_pain_score * self.intensity_at(t_s))
