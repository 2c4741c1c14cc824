"""Reconciling the episodes already published (``episode_book``) with the episodes the findings
make in event time (``episode_timeline``), and publishing each phase that takes: ``start`` for a
derived episode not yet published (and its ``end`` at once when it is already over), ``update``
when an open one's priority or evidence changed, ``end`` when its derived episode ended,
``end`` (withdrawn) when none holds its trigger any more, and a corrected ``end`` for an ended one
a late event showed ended otherwise (docs/clinical-rules.md, "Arrival order"). An ended R1-R3
episode is written to the reaction ledger, and corrected or taken out of it with its end."""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import Alert, AlertPhase, AlertPriority, AlertType, Evidence, Rule
from streams.clinical.episode_book import WITHDRAWN_OUTCOME, EpisodeBook
from streams.clinical.episode_timeline import DerivedEpisode
from streams.clinical.episodes import ClinicalEpisode, EndedEpisode, EpisodeEnding
from streams.clinical.evaluation import Evaluation, EvaluationContext
from streams.clinical.finding import PRIORITY_RANK, REACTION_RULES, Finding
from streams.clinical.reaction_ledger import corrected_record, reaction_record, withdrawn_record
from streams.clinical.risk_adjustment import r4_recommendations
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState


def reconcile(
    ctx: EvaluationContext, book: EpisodeBook, derived: dict[Rule, list[DerivedEpisode]]
) -> None:
    """Make the published episodes of ``ctx.infusion`` those ``derived`` from its findings: one
    published episode per derived episode, ended as it ended, in its priority band. The alerts
    go to ``ctx.result`` in the order the correlator has always published them (ends of open
    episodes first, then starts and updates in event time, then ends of episodes already over)."""
    episodes = [d for rule_episodes in derived.values() for d in rule_episodes]
    # 1. Published episodes still open: end those whose episode ended or lost its support.
    updating: list[tuple[ClinicalEpisode, DerivedEpisode]] = []
    for episode in book.open_episodes():
        match = book.derived_for(episode, derived.get(episode.rule, []))
        if match is None or book.owner(match) is not episode:
            ending = EpisodeEnding(WITHDRAWN_OUTCOME, episode.onset_time, False)
            _close(ctx, book, episode, ending, withdrawn=True)
        elif match.ending is not None:
            _update(ctx, episode, match)  # what changed before it ended
            _close(ctx, book, episode, match.ending)
        else:
            updating.append((episode, match))
    # An ended episode whose ending late events took away (the rate step that began the next
    # episode is no step after all) is withdrawn, and its episode starts again under a new id.
    for match in episodes:
        ended = book.ended_for(match)
        if ended is not None and match.ending is None:
            _withdraw_ended(ctx, ended)
    # 2. Starts and updates, in event time (the finding each shows).
    steps: list[tuple[tuple[datetime, str, str], ClinicalEpisode | None, DerivedEpisode]] = []
    for episode, match in updating:
        shown = match.shown
        steps.append(((shown.onset_time, shown.rule, shown.trigger_event_id), episode, match))
    for match in episodes:
        if book.is_published(match):
            continue
        first = match.first
        steps.append(((first.onset_time, first.rule, first.trigger_event_id), None, match))
    steps.sort(key=lambda step: step[0])
    over: list[tuple[ClinicalEpisode, EpisodeEnding]] = []
    for _, published, match in steps:
        if published is not None:
            _update(ctx, published, match)
            continue
        started = _start_episode(ctx, book, match)
        if match.ending is not None:
            over.append((started, match.ending))
    # 3. Episodes already over when they were first seen end in the same step.
    for started, ending in over:
        _close(ctx, book, started, ending)
    # 4. Ended episodes a late event showed to have ended otherwise, or in another band.
    for match in episodes:
        ended = book.ended_for(match)
        if ended is None or match.ending is None:
            continue
        if match.ending.outcome != ended.outcome or match.priority != ended.priority:
            _correct_ending(ctx, book, ended, match)
    # 5. Ended episodes late events took every support from.
    for ended in book.ended_without_support(derived):
        _withdraw_ended(ctx, ended)


def _reattribute(episode: ClinicalEpisode, match: DerivedEpisode) -> None:
    """An earlier trigger of the same episode arrived late: the episode began with it."""
    first = match.first
    if first.trigger_event_id != episode.trigger_event_id and first.onset_time < episode.onset_time:
        episode.onset_time = first.onset_time


