"""Rules fired by the infusion itself (DOMAIN.md §1): R6 renal-function advisory, R7 advice at the
start of an infusion after a documented reaction, R8 dose rate above limits. Pure functions of an
:class:`EvaluationContext`."""

from __future__ import annotations

from schemas.alerts import AlertType, Evidence, Rule
from schemas.base import MAX_PUMP_RATE_ML_H
from schemas.clinical_units import rate_ml_h_for_dose_rate
from schemas.events import InfusionContext, PumpStatus, RiskFactor
from schemas.ivig_products import (
    INDICATION_NAMES,
    PRODUCT_LABELS,
    TITRATION_PROTOCOLS,
    label_max_mg_kg_min,
)
from schemas.reactions import ReactionRecord
from streams.clinical import recommendation_texts
from streams.clinical.evaluation import EvaluationContext
from streams.clinical.finding import Finding
from streams.clinical.infusion_state import InfusionState, RatePoint
from streams.clinical.state import PatientState

RENAL_RISK = frozenset({RiskFactor.RENAL_DISEASE, RiskFactor.DEHYDRATION})


def r6_finding(ctx: EvaluationContext) -> Finding | None:
    """R6: sucrose-containing product, or renal risk with repeated infusions -> assess renal
    function (guidance: "especially with sucrose-containing products")."""
    state, infusion, risk, rules = ctx.state, ctx.infusion, ctx.risk, ctx.rules
    label = PRODUCT_LABELS[infusion.context.product]
    count = max(infusion_number(state, infusion), (infusion.context.prior_infusions or 0) + 1)
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


def infusion_number(state: PatientState, infusion: InfusionState) -> int:
    """How many of the patient's infusions had started by ``infusion``'s start (event time):
    every infusion seen, but for those kept that started after it."""
    later = [i for i in state.earlier_infusions if i.started_at > infusion.started_at]
    if state.infusion is not None and infusion is not state.infusion:
        later.append(state.infusion)
    return len(state.infusions_seen) - len(later)


def confirmed_reactions(state: PatientState, infusion: InfusionState) -> list[ReactionRecord]:
    """Documented reactions of earlier infusions (begun before this one started) that the nurse
    did not mark as false."""
    return [
        r
        for r in state.reactions
        if r.infusion_id != infusion.infusion_id
        and r.onset_time < infusion.started_at
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
            # A cap beyond any pump rate (a weaker bag for a heavy patient) caps nothing in mL/h:
            # the cap stays in mg/kg/min (limit_mg_kg_min) and the recommendation's text.
            last_tolerated_rate_ml_h=cap_ml_h if cap_ml_h <= MAX_PUMP_RATE_ML_H else None,
            vitals=worst.vitals,
        ),
    )


def label_maximum(context: InfusionContext) -> tuple[float, str]:
    """The product's label maximum for the infusion's indication, and how to name it: the
    indication's own maximum when the label names it, else (indication unknown, or off-label
    for this product) the product's highest maximum over all its indications."""
    label = PRODUCT_LABELS[context.product]
    indication = context.indication
    limit = label_max_mg_kg_min(context.product, indication)
    if indication is not None and indication in TITRATION_PROTOCOLS[context.product].indications:
        return limit, f"{label.name} label maximum ({INDICATION_NAMES[indication]})"
    return limit, f"{label.name} label maximum"


def dose_rate_limit(ctx: EvaluationContext) -> tuple[float, str]:
    """The lowest applicable limit in mg/kg/min and why it applies."""
    limit, why = label_maximum(ctx.infusion.context)
    if ctx.risk and ctx.rules.r8.risk_max_mg_kg_min < limit:
        limit, why = ctx.rules.r8.risk_max_mg_kg_min, "limit with risk factors"
    return limit, why


def _runs_above(
    ctx: EvaluationContext, limit: float
) -> list[tuple[list[RatePoint], RatePoint | None]]:
    """Each run of the pump above ``limit`` mg/kg/min (a pause keeps a run going): the running
    states above the limit, and the running state within limits that ended it (None: still above,
    or the infusion stopped)."""
    context = ctx.infusion.context
    runs: list[tuple[list[RatePoint], RatePoint | None]] = []
    run: list[RatePoint] | None = None
    for point in ctx.infusion.rate_history:
        if not ctx.before_next_infusion(point.event_time):
            break
        if (
            point.status is PumpStatus.RUNNING
            and context.dose_rate_mg_kg_min(point.rate_ml_h) > limit
        ):
            if run is None:
                run = []
                runs.append((run, None))
            run.append(point)
        elif point.status is not PumpStatus.PAUSED:
            if run is not None and point.status is PumpStatus.RUNNING:
                runs[-1] = (run, point)
            run = None
    return runs


def r8_findings(ctx: EvaluationContext) -> list[Finding]:
    """R8: the running dose rate is above the product's label maximum, or above 3.3 mg/kg/min in a
    patient with risk factors -> slow to within limits. One finding per run above the limit; a
    run that came back within limits says when (its episode ends then)."""
    infusion = ctx.infusion
    limit, why = dose_rate_limit(ctx)
    context = infusion.context
    limit_ml_h = round(
        rate_ml_h_for_dose_rate(limit, context.concentration_mg_ml, context.weight_kg), 1
    )
    runs = _runs_above(ctx, limit)
    findings = []
    for index, (points, within) in enumerate(runs):
        latest = index == len(runs) - 1 and within is None and ctx.until is None
        # The rate it runs at now, or the last rate of a run that is over.
        rate = infusion.current_rate_ml_h() if latest else points[-1].rate_ml_h
        dose_rate = round(context.dose_rate_mg_kg_min(rate), 2)
        peak = max(context.dose_rate_mg_kg_min(p.rate_ml_h) for p in points)
        start = points[0]
        findings.append(
            Finding(
                rule=Rule.R8,
                infusion_id=infusion.infusion_id,
                onset_time=start.event_time,
                trigger_event_id=start.event_id,
                anchor="above-limit",
                priority=ctx.rules.r8.priority,
                # About the prescription, not the patient's physiology (IHE PCD-04 type SA).
                type=AlertType.ADVISORY,
                title=(
                    f"Dose rate {dose_rate:g} mg/kg/min is above the {why} of {limit:g} mg/kg/min"
                ),
                recommendations=(recommendation_texts.slow_to_limit(limit, limit_ml_h),),
                evidence=Evidence(
                    rate_after_ml_h=rate,
                    dose_rate_mg_kg_min=dose_rate,
                    rate_change_event_id=start.event_id,
                    limit_mg_kg_min=limit,
                ),
                severity=round(peak, 2),
                update_on_severity=True,
                also_triggers=tuple(p.event_id for p in points[1:]),
                condition_ended_at=within.event_time if within is not None else None,
            )
        )
    return findings
