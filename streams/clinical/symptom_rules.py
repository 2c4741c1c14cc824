"""Rules fired by what the patient reports (DOMAIN.md §1): R1 back pain after a rate increase,
R2 back pain with abnormal vitals, R3 progressive neurological symptoms, R5 pain that persists
after slowing. Pure functions of an :class:`EvaluationContext`; episodes are the correlator's
job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.alerts import (
    ActionTaken,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    Rule,
    VitalsEvidence,
)
from schemas.events import SymptomKind, SymptomReport
from streams.clinical import recommendation_texts
from streams.clinical.episodes import ClinicalEpisode
from streams.clinical.evaluation import EvaluationContext
from streams.clinical.finding import BACK_PAIN_RULES, Finding
from streams.clinical.infusion_state import RateStep
from streams.clinical.reaction_facts import ReactionFacts
from streams.clinical.rules_file import RulesConfig
from streams.clinical.vitals_assessment import usable_baseline, vitals_evidence, worst_near

PROGRESSIVE_SIGNS = ("weakness", "numbness", "tingling", "spreading")


def _minutes(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() / 60, 1)


def back_pain_reports(ctx: EvaluationContext) -> list[SymptomReport]:
    """Back-pain reports (NRS >= 1) made while this infusion was running or paused (and before
    the next infusion started)."""
    infusion, until = ctx.infusion, ctx.until
    return [
        r
        for r in ctx.state.recent_symptoms
        if r.symptom is SymptomKind.BACK_PAIN
        and r.pain_score
        and r.infusion_id in (None, infusion.infusion_id)
        and (until is None or r.event_time < until)
        and infusion.is_infusing_at(r.event_time)
    ]


def latest_increase_before(
    steps: list[RateStep], when: datetime, window: timedelta
) -> RateStep | None:
    """The most recent rate increase at or before ``when`` and no older than ``window``."""
    candidates = [s for s in steps if when - window <= s.event_time <= when]
    return candidates[-1] if candidates else None


def r1_recommendations(
    step: RateStep, priority: AlertPriority, rules: RulesConfig
) -> tuple[Recommendation, ...]:
    """R1's suggestions: slow back towards the last tolerated rate, or pause first when the pain
    is severe; hydrate; an analgesic."""
    slow = recommendation_texts.slow_rate(
        step.rate_before_ml_h, step.rate_after_ml_h, rules.r1.slow_fraction
    )
    if priority is AlertPriority.HIGH:
        first = [recommendation_texts.pause("now: severe pain"), slow]
    else:
        first = [slow, recommendation_texts.pause("if pain does not ease")]
    return (*first, recommendation_texts.hydrate(), recommendation_texts.analgesic(()))


def r1_evidence(
    step: RateStep,
    report: SymptomReport,
    minutes: float,
    vitals: VitalsEvidence | None,
    dose_rate: float | None = None,
) -> Evidence:
    """What R1 shows: the pain report, the rate step it follows (the rate before it being the
    last one tolerated) and, when the infusion's context is known, the dose rate."""
    return Evidence(
        pain_score=report.pain_score,
        symptom_event_id=report.event_id,
        rate_before_ml_h=step.rate_before_ml_h,
        rate_after_ml_h=step.rate_after_ml_h,
        dose_rate_mg_kg_min=dose_rate,
        minutes_since_rate_change=minutes,
        rate_change_event_id=step.event_id,
        last_tolerated_rate_ml_h=step.rate_before_ml_h,
        vitals=vitals,
    )


def r1_findings(ctx: EvaluationContext, reports: list[SymptomReport]) -> list[Finding]:
    """R1: back pain within the look-back window after a rate increase -> slow or pause, hydrate,
    analgesic (guidance: "slow or temporarily discontinue the infusion when back pain develops")."""
    infusion, rules = ctx.infusion, ctx.rules
    steps = infusion.rate_increases()
    context = infusion.context
    vitals = vitals_evidence(ctx.state.latest_reading)
    findings = []
    for report in reports:
        step = latest_increase_before(steps, report.event_time, rules.r1.lookback_window)
        if step is None:
            continue
        pain = report.pain_score or 0
        priority = rules.pain_bands.priority(pain)
        dose_rate = round(context.dose_rate_mg_kg_min(step.rate_after_ml_h), 2)
        minutes = _minutes(report.event_time, step.event_time)
        findings.append(
            Finding(
                rule=Rule.R1,
                infusion_id=infusion.infusion_id,
                onset_time=report.event_time,
                trigger_event_id=report.event_id,
                anchor=step.key,
                anchor_time=step.event_time,
                priority=priority,
                type=AlertType.PHYSIOLOGICAL,
                title=(
                    f"Back pain {pain}/10, {minutes:g} min after rate increase "
                    f"to {dose_rate:g} mg/kg/min"
                ),
                recommendations=r1_recommendations(step, priority, rules),
                evidence=r1_evidence(step, report, minutes, vitals, dose_rate),
                severity=pain,
                facts=ReactionFacts(
                    rate_at_onset_ml_h=step.rate_after_ml_h,
                    minutes_since_step=minutes,
                    last_tolerated_rate_ml_h=step.rate_before_ml_h,
                    vitals_at_onset=vitals,
                ),
            )
        )
    return findings


