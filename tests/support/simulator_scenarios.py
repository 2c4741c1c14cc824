"""Small scenarios for simulator tests, derived from the shipped infusion day."""

from __future__ import annotations

from typing import Any

from simulators.scenario import Scenario, load_scenario


def scenario_with(**sections: dict[str, Any] | Any) -> Scenario:
    """The infusion day with top-level fields or whole sections (dicts) updated."""
    base = load_scenario("infusion-day").model_dump()
    for key, value in sections.items():
        if isinstance(value, dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return Scenario.model_validate(base)


def one_reacting_patient(**nurse: Any) -> Scenario:
    """One chair, one patient on Gamunex-C (PI: 1 -> 2 mg/kg/min at 30 min) who tolerates
    1 mg/kg/min only: the step to 2 sets off mild back pain 10-12 min later, reported every
    4-5 min, which resolves 15-20 min after slowing. No bedside nurse: only alerts help."""
    return scenario_with(
        name="one-reacting-patient",
        chairs=1,
        duration_h=1.25,
        cohort={
            "indications": {"pi": 1.0},
            "products": {"gamunex-c": 1.0},
            "risk_factors": {},
            "age_years_mean": 45.0,
            "age_years_sd": 0.0,
            "first_infusion_fraction": 0.0,
            "prior_reaction_fraction": 0.0,
            "chronic_back_pain_fraction": 0.0,
        },
        reaction={
            "tolerance_median_mg_kg_min": 1.0,
            "tolerance_sigma": 0.0,
            "hazard_base": 20.0,
            "onset_min": {"low": 10, "high": 12},
            "severity_weights": (1.0, 0.0, 0.0),
            "back_pain_probability": 1.0,
            "headache_probability": 0.0,
            "chills_probability": 0.0,
            "flushing_probability": 0.0,
            "neuro_probability": 0.0,
            "persist_probability": 0.0,
            "report_delay_min": {"low": 0.5, "high": 1.0},
            "report_interval_min": {"low": 4, "high": 5},
            "resolution_min": {"low": 15, "high": 20},
        },
        protocol={
            "arrival_window_min": {"low": 0, "high": 0.5},
            "min_remaining_min": 0,
            "programming_error_probability": 0.0,
        },
        nurse={
            "unaided_response": False,
            "ack_delay_s": {"low": 3, "high": 5},
            "action_delay_s": {"low": 30, "high": 60},
            "follow_probability": 1.0,
            **nurse,
        },
    )
