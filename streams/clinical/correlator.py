"""The correlation engine: runs every rule over a patient's state and keeps one alert episode per
rule, so that events may arrive in any order and be re-delivered without re-alerting.

Pure functions (no Faust, no I/O): :func:`streams.clinical.step.clinical_step` calls
:func:`evaluate` after applying each event, and with the R5 timer's wall-clock ``horizon`` when a
patient's streams went quiet. Every step below reads one :class:`EvaluationContext`.

Episode lifecycle (docs/clinical-rules.md):
- a rule's first finding starts an episode (phase ``start``, a deterministic ``alert_id``);
- the same episode is updated (phase ``update``) when a later trigger raises the priority, a
  late event corrects the evidence of the opening trigger, or R3/R8 get worse;
- R1 pain after a rate increase made after the episode's onset ends it and starts a new one;
- it ends (phase ``end``) when pain resolves, the infusion stops or completes, the nurse marks the
  alert false positive or not clinically relevant, a new infusion starts, or late events withdraw
  its support; an ended R1-R3 episode is written to the reaction ledger.
"""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import ActionTaken, Alert, AlertPhase, Rule
from schemas.events import PumpStatus, SymptomKind
from streams.clinical import recommendation_texts
from streams.clinical.episodes import ClinicalEpisode, EpisodeEnding
from streams.clinical.evaluation import Evaluation, EvaluationContext
from streams.clinical.finding import BACK_PAIN_RULES, PRIORITY_RANK, REACTION_RULES, Finding
from streams.clinical.infusion_rules import r6_finding, r7_finding, r8_finding
from streams.clinical.reaction_ledger import reaction_record
from streams.clinical.risk_adjustment import apply_r4, risk_factors
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.symptom_rules import (
    back_pain_reports,
    r1_findings,
    r2_findings,
    r3_findings,
    r5_due,
    r5_finding,
)

#: Rules recomputed in full from the state on every evaluation: an open episode whose trigger no
#: longer yields a finding was withdrawn by a late event.
RECOMPUTED_RULES = frozenset({Rule.R1, Rule.R2, Rule.R3, Rule.R6, Rule.R7, Rule.R8})


def evaluate(
    state: PatientState, rules: RulesConfig, now: datetime, *, horizon: datetime | None = None
) -> Evaluation:
    """Alerts and reaction records ``state`` now calls for; records episodes in ``state``.

    ``now`` stamps ``created_at``. ``horizon`` is the event time known to have passed without
    events (the R5 timer's wall clock); by default only the patient's own newest event time counts.
    """
    infusion = state.infusion
    if infusion is None:
        return Evaluation()
    risk = risk_factors(infusion.context, rules)
    ctx = EvaluationContext(state, infusion, risk, rules, now, horizon)
    _record_actions(ctx)
    findings = [*_findings(ctx), *_persistence_findings(ctx)]
    _end_episodes(ctx, findings)
    for finding in sorted(findings, key=lambda f: (f.onset_time, f.rule, f.trigger_event_id)):
        _apply_finding(ctx, apply_r4(ctx, finding))
    # Again: an episode a late trigger just opened may already be over (the infusion's
    # completion was read first), and would otherwise stay open for good.
    _end_episodes(ctx, findings)
    return ctx.result


def _findings(ctx: EvaluationContext) -> list[Finding]:
    reports = back_pain_reports(ctx)  # R1 and R2 read the same reports
    findings = [*r1_findings(ctx, reports), *r2_findings(ctx, reports), *r3_findings(ctx)]
    for optional in (r6_finding(ctx), r7_finding(ctx), r8_finding(ctx)):
        if optional is not None:
            findings.append(optional)
    return findings