def _update(ctx: EvaluationContext, episode: ClinicalEpisode, match: DerivedEpisode) -> None:
    """Publish what changed in an open episode: a late event corrected the evidence of the trigger
    that opened it (R1: which rate step the pain follows), its priority band changed (a worse
    report; or, when late events took a report's support away, a lower band), R3 gained signs or
    R8's dose rate rose further. The same band changes nothing (no re-page)."""
    _reattribute(episode, match)
    shown = match.shown
    published_before = len(ctx.result.alerts)
    own = match.finding_for(episode.trigger_event_id)
    corrected = (
        own is not None
        and own.trigger_event_id == episode.trigger_event_id
        and own.anchor != episode.anchor
    )
    if own is not None and corrected:
        episode.anchor = own.anchor
        episode.facts = episode.facts.attributed_as(own.facts)
        # The alert shows the episode's worst report (its evidence is corrected too).
        higher = PRIORITY_RANK[shown.priority] > PRIORITY_RANK[own.priority]
        _publish_update(ctx, episode, shown if higher else own)
    shown_rank, rank = PRIORITY_RANK[shown.priority], PRIORITY_RANK[episode.priority]
    grown = shown.update_on_severity and shown.severity > episode.severity
    if shown_rank > rank or grown:
        _publish_update(ctx, episode, shown)
    elif shown_rank < rank:
        episode.priority = shown.priority
        episode.severity = max(f.severity for f in match.findings)
        _publish_update(ctx, episode, shown, lowered=True)
    if len(ctx.result.alerts) == published_before and _evidence_changed(episode, shown):
        # A late event corrected what the shown report's evidence is (R2's dose rate when the
        # rate step before the report arrives after it): every open episode shows the state as
        # it now is, not as it was first read (issue 12). Same priority: no page.
        _publish_update(ctx, episode, shown)


#: Evidence fields derived from the pump facts before the report: they change only when a late
#: pump event corrects the rate history (vitals read after a report are not a correction).
_RATE_EVIDENCE = (
    "rate_before_ml_h",
    "rate_after_ml_h",
    "dose_rate_mg_kg_min",
    "minutes_since_rate_change",
    "rate_change_event_id",
    "last_tolerated_rate_ml_h",
)


def _evidence_changed(episode: ClinicalEpisode, shown: Finding) -> bool:
    published = episode.last_alert.get("evidence") if episode.last_alert else None
    if published is None:
        return False
    before = Evidence.model_validate(published)
    return any(getattr(before, f) != getattr(shown.evidence, f) for f in _RATE_EVIDENCE)


def _publish_update(
    ctx: EvaluationContext, episode: ClinicalEpisode, finding: Finding, *, lowered: bool = False
) -> None:
    alert = _alert(ctx, finding, episode.alert_id, AlertPhase.UPDATE)
    if not lowered:
        episode.priority = max(finding.priority, episode.priority, key=PRIORITY_RANK.__getitem__)
        episode.severity = max(episode.severity, finding.severity)
    episode.last_alert = alert.model_dump(mode="json")
    ctx.result.alerts.append(alert)


def _start_episode(
    ctx: EvaluationContext, book: EpisodeBook, match: DerivedEpisode
) -> ClinicalEpisode:
    first = match.first
    if first.rule is Rule.R5:
        # Known when the patient's events passed the due time (or at the due time, when the
        # timer found the streams quiet): not a late event, so not flagged late.
        seen = ctx.state.watermark
        first = first.with_changes(
            onset_time=max(first.onset_time, seen) if seen else first.onset_time
        )
    alert_id = book.new_alert_id(match)
    alert = _alert(ctx, first, alert_id, AlertPhase.START)
    episode = ClinicalEpisode(
        alert_id=alert_id,
        rule=first.rule,
        infusion_id=first.infusion_id,
        onset_time=first.onset_time,
        trigger_event_id=first.trigger_event_id,
        anchor=first.anchor,
        priority=first.priority,
        severity=first.severity,
        last_alert=alert.model_dump(mode="json"),
        facts=first.onset_facts,
    )
    ctx.result.alerts.append(alert)
    if match.ending is None:
        occupant = ctx.state.episodes.get(episode.rule)
        if occupant is not None:
            # Cannot happen while every infusion's episodes end by the next start; if it did, the
            # occupant must not vanish without an end.
            ending = EpisodeEnding(WITHDRAWN_OUTCOME, occupant.onset_time, False)
            _close(ctx, EpisodeBook(ctx.state, occupant.infusion_id), occupant, ending)
    book.opened(episode, open_now=match.ending is None)
    shown = match.shown
    if PRIORITY_RANK[shown.priority] > PRIORITY_RANK[episode.priority] or (
        shown.update_on_severity and shown.severity > episode.severity
    ):
        _publish_update(ctx, episode, shown)
    return episode


