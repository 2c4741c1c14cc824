"""Scenario files: a day at the infusion centre described in TOML (cohort distributions,
reaction model parameters, protocol habits, nurse behaviour and faults).

``load_scenario("infusion-day")`` reads the shipped ``simulators/scenarios/infusion-day.toml``;
any other argument is a path to a TOML file of the same shape.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.events import RiskFactor
from schemas.ivig_products import Indication, IvigProduct
from schemas.validation_errors import problem_lines

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(_Spec):
    """A closed interval drawn uniformly."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low {self.low} > high {self.high}")
        return self


class CohortSpec(_Spec):
    weight_kg_mean: Annotated[float, Field(gt=0)] = 75.0
    weight_kg_sd: Annotated[float, Field(ge=0)] = 15.0
    weight_kg_min: Annotated[float, Field(ge=2)] = 40.0
    weight_kg_max: Annotated[float, Field(le=350)] = 140.0
    age_years_mean: float = 55.0
    age_years_sd: Annotated[float, Field(ge=0)] = 16.0
    female_fraction: Fraction = 0.55
    #: Relative weights of indications; each draws a product that names it on its label.
    indications: dict[Indication, Annotated[float, Field(ge=0)]] = {
        Indication.PI: 0.5, Indication.CIDP: 0.25, Indication.ITP: 0.15, Indication.MMN: 0.1,
    }  # fmt: skip
    products: dict[IvigProduct, Annotated[float, Field(ge=0)]] = {p: 1.0 for p in IvigProduct}
    #: Dose of this visit (g/kg) per indication.
    dose_g_kg: dict[Indication, Range] = {
        Indication.PI: Range(low=0.3, high=0.6),
        Indication.CIDP: Range(low=0.4, high=1.0),
        Indication.ITP: Range(low=0.4, high=1.0),
        Indication.MMN: Range(low=0.4, high=1.0),
        Indication.DERMATOMYOSITIS: Range(low=0.4, high=1.0),
        Indication.GBS: Range(low=0.4, high=0.4),
    }
    #: Prevalence of each declared risk factor (age >= 65 follows from the age draw).
    risk_factors: dict[RiskFactor, Fraction] = {
        RiskFactor.RENAL_DISEASE: 0.08, RiskFactor.DIABETES: 0.15,
        RiskFactor.HYPERTENSION: 0.25, RiskFactor.PRIOR_THROMBOEMBOLIC_EVENT: 0.04,
        RiskFactor.IMMOBILISATION: 0.05, RiskFactor.DEHYDRATION: 0.05,
    }  # fmt: skip
    first_infusion_fraction: Fraction = 0.15
    prior_reaction_fraction: Fraction = 0.1
    #: Patients with chronic back pain who report it whatever the rate (false-alert material).
    chronic_back_pain_fraction: Fraction = 0.08
    #: Above this dose (g/kg) the patient carries the high_dose risk factor.
    high_dose_g_kg: Annotated[float, Field(gt=0)] = 1.0


class ReactionSpec(_Spec):
    """Hazard of a rate reaction at each step-up: p = 1 - exp(-base x (dose_rate/tolerance)^k)."""

    tolerance_median_mg_kg_min: Annotated[float, Field(gt=0)] = 9.0
    #: Log-normal spread of tolerance between patients (0: everyone the same).
    tolerance_sigma: Annotated[float, Field(ge=0)] = 0.45
    first_infusion_factor: Annotated[float, Field(gt=0, le=1)] = 0.6
    risk_factor_factor: Annotated[float, Field(gt=0, le=1)] = 0.85
    prior_reaction_factor: Annotated[float, Field(gt=0, le=1)] = 0.7
    hazard_base: Annotated[float, Field(ge=0)] = 0.15
    hazard_exponent: Annotated[float, Field(ge=0)] = 3.0
    onset_min: Range = Range(low=10, high=60)
    #: Weights of mild, moderate, severe (DOMAIN.md §2: severe is rare).
    severity_weights: tuple[float, float, float] = (0.7, 0.25, 0.05)
    back_pain_probability: Fraction = 0.8
    headache_probability: Fraction = 0.35
    chills_probability: Fraction = 0.25
    flushing_probability: Fraction = 0.25
    neuro_probability: Fraction = 0.03
    #: Minutes from onset to peak intensity.
    ramp_min: Annotated[float, Field(gt=0)] = 10.0
    #: Minutes from the patient feeling it to the report reaching the system.
    report_delay_min: Range = Range(low=0.5, high=5)
    report_interval_min: Range = Range(low=10, high=15)
    resolution_min: Range = Range(low=15, high=30)
    #: Reactions that do not settle after slowing or pausing (R5 material).
    persist_probability: Fraction = 0.1