def _record_actions(ctx: EvaluationContext) -> None:
    """Note when the nurse slowed or paused during each open back-pain episode: from the pump's
    own events, or from an acknowledgement that says so (R5 counts from the earliest)."""
    state, infusion = ctx.state, ctx.infusion
    for episode in state.episodes.values():
        if episode.rule not in BACK_PAIN_RULES or episode.infusion_id != infusion.infusion_id:
            continue
        actions: list[tuple[datetime, ActionTaken]] = []
        rate = episode.facts.rate_at_onset_ml_h
        if rate is None:
            rate = infusion.rate_ml_h_at(episode.onset_time)
        slowed = infusion.slowed_or_paused_after(episode.onset_time, rate)
        if slowed is not None:
            paused = slowed.status is PumpStatus.PAUSED
            actions.append(
                (slowed.event_time, ActionTaken.PAUSED if paused else ActionTaken.SLOWED)
            )
        actions += [
            (ack.event_time, ack.action_taken)
            for ack in state.acks
            if ack.alert_id == episode.alert_id and ack.action_taken is not ActionTaken.NONE
        ]
        if not actions:
            continue
        actions.sort()
        episode.actions = list(dict.fromkeys(a for _, a in actions))
        first = actions[0][0]
        if episode.action_time is None or first < episode.action_time:
            episode.action_time = first
            before = [
                r.pain_score
                for r in state.recent_symptoms
                if r.symptom is SymptomKind.BACK_PAIN
                and r.pain_score is not None
                and episode.onset_time <= r.event_time <= first
            ]
            episode.pain_at_action = before[-1] if before else episode.facts.peak_pain


def _persistence_findings(ctx: EvaluationContext) -> list[Finding]:
    """R5 checks that are due: the patient's newest event time (or the timer's horizon) has
    passed 30 min after the action. Each back-pain episode is checked once."""
    state = ctx.state
    known = [t for t in (state.watermark, ctx.horizon) if t is not None]
    if not known:
        return []
    findings = []
    for episode in state.episodes.values():
        due = r5_due(episode, ctx.rules)
        if due is None or episode.persistence_checked or max(known) < due:
            continue
        episode.persistence_checked = True
        finding = r5_finding(ctx, episode)
        if finding is not None:
            # Known when the patient's events passed the due time (or at the due time, when the
            # timer found the streams quiet): not a late event, so not flagged late.
            seen = state.watermark
            findings.append(finding.with_changes(onset_time=max(due, seen) if seen else due))
    return findings


def _ending(
    ctx: EvaluationContext, episode: ClinicalEpisode, findings: list[Finding]
) -> EpisodeEnding | None:
    """Why ``episode`` ends now, if it does; the first reason in this order wins."""
    state, infusion = ctx.state, ctx.infusion
    for ack in state.acks:
        if ack.alert_id == episode.alert_id and ack.response.not_a_reaction:
            label = ack.response.value.replace("_", " ")
            return EpisodeEnding(f"marked {label} by the nurse", ack.event_time, True, ack.response)
    if episode.infusion_id != infusion.infusion_id:
        return EpisodeEnding("a new infusion started", infusion.started_at, True)
    if episode.rule in BACK_PAIN_RULES or episode.rule is Rule.R5:
        for report in state.recent_symptoms:
            if (
                report.symptom is SymptomKind.BACK_PAIN
                and report.event_time > episode.onset_time
                and (report.pain_score or 0) <= ctx.rules.pain_bands.resolved_at_or_below
            ):
                return EpisodeEnding(
                    f"pain resolved ({report.pain_score}/10)", report.event_time, True
                )
    end = infusion.end_fact()
    # Neurological signs outlast the infusion: the nurse ends R3.
    if episode.rule is not Rule.R3 and end is not None and end.event_time >= episode.onset_time:
        return EpisodeEnding(f"infusion {end.status.value}", end.event_time, True)
    if episode.rule is Rule.R5 and not any(
        e.alert_id == episode.anchor for e in state.episodes.values()
    ):
        return EpisodeEnding("the back-pain episode ended", episode.onset_time, False)
    if episode.rule in RECOMPUTED_RULES:
        same_rule = [f for f in findings if f.rule is episode.rule]
        supported = (
            bool(same_rule)
            if episode.rule is Rule.R8
            else any(f.trigger_event_id == episode.trigger_event_id for f in same_rule)
        )
        if not supported:
            return EpisodeEnding(
                "withdrawn: later-arriving events no longer support it", episode.onset_time, False
            )
    return None


def _end_episodes(ctx: EvaluationContext, findings: list[Finding]) -> None:
    # R5 follows its back-pain episode, so it is judged after the others have ended.
    for episode in sorted(ctx.state.episodes.values(), key=lambda e: e.rule is Rule.R5):
        ending = _ending(ctx, episode, findings)
        if ending is not None:
            _close(ctx, episode, ending)