def _close(
    ctx: EvaluationContext,
    book: EpisodeBook,
    episode: ClinicalEpisode,
    ending: EpisodeEnding,
    *,
    withdrawn: bool = False,
) -> None:
    """End ``episode``: the end phase repeats its last alert; an R1-R3 reaction is documented."""
    state = ctx.state
    book.closed(episode, ending, withdrawn=withdrawn)
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
    if ending.documented and episode.rule in REACTION_RULES:
        record = reaction_record(state, ctx.infusion, episode, ending)
        if state.merge_reactions([record]):
            ctx.result.reactions.append(record)


def _correct_ending(
    ctx: EvaluationContext, book: EpisodeBook, ended: EndedEpisode, match: DerivedEpisode
) -> None:
    """A late event shows that an ended episode ended earlier, for another reason (the nurse's
    "false positive" read after the completion, the infusion's stop read after the next start),
    or that its worst report was in another band: publish the end again, as it should have been,
    and correct its reaction record."""
    ending = match.ending
    assert ending is not None
    shown = match.shown
    book.ending_corrected(ended, ending, shown)
    alert = _alert(ctx, shown, ended.alert_id, AlertPhase.END)
    ctx.result.alerts.append(
        alert.model_copy(
            update={
                "title": f"Ended, {ending.outcome}: {shown.title}"[:200],
                "event_time": max(ending.time, match.onset_time),
                "late_by_min": None,
            }
        )
    )
    if match.rule in REACTION_RULES and corrected_record(ctx.state, ended.alert_id, ending):
        ctx.result.ledger_changed = True


def _withdraw_ended(ctx: EvaluationContext, ended: EndedEpisode) -> None:
    """An ended episode late events took every support from (a completion read after the report
    it precedes, and after the episode had ended): its end is published again as withdrawn, and
    its reaction record is taken out of the ledger."""
    ended.withdrawn = True
    ended.outcome = WITHDRAWN_OUTCOME
    ctx.result.alerts.append(
        Alert(
            alert_id=ended.alert_id,
            phase=AlertPhase.END,
            patient_ref=ctx.state.patient_ref,
            infusion_id=ended.infusion_id,
            rule=ended.rule,
            priority=ended.priority or AlertPriority.LOW,
            type=ended.type or AlertType.PHYSIOLOGICAL,
            title=f"Ended, {WITHDRAWN_OUTCOME}: {ended.title}"[:200],
            recommendations=(),
            evidence=Evidence(),
            risk_factors=ctx.risk,
            ward=ctx.infusion.context.ward,
            event_time=ended.onset_time,
            created_at=ctx.now,
            rules_version=ctx.rules.version,
        )
    )
    if withdrawn_record(ctx.state, ended.alert_id):
        ctx.result.ledger_changed = True


def end_episodes_of_infusions_not_kept(
    state: PatientState, rules: RulesConfig, now: datetime, result: Evaluation
) -> None:
    """An open episode of an infusion no longer kept (more infusions started since) ends: a new
    infusion started. Without the infusion's facts it is not documented."""
    current = state.infusion
    assert current is not None
    if all(e.infusion_id == current.infusion_id for e in state.episodes.values()):
        return
    kept = {i.infusion_id for i in state.infusions()}
    for episode in list(state.episodes.values()):
        if episode.infusion_id in kept:
            continue
        ctx = EvaluationContext(state, current, (), rules, now, result=result)
        ending = EpisodeEnding("a new infusion started", current.started_at, False)
        _close(ctx, EpisodeBook(state, episode.infusion_id), episode, ending)


def _late_by_min(ctx: EvaluationContext, finding: Finding) -> float | None:
    """How late the finding's own trigger arrived (minutes behind the patient's newest event
    time when it was read, beyond the grace), else None: an update long after the onset, or one
    a late *other* event caused, is not late (issue 12)."""
    return ctx.state.late_arrivals.get(finding.trigger_event_id)


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
        recommendations=r4_recommendations(ctx.risk, finding),
        evidence=finding.evidence,
        risk_factors=ctx.risk,
        ward=ctx.infusion.context.ward,
        event_time=finding.onset_time,
        created_at=ctx.now,
        rules_version=ctx.rules.version,
        modifiers=finding.modifiers,
        late_by_min=late_by,
    )