class ProtocolSpec(_Spec):
    arrival_window_min: Range = Range(low=0, high=45)
    changeover_min: Range = Range(low=10, high=25)
    #: A new patient sits down only when this much of the day is left.
    min_remaining_min: Annotated[float, Field(ge=0)] = 150.0
    #: Cap for patients with risk factors (the guidance's "minimum practicable rate").
    risk_cap_mg_kg_min: Annotated[float, Field(gt=0)] = 3.3
    risk_cap_adherence: Fraction = 0.85
    #: Chance that a step is programmed above the label maximum (a keying error: R8 material).
    programming_error_probability: Fraction = 0.01


class VitalsSpec(_Spec):
    interval_min: Annotated[float, Field(gt=0)] = 5.0


class NurseSpec(_Spec):
    #: Without the pipeline, the bedside nurse notices a reporting patient after a while.
    unaided_response: bool = True
    unaided_notice_min: Range = Range(low=15, high=40)
    #: Alert -> acknowledgement (DOMAIN.md §4: median 8-9 s).
    ack_delay_s: Range = Range(low=5, high=30)
    #: Acknowledgement -> the pump reprogrammed at the chair.
    action_delay_s: Range = Range(low=60, high=240)
    follow_probability: Fraction = 0.9


class FaultSpec(_Spec):
    """Faults applied to the JSON feed (fractions of the messages each applies to)."""

    malformed: Fraction = 0.0
    wrong_types: Fraction = 0.0
    unit_errors: Fraction = 0.0
    out_of_range: Fraction = 0.0
    duplicates: Fraction = 0.0
    late: Fraction = 0.0
    late_by_s: Range = Range(low=60, high=900)
    #: Fraction of patients whose devices' clocks are off by ``clock_skew_s``.
    clock_skew: Fraction = 0.0
    clock_skew_s: Range = Range(low=-300, high=300)
    #: Fraction of patients whose vitals stream goes silent for ``silent_min``.
    silent: Fraction = 0.0
    silent_min: Range = Range(low=20, high=40)
    #: Fraction of patients whose ``infusion_started`` is lost (their pump's other events arrive).
    lost_starts: Fraction = 0.0
    #: Number of bursts: the gateway (all feeds) holds ``burst_min`` of messages, then flushes.
    bursts: Annotated[int, Field(ge=0)] = 0
    burst_min: Range = Range(low=3, high=10)

    @property
    def any(self) -> bool:
        return any(value for value in self.model_dump().values() if not isinstance(value, dict))


class Scenario(_Spec):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    start: AwareDatetime
    duration_h: Annotated[float, Field(gt=0, le=24)] = 4.0
    chairs: Annotated[int, Field(ge=1, le=10_000)] = 24
    ward: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")] = "infusion-centre"
    cohort: CohortSpec = CohortSpec()
    reaction: ReactionSpec = ReactionSpec()
    protocol: ProtocolSpec = ProtocolSpec()
    vitals: VitalsSpec = VitalsSpec()
    nurse: NurseSpec = NurseSpec()
    faults: FaultSpec = FaultSpec()


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not validate."""


def scenario_from_toml(text: str, origin: str) -> Scenario:
    try:
        return Scenario.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{origin}: not TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(problem_lines(exc, top_level=""))
        raise ScenarioError(f"{origin}: {problems}") from None


def shipped_scenarios() -> list[str]:
    folder = resources.files("simulators") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(f"{name_or_path}: no such scenario file")
        return scenario_from_toml(path.read_text(encoding="utf-8"), str(path))
    shipped = resources.files("simulators") / "scenarios" / f"{name_or_path}.toml"
    if not shipped.is_file():
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}: shipped ones are {', '.join(shipped_scenarios())}"
            " (or give a path to a .toml file)"
        )
    return scenario_from_toml(shipped.read_text(encoding="utf-8"), f"scenario {name_or_path}")
