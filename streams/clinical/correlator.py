"""The correlation engine: runs every rule over a patient's state and keeps one alert episode per
rule, so that events may arrive in any order and be re-delivered without re-alerting.

Pure functions (no Faust, no I/O): :func:`streams.clinical.step.clinical_step` calls
:func:`evaluate` after applying each event, and with the R5 timer's wall-clock ``horizon`` when a
patient's streams went quiet. Each evaluation, per infusion kept (docs/clinical-rules.md):

1. the rules' findings, from the state's event times (``symptom_rules``, ``infusion_rules``, R4);
2. the episodes those findings make in event time with the events that end them
   (``episode_timeline``), and R5's follow-up of the back-pain ones (``back_pain_followup``);
3. reconciled with the episodes already published (``episode_book``, ``episode_reconciliation``):
   a derived episode not yet published starts (phase ``start``, a deterministic ``alert_id``), and
   ends at once when it is already over; a published one is updated (phase ``update``) when its
   priority or evidence changed, ends (phase ``end``) when its derived episode ended, and is
   withdrawn when no derived episode stands for it any more; an ended one whose ending or band a
   late event changed gets a corrected end. An ended R1-R3 episode is written to the reaction
   ledger (and corrected, or taken out, with its end).

So the episodes and their endings are a function of the set of events, not of their arrival
order (docs/clinical-rules.md, "Arrival order", says exactly what is compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.alerts import Rule
from schemas.events import SymptomKind
from streams.clinical.back_pain_followup import follow_up_back_pain
from streams.clinical.episode_book import WITHDRAWN_OUTCOME, EpisodeBook
from streams.clinical.episode_reconciliation import (
    end_episodes_of_infusions_not_kept,
    reconcile,
)
from streams.clinical.episode_timeline import (
    DerivedEpisode,
    EndingEvent,
    EndingKind,
    derive_episodes,
)
from streams.clinical.episodes import EpisodeEnding
from streams.clinical.evaluation import Evaluation, EvaluationContext
from streams.clinical.finding import Finding
from streams.clinical.infusion_rules import r6_finding, r7_finding, r8_findings
from streams.clinical.infusion_state import PumpFact
from streams.clinical.risk_adjustment import apply_r4, risk_factors
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.symptom_rules import back_pain_reports, r1_findings, r2_findings, r3_findings

#: Rules whose episodes an infusion's end does not end: neurological signs outlast it.
OUTLAST_THE_INFUSION = frozenset({Rule.R3})
#: Rules whose episodes a back-pain report at or below the resolved score ends.
ENDED_BY_RESOLVED_PAIN = frozenset({Rule.R1, Rule.R2, Rule.R5})


def evaluate(
    state: PatientState,
    rules: RulesConfig,
    now: datetime,
    *,
    horizon: datetime | None = None,
    earlier_infusions: bool = True,
) -> Evaluation:
    """Alerts and reaction records ``state`` now calls for; records episodes in ``state``.

    ``now`` stamps ``created_at``. ``horizon`` is the event time known to have passed without
    events (the R5 timer's wall clock); by default only the patient's own event times count.
    ``earlier_infusions=False`` judges the current infusion alone (the message cannot concern an
    earlier one: the caller knows)."""
    result = Evaluation()
    if state.infusion is None:
        return result
    if horizon is not None and all(
        known is None or horizon > known for known in (state.watermark, state.quiet_horizon)
    ):
        state.quiet_horizon = horizon  # it says more than the patient's own events
    end_episodes_of_infusions_not_kept(state, rules, now, result)
    judged = state.infusions() if earlier_infusions else [state.infusion]
    for infusion in judged:
        next_start = state.next_start_after(infusion)
        ctx = EvaluationContext(
            state,
            infusion,
            risk_factors(infusion.context, rules),
            rules,
            now,
            horizon,
            until=next_start.event_time if next_start is not None else None,
            result=result,
        )
        _evaluate_infusion(ctx, next_start)
    return result


def _evaluate_infusion(ctx: EvaluationContext, next_start: PumpFact | None) -> None:
    book = EpisodeBook(ctx.state, ctx.infusion.infusion_id)
    findings: dict[Rule, list[Finding]] = {}
    for finding in _findings(ctx):
        # From the next infusion's start on, the next infusion is judged (an R2 finding whose
        # vitals come after it is no longer this infusion's).
        if ctx.before_next_infusion(finding.onset_time):
            findings.setdefault(finding.rule, []).append(apply_r4(ctx, finding))
    if not findings and not book.has_published():
        return  # nothing to start, update, end, correct or withdraw
    shared = _shared_endings(ctx, next_start)
    derived: dict[Rule, list[DerivedEpisode]] = {}
    for rule, rule_findings in findings.items():
        endings = [
            *_applicable(shared, rule),
            *_nurse_endings(ctx, book, rule, rule_findings),
            *_condition_endings(rule_findings),
        ]
        derived[rule] = derive_episodes(rule, ctx.infusion.infusion_id, rule_findings, endings)
    r5 = follow_up_back_pain(
        ctx, book, [d for rule in (Rule.R1, Rule.R2) for d in derived.get(rule, [])]
    )
    if r5.findings:
        r5_findings = [apply_r4(ctx, f) for f in r5.findings]
        endings = [
            *_applicable(shared, Rule.R5),
            *_nurse_endings(ctx, book, Rule.R5, r5_findings),
            *r5.endings,
        ]
        derived[Rule.R5] = derive_episodes(Rule.R5, ctx.infusion.infusion_id, r5_findings, endings)
    reconcile(ctx, book, derived)


def _findings(ctx: EvaluationContext) -> list[Finding]:
    reports = back_pain_reports(ctx)  # R1 and R2 read the same reports
    findings = [
        *r1_findings(ctx, reports),
        *r2_findings(ctx, reports),
        *r3_findings(ctx),
        *r8_findings(ctx),
    ]
    for optional in (r6_finding(ctx), r7_finding(ctx)):
        if optional is not None:
            findings.append(optional)
    return findings


# -- What ends episodes --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SharedEnding:
    event: EndingEvent
    rules: frozenset[Rule] | None  # None: every rule
    except_rules: frozenset[Rule] = frozenset()


def _shared_endings(ctx: EvaluationContext, next_start: PumpFact | None) -> list[_SharedEnding]:
    """Endings that apply to whichever episode of a rule is open: the next infusion's start, pain
    resolved, the infusion's stop or completion."""
    endings = []
    if next_start is not None:
        ending = EpisodeEnding("a new infusion started", next_start.event_time, True)
        endings.append(
            _SharedEnding(EndingEvent(next_start.event_time, EndingKind.NEW_INFUSION, ending), None)
        )
    resolved_at = ctx.rules.pain_bands.resolved_at_or_below
    for report in ctx.state.recent_symptoms:
        if report.symptom is SymptomKind.BACK_PAIN and (report.pain_score or 0) <= resolved_at:
            ending = EpisodeEnding(
                f"pain resolved ({report.pain_score}/10)", report.event_time, True
            )
            event = EndingEvent(report.event_time, EndingKind.PAIN_RESOLVED, ending)
            endings.append(_SharedEnding(event, ENDED_BY_RESOLVED_PAIN))
    end = ctx.infusion.end_fact()
    if end is not None:
        ending = EpisodeEnding(f"infusion {end.status.value}", end.event_time, True)
        event = EndingEvent(end.event_time, EndingKind.INFUSION_ENDED, ending)
        endings.append(_SharedEnding(event, None, OUTLAST_THE_INFUSION))
    return endings


def _applicable(shared: list[_SharedEnding], rule: Rule) -> list[EndingEvent]:
    return [
        s.event
        for s in shared
        if (s.rules is None or rule in s.rules) and rule not in s.except_rules
    ]


def _nurse_endings(
    ctx: EvaluationContext, book: EpisodeBook, rule: Rule, findings: list[Finding]
) -> list[EndingEvent]:
    """The nurse's "false positive" or "not clinically relevant" ends the episode holding the
    alert's trigger: the alert she answered, whichever arrival order published it."""
    endings = []
    for ack in ctx.state.acks:
        if not ack.response.not_a_reaction:
            continue
        finding = book.finding_named(ack.alert_id, rule, findings)
        if finding is None:
            continue
        label = ack.response.value.replace("_", " ")
        ending = EpisodeEnding(f"marked {label} by the nurse", ack.event_time, True, ack.response)
        # An answer cannot precede its alert: read it no earlier than the trigger it names.
        when = max(ack.event_time, finding.onset_time)
        endings.append(EndingEvent(when, EndingKind.NURSE, ending, finding.trigger_event_id))
    return endings


def _condition_endings(findings: list[Finding]) -> list[EndingEvent]:
    """R8: a run above the limit ends when the rate comes back within limits. The end keeps the
    outcome and time it has always been published with (``WITHDRAWN_OUTCOME``, at the onset),
    which the recorded pre-move alerts pin."""
    return [
        EndingEvent(
            f.condition_ended_at,
            EndingKind.WITHIN_LIMITS,
            EpisodeEnding(WITHDRAWN_OUTCOME, f.condition_ended_at, False),
            f.trigger_event_id,
            at_onset=True,
        )
        for f in findings
        if f.condition_ended_at is not None
    ]
