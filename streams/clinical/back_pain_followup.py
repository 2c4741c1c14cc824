"""R5's follow-up of each back-pain episode (R1, R2), judged from event times: what the nurse did
(the pump slowed or paused after the onset, or an acknowledgement saying so), the pain then, and
whether the check 30 min later is due, in event time: some event of the patient (or the R5
timer's horizon) lies between the due time and the back-pain episode's end.

Computed afresh at each evaluation from the derived back-pain episodes, so a late report that
shows the pain eased withdraws R5, and a late report of the episode's first pain moves the clock.
The values are also written to the published episode (``action_time``...), where the R5 timer
reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from schemas.alerts import ActionTaken
from schemas.events import PumpStatus, SymptomKind
from streams.clinical.episode_book import EpisodeBook
from streams.clinical.episode_timeline import DerivedEpisode, EndingEvent, EndingKind
from streams.clinical.episodes import EpisodeEnding
from streams.clinical.evaluation import EvaluationContext
from streams.clinical.finding import Finding
from streams.clinical.state import PatientState
from streams.clinical.symptom_rules import NurseAction, r5_finding

BACK_PAIN_ENDED_OUTCOME = "the back-pain episode ended"


@dataclass(slots=True)
class FollowUps:
    """R5 findings for the back-pain episodes whose check is due, and their endings (an R5
    episode ends with the back-pain episode it follows)."""

    findings: list[Finding] = field(default_factory=list)
    endings: list[EndingEvent] = field(default_factory=list)


def nurse_action(
    ctx: EvaluationContext, book: EpisodeBook, episode: DerivedEpisode, alert_id: str
) -> NurseAction | None:
    """When the nurse first slowed or paused after ``episode`` began (R5 counts from then)."""
    state, infusion = ctx.state, ctx.infusion
    first = episode.first
    rate = first.facts.rate_at_onset_ml_h
    if rate is None:
        rate = infusion.rate_ml_h_at(episode.onset_time)
    actions: list[tuple[datetime, ActionTaken]] = []
    slowed = infusion.slowed_or_paused_after(episode.onset_time, rate)
    if slowed is not None and ctx.before_next_infusion(slowed.event_time):
        paused = slowed.status is PumpStatus.PAUSED
        actions.append((slowed.event_time, ActionTaken.PAUSED if paused else ActionTaken.SLOWED))
    acted = [ack for ack in state.acks if ack.action_taken is not ActionTaken.NONE]
    if acted:
        ids = book.alert_ids_of(episode, alert_id)
        actions += [(ack.event_time, ack.action_taken) for ack in acted if ack.alert_id in ids]
    if not actions:
        return None
    actions.sort()
    action_time = actions[0][0]
    before = [
        r.pain_score
        for r in state.recent_symptoms
        if r.symptom is SymptomKind.BACK_PAIN
        and r.pain_score is not None
        and episode.onset_time <= r.event_time <= action_time
    ]
    pain = before[-1] if before else first.onset_facts.peak_pain
    return NurseAction(action_time, tuple(dict.fromkeys(a for _, a in actions)), pain)


def _event_times(state: PatientState) -> Iterator[datetime]:
    for infusion in state.infusions():
        yield from (fact.event_time for fact in infusion.facts)
    yield from (fact.event_time for fact in state.unmatched_pump_facts)
    yield from (v.event_time for v in state.all_readings())
    yield from (s.event_time for s in state.recent_symptoms)
    yield from (a.event_time for a in state.acks)


def check_is_due(state: PatientState, due: datetime, ended: datetime | None) -> bool:
    """Whether R5's check at ``due`` happens before the back-pain episode ends (at ``ended``):
    read in event time, some event of the patient (or the R5 timer's horizon) passes the due time
    while the episode is still open."""
    horizon = state.quiet_horizon
    if ended is None:
        known = [t for t in (state.watermark, horizon) if t is not None]
        return bool(known) and max(known) >= due
    if due >= ended:
        return False
    if horizon is not None and due <= horizon < ended:
        return True
    return any(due <= when < ended for when in _event_times(state))


def follow_up_back_pain(
    ctx: EvaluationContext, book: EpisodeBook, episodes: list[DerivedEpisode]
) -> FollowUps:
    """R5 for each back-pain episode of the infusion; the nurse's actions are also written to the
    published episode while it is open."""
    state, rules = ctx.state, ctx.rules
    result = FollowUps()
    for episode in episodes:
        alert_id = book.publication_id(episode)
        if alert_id is None:
            continue
        action = nurse_action(ctx, book, episode, alert_id)
        if action is None:
            continue
        due = action.action_time + rules.r5.persistence_window
        published = book.open_for(episode)
        if published is not None:
            published.action_time = action.action_time
            published.pain_at_action = action.pain_at_action
            published.actions = list(action.actions)
            known = [t for t in (state.watermark, state.quiet_horizon) if t is not None]
            if known and max(known) >= due:
                published.persistence_checked = True
        ended = episode.ending.time if episode.ending is not None else None
        if not check_is_due(state, due, ended):
            continue
        finding = r5_finding(ctx, alert_id, episode.onset_time, action)
        if finding is None:
            continue
        result.findings.append(finding)
        if ended is not None:
            ending = EpisodeEnding(BACK_PAIN_ENDED_OUTCOME, ended, False)
            result.endings.append(
                EndingEvent(ended, EndingKind.BACK_PAIN_ENDED, ending, finding.trigger_event_id)
            )
    return result