def r2_findings(ctx: EvaluationContext, reports: list[SymptomReport]) -> list[Finding]:
    """R2: back pain with abnormal vitals (absolute limits or change from the pre-infusion
    baseline) -> pause and notify the prescriber."""
    state, infusion, rules = ctx.state, ctx.infusion, ctx.rules
    window = rules.r2.vitals_window
    baseline = usable_baseline(infusion.baseline, infusion.started_at, rules.r2)
    context = infusion.context
    findings = []
    for report in reports:
        near = state.readings_between(report.event_time - window, report.event_time + window)
        worst = worst_near(near, baseline, rules.r2, report.event_time)
        if worst is None:
            continue
        abnormal, vitals = worst
        pain = report.pain_score or 0
        point = infusion.point_at(report.event_time)
        rate = point.rate_ml_h if point is not None else None
        findings.append(
            Finding(
                rule=Rule.R2,
                infusion_id=infusion.infusion_id,
                onset_time=max(report.event_time, vitals.event_time),
                trigger_event_id=report.event_id,
                anchor=vitals.event_id,
                priority=rules.r2.priority,
                type=AlertType.PHYSIOLOGICAL,
                title=f"Back pain {pain}/10 with {abnormal[0]}"
                + (f" (+{len(abnormal) - 1} more)" if len(abnormal) > 1 else ""),
                recommendations=(
                    recommendation_texts.pause("now: abnormal vital signs"),
                    recommendation_texts.notify_prescriber("back pain with " + "; ".join(abnormal)),
                    recommendation_texts.hydrate(),
                ),
                evidence=Evidence(
                    pain_score=pain,
                    symptom_event_id=report.event_id,
                    rate_after_ml_h=rate,
                    dose_rate_mg_kg_min=(
                        round(context.dose_rate_mg_kg_min(rate), 2) if rate is not None else None
                    ),
                    vitals=vitals_evidence(vitals),
                    baseline_vitals=vitals_evidence(baseline),
                    abnormal_vitals=tuple(abnormal),
                ),
                severity=pain,
                facts=ReactionFacts(
                    rate_at_onset_ml_h=rate, vitals_at_onset=vitals_evidence(vitals)
                ),
            )
        )
    return findings


def neurological_signs(report: SymptomReport) -> tuple[str, ...]:
    """The progressive signs R3 acts on; neck stiffness counts only with a severe headache."""
    signs = report.neurological
    found = [name for name in PROGRESSIVE_SIGNS if getattr(signs, name)]
    if signs.neck_stiffness and signs.severe_headache:
        found += ["neck_stiffness", "severe_headache"]
    return tuple(found)


def r3_findings(ctx: EvaluationContext) -> list[Finding]:
    """R3: progressive neurological symptoms during or after the infusion -> pause, clinician
    review, neurology consultation (guidance: consider Guillain-Barre; DOMAIN.md: aseptic
    meningitis when neck stiffness comes with a severe headache)."""
    state, infusion, rules = ctx.state, ctx.infusion, ctx.rules
    horizon = infusion.started_at + timedelta(hours=rules.r3.after_infusion_start_h)
    findings = []
    for report in state.recent_symptoms:
        signs = neurological_signs(report)
        if not signs or report.infusion_id not in (None, infusion.infusion_id):
            continue
        if report.neurological.progressive is False:
            # Explicitly not progressing (unknown counts as progressing, as before the flag).
            continue
        if not infusion.started_at <= report.event_time <= horizon:
            continue
        if not ctx.before_next_infusion(report.event_time):
            continue
        meningism = "neck_stiffness" in signs
        infusing = infusion.is_infusing_at(report.event_time)
        recommendations = [
            recommendation_texts.notify_prescriber(
                "progressive neurological symptoms need clinician review"
            ),
            recommendation_texts.neurology_consult(meningism),
        ]
        if infusing:
            recommendations.insert(0, recommendation_texts.pause_for_neurological_signs())
        when = "during" if infusing else "after"
        findings.append(
            Finding(
                rule=Rule.R3,
                infusion_id=infusion.infusion_id,
                onset_time=report.event_time,
                trigger_event_id=report.event_id,
                anchor="neuro",
                priority=rules.r3.priority,
                type=AlertType.PHYSIOLOGICAL,
                title=(
                    f"Neurological symptoms ({', '.join(s.replace('_', ' ') for s in signs)}) "
                    f"{when} IVIG: clinician review"
                ),
                recommendations=tuple(recommendations),
                evidence=Evidence(
                    pain_score=report.pain_score,
                    symptom_event_id=report.event_id,
                    neurological_signs=signs,
                    vitals=vitals_evidence(state.latest_reading),
                ),
                severity=len(signs),
                update_on_severity=True,
                facts=ReactionFacts(vitals_at_onset=vitals_evidence(state.latest_reading)),
            )
        )
    return findings


