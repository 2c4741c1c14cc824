"""Rules fired by the infusion itself (DOMAIN.md §1): R6 renal-function advisory, R7 advice at the
start of an infusion after a documented reaction, R8 dose rate above limits. Pure functions of an
:class:`EvaluationContext`."""

from __future__ import annotations

from schemas.alerts import AlertType, Evidence, Rule
from schemas.clinical_units import rate_ml_h_for_dose_rate
from schemas.events import PumpStatus, RiskFactor
from schemas.ivig_products import PRODUCT_LABELS
from schemas.reactions import ReactionRecord
from streams.clinical import recommendation_texts
from streams.clinical.evaluation import EvaluationContext
from streams.clinical.finding import Finding
from streams.clinical.state import InfusionState, PatientState

RENAL_RISK = frozenset({RiskFactor.RENAL_DISEASE, RiskFactor.DEHYDRATION})


def r6_finding(ctx: EvaluationContext) -> Finding | None:
    """R6: sucrose-containing product, or renal risk with repeated infusions -> assess renal
    function (guidance: "especially with sucrose-containing products")."""
    state, infusion, risk, rules = ctx.state, ctx.infusion, ctx.risk, ctx.rules
    label = PRODUCT_LABELS[infusion.context.product]
    count = max(len(state.infusions_seen), (infusion.context.prior_infusions or 0) + 1)
    reasons = []
    if label.contains_sucrose:
        reasons.append(f"{label.name} contains sucrose")
    if RENAL_RISK & set(risk) and count >= rules.r6.repeated_infusions:
        reasons.append(f"renal risk with repeated infusions ({count} seen)")
    if not reasons:
        return None
    start = infusion.facts[0]
    return Finding(
        rule=Rule.R6,
        infusion_id=infusion.infusion_id,
        onset_time=start.event_time,
        trigger_event_id=start.event_id,
        anchor=infusion.infusion_id,
        priority=rules.r6.priority,
        type=AlertType.ADVISORY,
        title=f"Assess renal function: {'; '.join(reasons)}",
        recommendations=(recommendation_texts.assess_renal("; ".join(reasons)),),
        evidence=Evidence(),
    )


def confirmed_reactions(state: PatientState, infusion: InfusionState) -> list[ReactionRecord]:
    """Documented reactions of earlier infusions that the nurse did not mark as false."""
    return [
        r
        for r in state.reactions
        if r.infusion_id != infusion.infusion_id
        and not (r.nurse_response and r.nurse_response.not_a_reaction)
    ]


def r7_finding(ctx: EvaluationContext) -> Finding | None:
    """R7: a new infusion for a patient with a documented reaction -> premedicate, start slower
    and cap below the onset rate, consider a lower concentration."""
    infusion, rules = ctx.infusion, ctx.rules
    reactions = confirmed_reactions(ctx.state, infusion)
    if not reactions:
        return None
    # The reaction at the lowest dose rate bounds the cap.
    worst = min(reactions, key=lambda r: r.dose_rate_at_onset_mg_kg_min)
    onset = worst.dose_rate_at_onset_mg_kg_min
    cap = onset * rules.r7.cap_fraction_of_onset
    if worst.last_tolerated_dose_rate_mg_kg_min is not None:
        cap = min(cap, worst.last_tolerated_dose_rate_mg_kg_min)
    cap = round(cap, 2)
    context = infusion.context
    cap_ml_h = round(
        rate_ml_h_for_dose_rate(cap, context.concentration_mg_ml, context.weight_kg), 1
    )
    start = infusion.facts[0]
    return Finding(
        rule=Rule.R7,
        infusion_id=infusion.infusion_id,
        onset_time=start.event_time,
        trigger_event_id=start.event_id,
        anchor=worst.alert_id,
        priority=rules.r7.priority,
        type=AlertType.ADVISORY,
        title=(
            f"Documented reaction at {onset:g} mg/kg/min ({len(reactions)} on record): "
            f"premedicate, cap at {cap:g} mg/kg/min"
        ),
        recommendations=(
            recommendation_texts.premedicate(),
            recommendation_texts.cap_rate(cap, cap_ml_h, onset),
            recommendation_texts.lower_concentration(),
        ),
        evidence=Evidence(
            pain_score=worst.peak_pain_score,
            dose_rate_mg_kg_min=round(onset, 2),
            rate_after_ml_h=worst.rate_at_onset_ml_h,
            minutes_since_rate_change=worst.minutes_since_rate_step,
            limit_mg_kg_min=cap,
            last_tolerated_rate_ml_h=cap_ml_h,
            vitals=worst.vitals,
        ),
    )


def dose_rate_limit(ctx: EvaluationContext) -> tuple[float, str]:
    """The lowest applicable limit in mg/kg/min and why it applies."""
    label = PRODUCT_LABELS[ctx.infusion.context.product]
    limit, why = label.max_mg_kg_min, f"{label.name} label maximum"
    if ctx.risk and ctx.rules.r8.risk_max_mg_kg_min < limit:
        limit, why = ctx.rules.r8.risk_max_mg_kg_min, "limit with risk factors"
    return limit, why


def r8_finding(ctx: EvaluationContext) -> Finding | None:
    """R8: the running dose rate is above the product's label maximum, or above 3.3 mg/kg/min in a
    patient with risk factors -> slow to within limits. One episode per run above the limit."""
    infusion = ctx.infusion
    limit, why = dose_rate_limit(ctx)
    context = infusion.context
    run_start = None
    peak = 0.0
    for point in infusion.rate_history:
        dose_rate = context.dose_rate_mg_kg_min(point.rate_ml_h)
        if point.status is PumpStatus.RUNNING and dose_rate > limit:
            if run_start is None:
                run_start, peak = point, 0.0
            peak = max(peak, dose_rate)
        elif point.status is not PumpStatus.PAUSED:
            run_start = None
    if run_start is None:
        return None
    current = infusion.current_rate_ml_h()
    dose_rate = round(context.dose_rate_mg_kg_min(current), 2)
    limit_ml_h = round(
        rate_ml_h_for_dose_rate(limit, context.concentration_mg_ml, context.weight_kg), 1
    )
    return Finding(
        rule=Rule.R8,
        infusion_id=infusion.infusion_id,
        onset_time=run_start.event_time,
        trigger_event_id=run_start.event_id,
        anchor="above-limit",
        priority=ctx.rules.r8.priority,
        # About the prescription, not the patient's physiology (IHE PCD-04 type SA).
        type=AlertType.ADVISORY,
        title=f"Dose rate {dose_rate:g} mg/kg/min is above the {why} of {limit:g} mg/kg/min",
        recommendations=(recommendation_texts.slow_to_limit(limit, limit_ml_h),),
        evidence=Evidence(
            rate_after_ml_h=current,
            dose_rate_mg_kg_min=dose_rate,
            rate_change_event_id=run_start.event_id,
            limit_mg_kg_min=limit,
        ),
        severity=round(peak, 2),
        update_on_severity=True,
    )
