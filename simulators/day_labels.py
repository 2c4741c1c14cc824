"""Derive the ground-truth labels of a simulated day from what the simulation did."""

from __future__ import annotations

from schemas.events import RiskFactor
from schemas.ivig_products import PRODUCT_LABELS, label_max_mg_kg_min
from simulators.ground_truth import GroundTruth, LabelKind, TruthLabel
from simulators.infusion_centre import InfusionCentre
from simulators.infusion_visit import Visit
from simulators.reaction_model import Severity

#: R1's look-back window (DOMAIN.md §1, the pipeline's default PUMPSTREAM_LOOKBACK_WINDOW_S).
DEFAULT_LOOKBACK_S = 3600.0
#: R8: above this dose rate a patient with risk factors is out of limits (DOMAIN.md §1).
RISK_LIMIT_MG_KG_MIN = 3.3


def _end_s(centre: InfusionCentre, visit: Visit) -> float:
    return visit.end_s if visit.end_s is not None else centre.end_s


def _reaction_label(centre: InfusionCentre, visit: Visit, lookback_s: float) -> TruthLabel | None:
    course = visit.reaction
    if course is None or visit.trigger is None:
        return None
    plan = course.plan
    rules: list[str] = []
    report_s = visit.first_back_pain_report_s
    if report_s is not None:
        step = visit.latest_increase_before(report_s)
        if step is not None and report_s - step.at_s <= lookback_s:
            rules.append("R1")
        if plan.severity is not Severity.MILD:
            rules.append("R2")  # moderate and severe cross the R2 vital-sign thresholds
        if plan.persists and visit.action is not None and "R1" in rules:
            rules.append("R5")
    if visit.neuro_report_s is not None:
        rules.append("R3")
    if rules and visit.profile.has_risk_factors:
        rules.append("R4")
    clock = centre.clock
    end_s = visit.resolved_s if visit.resolved_s is not None else _end_s(centre, visit)

    def time_of(offset_s: float | None) -> str | None:
        return None if offset_s is None else clock.at(offset_s).isoformat()

    return TruthLabel(
        label_id=f"{visit.infusion_id}:reaction",
        kind=LabelKind.RATE_REACTION,
        patient_ref=visit.profile.patient_ref,
        infusion_id=visit.infusion_id,
        rules=tuple(sorted(rules)),
        onset_time=clock.at(course.onset_s),
        end_time=clock.at(end_s),
        details={
            "severity": plan.severity.value,
            "symptoms": [s.value for s in plan.symptoms],
            "peak_pain_score": plan.peak_pain_score,
            "neuro": plan.neuro.value if plan.neuro else None,
            "persists": plan.persists,
            "trigger_step_time": time_of(visit.trigger.at_s),
            "trigger_rate_ml_h": visit.trigger.rate_after_ml_h,
            "rate_before_ml_h": visit.trigger.rate_before_ml_h,
            "trigger_dose_rate_mg_kg_min": round(visit.dose_rate(visit.trigger.rate_after_ml_h), 2),
            "minutes_after_step": round((course.onset_s - visit.trigger.at_s) / 60, 1),
            "first_report_time": time_of(visit.first_report_s),
            "first_back_pain_report_time": time_of(report_s),
            "action": visit.action,
            "action_by": visit.action_by,
            "action_time": time_of(visit.action_s),
            "resolved_time": time_of(visit.resolved_s),
        },
    )


def _above_limit_labels(centre: InfusionCentre, visit: Visit) -> list[TruthLabel]:
    """Spans where the running dose rate exceeds the label maximum, or 3.3 mg/kg/min for a
    patient with risk factors (R8). Uses what the pipeline can know: the label maximum for the
    indication the infusion context carries (the product's highest when off-label)."""
    label_max = label_max_mg_kg_min(visit.profile.product, visit.profile.indication)
    limit = min(label_max, RISK_LIMIT_MG_KG_MIN) if visit.profile.has_risk_factors else label_max
    labels: list[TruthLabel] = []
    history = [*visit.rate_history, (_end_s(centre, visit), 0.0, False)]
    began: float | None = None
    peak = 0.0
    for at_s, rate, running in history:
        dose = visit.dose_rate(rate) if running else 0.0
        if dose > limit + 1e-9:
            began = at_s if began is None else began
            peak = max(peak, dose)
        elif began is not None:
            labels.append(
                TruthLabel(
                    label_id=f"{visit.infusion_id}:above-limit:{len(labels) + 1}",
                    kind=LabelKind.RATE_ABOVE_LIMIT,
                    patient_ref=visit.profile.patient_ref,
                    infusion_id=visit.infusion_id,
                    rules=("R8",),
                    onset_time=centre.clock.at(began),
                    end_time=centre.clock.at(at_s),
                    details={"limit_mg_kg_min": limit, "peak_dose_rate_mg_kg_min": round(peak, 2)},
                )
            )
            began, peak = None, 0.0
    return labels


def _renal_label(centre: InfusionCentre, visit: Visit) -> TruthLabel | None:
    profile = visit.profile
    sucrose = PRODUCT_LABELS[profile.product].contains_sucrose
    renal_repeat = RiskFactor.RENAL_DISEASE in profile.risk_factors and not profile.first_infusion
    if not (sucrose or renal_repeat):
        return None
    return TruthLabel(
        label_id=f"{visit.infusion_id}:renal",
        kind=LabelKind.RENAL_ADVISORY,
        patient_ref=profile.patient_ref,
        infusion_id=visit.infusion_id,
        rules=("R6",),
        onset_time=centre.clock.at(visit.start_s),
        end_time=centre.clock.at(_end_s(centre, visit)),
        details={"contains_sucrose": sucrose, "renal_disease_repeat_infusion": renal_repeat},
    )


def label_day(centre: InfusionCentre, *, lookback_s: float = DEFAULT_LOOKBACK_S) -> GroundTruth:
    labels: list[TruthLabel] = []
    for visit in centre.visits:
        reaction = _reaction_label(centre, visit, lookback_s)
        if reaction is not None:
            labels.append(reaction)
        labels.extend(_above_limit_labels(centre, visit))
        renal = _renal_label(centre, visit)
        if renal is not None:
            labels.append(renal)
    return GroundTruth(
        scenario=centre.scenario.name,
        seed=centre.seed,
        start=centre.clock.start,
        end=centre.clock.at(centre.end_s),
        infusions=len(centre.visits),
        patients_with_chronic_back_pain=sum(v.profile.chronic_back_pain for v in centre.visits),
        labels=tuple(labels),
    )