def pain_drop_after(
    ctx: EvaluationContext, action_time: datetime, pain_at_action: int, until: datetime
) -> SymptomReport | None:
    """A back-pain report after the action, by ``until``, at least a meaningful change lower."""
    meaningful = ctx.rules.pain_bands.meaningful_change
    for report in ctx.state.recent_symptoms:
        if (
            report.symptom is SymptomKind.BACK_PAIN
            and action_time < report.event_time <= until
            and (report.pain_score or 0) <= pain_at_action - meaningful
        ):
            return report
    return None


def r5_due(episode: ClinicalEpisode, rules: RulesConfig) -> datetime | None:
    """When R5 checks a back-pain episode: 30 min after the nurse slowed or paused."""
    if episode.rule not in BACK_PAIN_RULES or episode.action_time is None:
        return None
    return episode.action_time + rules.r5.persistence_window


@dataclass(frozen=True, slots=True)
class NurseAction:
    """What the nurse did about a back-pain episode: the first slowing or pause (pump or
    acknowledgement), every kind of action, and the pain then."""

    action_time: datetime
    actions: tuple[ActionTaken, ...]
    pain_at_action: int | None


def r5_finding(
    ctx: EvaluationContext, anchor_alert_id: str, onset_time: datetime, action: NurseAction
) -> Finding | None:
    """R5: no drop of >= 2 NRS points within 30 min of slowing or pausing -> second-line options
    for the clinician (trigger-point injection, dry needling; neuropathic agents; neurology).
    ``anchor_alert_id`` and ``onset_time`` are the back-pain episode's; the caller decides the
    check is due (the finding's onset is the due time). None when pain eased."""
    state, rules = ctx.state, ctx.rules
    due = action.action_time + rules.r5.persistence_window
    pain_at_action = action.pain_at_action
    if pain_at_action is not None and pain_drop_after(ctx, action.action_time, pain_at_action, due):
        return None
    later = [
        r
        for r in state.recent_symptoms
        if r.symptom is SymptomKind.BACK_PAIN and action.action_time < r.event_time <= due
    ]
    latest = later[-1].pain_score if later else None
    neuro = any(
        neurological_signs(r) for r in state.recent_symptoms if onset_time <= r.event_time <= due
    )
    priority = rules.r5.priority_with_neuro_signs if neuro else rules.r5.priority
    minutes = _minutes(due, action.action_time)
    recommendations = [recommendation_texts.second_line_pain(neuropathic=neuro)]
    if neuro:
        recommendations.append(recommendation_texts.neurology_consult(meningism=False))
    shown = f"still {latest}/10" if latest is not None else "not reassessed"
    return Finding(
        rule=Rule.R5,
        infusion_id=ctx.infusion.infusion_id,
        onset_time=due,
        trigger_event_id=f"{anchor_alert_id}:r5",
        anchor=anchor_alert_id,
        priority=priority,
        type=AlertType.PHYSIOLOGICAL,
        title=(
            f"Back pain {shown}, {minutes:g} min after slowing from "
            f"{pain_at_action}/10: consider second-line options"
        ),
        recommendations=tuple(recommendations),
        evidence=Evidence(
            pain_score=latest,
            pain_score_at_action=pain_at_action,
            minutes_since_action=minutes,
            rate_after_ml_h=ctx.infusion.current_rate_ml_h(),
            vitals=vitals_evidence(state.latest_reading),
        ),
        severity=latest or 0,
    )