def _close(ctx: EvaluationContext, episode: ClinicalEpisode, ending: EpisodeEnding) -> None:
    """End ``episode``: the end phase repeats its last alert; an R1-R3 reaction is documented."""
    state = ctx.state
    del state.episodes[episode.rule]
    state.closed_until[f"{episode.infusion_id}:{episode.rule}"] = ending.time
    last = Alert.model_validate(episode.last_alert)
    ctx.result.alerts.append(
        last.model_copy(
            update={
                "phase": AlertPhase.END,
                "title": f"Ended, {ending.outcome}: {last.title}"[:200],
                "event_time": max(ending.time, episode.onset_time),
                "created_at": ctx.now,
                "late_by_min": None,
            }
        )
    )
    if (
        ending.documented
        and episode.rule in REACTION_RULES
        and episode.infusion_id == ctx.infusion.infusion_id
    ):
        record = reaction_record(state, ctx.infusion, episode, ending)
        if state.merge_reactions([record]):
            ctx.result.reactions.append(record)


def _late_by_min(ctx: EvaluationContext, finding: Finding) -> float | None:
    watermark = ctx.state.watermark
    if watermark is None:
        return None
    lag = watermark - finding.onset_time
    if lag <= ctx.rules.timing.grace:
        return None
    return round(lag.total_seconds() / 60, 1)


def _alert(ctx: EvaluationContext, finding: Finding, alert_id: str, phase: AlertPhase) -> Alert:
    late_by = _late_by_min(ctx, finding)
    title = finding.title if late_by is None else f"{finding.title} (late: {late_by:g} min)"
    return Alert(
        alert_id=alert_id,
        phase=phase,
        patient_ref=ctx.state.patient_ref,
        infusion_id=finding.infusion_id,
        rule=finding.rule,
        priority=finding.priority,
        type=finding.type,
        title=title[:200],
        recommendations=finding.recommendations,
        evidence=finding.evidence,
        risk_factors=ctx.risk,
        ward=ctx.infusion.context.ward,
        event_time=finding.onset_time,
        created_at=ctx.now,
        rules_version=ctx.rules.version,
        modifiers=finding.modifiers,
        late_by_min=late_by,
    )


def _apply_finding(ctx: EvaluationContext, finding: Finding) -> None:
    """Start an episode for ``finding``, or update the open one when the finding brings news."""
    state = ctx.state
    closed = state.closed_until.get(f"{finding.infusion_id}:{finding.rule}")
    if closed is not None and finding.onset_time <= closed:
        return
    episode = state.episodes.get(finding.rule)
    if (
        episode is not None
        and finding.anchor_time is not None
        and (finding.anchor_time > episode.onset_time)
    ):
        new_step = "a further rate increase began a new episode"
        _close(ctx, episode, EpisodeEnding(new_step, finding.anchor_time, True))
        episode = None
    if episode is None:
        _start_episode(ctx, finding)
        return
    corrected = (
        finding.trigger_event_id == episode.trigger_event_id and finding.anchor != episode.anchor
    )
    worse = finding.onset_time > episode.onset_time and (
        PRIORITY_RANK[finding.priority] > PRIORITY_RANK[episode.priority]
    )
    grown = finding.update_on_severity and finding.severity > episode.severity
    if not (corrected or worse or grown):
        return
    alert = _alert(ctx, finding, episode.alert_id, AlertPhase.UPDATE)
    if not corrected:
        # A later trigger: the episode keeps its onset and attribution, the alert shows the news.
        alert = alert.model_copy(update={"event_time": finding.onset_time})
    episode.priority = max(finding.priority, episode.priority, key=PRIORITY_RANK.__getitem__)
    episode.anchor = finding.anchor if corrected else episode.anchor
    episode.severity = max(episode.severity, finding.severity)
    episode.last_alert = alert.model_dump(mode="json")
    if corrected:
        episode.facts = episode.facts.attributed_as(finding.facts)
    ctx.result.alerts.append(alert)


def _start_episode(ctx: EvaluationContext, finding: Finding) -> None:
    alert_id = recommendation_texts.alert_id_for(
        f"{finding.infusion_id}:{finding.rule}:{finding.trigger_event_id}"
    )
    alert = _alert(ctx, finding, alert_id, AlertPhase.START)
    ctx.state.episodes[finding.rule] = ClinicalEpisode(
        alert_id=alert_id,
        rule=finding.rule,
        infusion_id=finding.infusion_id,
        onset_time=finding.onset_time,
        trigger_event_id=finding.trigger_event_id,
        anchor=finding.anchor,
        priority=finding.priority,
        severity=finding.severity,
        last_alert=alert.model_dump(mode="json"),
        facts=finding.onset_facts,
    )
    ctx.result.alerts.append(alert)
