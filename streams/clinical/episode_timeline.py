"""The episodes a rule's findings make when read in event-time order, whatever order their events
arrived in (docs/clinical-rules.md, "Arrival order").

The correlator computes every finding of an infusion from the state (the rules read event times
only), then :func:`derive_episodes` walks them with the events that end episodes (a nurse's
"false positive", the next infusion's start, pain resolved, the infusion's stop or completion, the
rate back within limits, the back-pain episode R5 follows ending) in event time: a finding opens an
episode when none is open, joins the open one otherwise, and the earliest ending that applies
closes it. The result is a function of the set of events; the correlator then reconciles the
episodes it already published with it. Pure; linear in the findings and endings after sorting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from schemas.alerts import AlertPriority, Rule
from streams.clinical.episodes import EpisodeEnding
from streams.clinical.finding import PRIORITY_RANK, Finding

#: The ending of an R1 episode by pain after a later rate step (it starts the next episode).
NEW_STEP_OUTCOME = "a further rate increase began a new episode"


class EndingKind(IntEnum):
    """What ends an episode; at the same event time, the lower value wins (the order in which the
    correlator has always judged them)."""

    NURSE = 1
    NEW_INFUSION = 2
    PAIN_RESOLVED = 3
    INFUSION_ENDED = 4
    BACK_PAIN_ENDED = 5
    WITHIN_LIMITS = 6


@dataclass(frozen=True, slots=True)
class EndingEvent:
    """An event that ends the episode open at ``time`` (if it applies to it)."""

    time: datetime
    kind: EndingKind
    ending: EpisodeEnding
    #: Only the episode holding this trigger (an acknowledgement names one alert; an R8 run and an
    #: R5 check end their own episode); None: whichever episode is open.
    trigger: str | None = None
    #: The ending's time is the episode's onset (R8's end within limits, as always published).
    at_onset: bool = False

    def applies_to(self, episode: DerivedEpisode) -> bool:
        if self.trigger is not None:
            return self.trigger in episode.triggers
        if self.kind is EndingKind.PAIN_RESOLVED:
            return self.time > episode.onset_time
        return self.time >= episode.onset_time

    def ending_of(self, episode: DerivedEpisode) -> EpisodeEnding:
        if not self.at_onset:
            return self.ending
        return EpisodeEnding(
            self.ending.outcome,
            episode.onset_time,
            self.ending.documented,
            self.ending.nurse_response,
        )


@dataclass(slots=True)
class DerivedEpisode:
    """One episode as the findings make it in event time: its findings, oldest first, and how it
    ended (None: still open)."""

    rule: Rule
    infusion_id: str
    findings: list[Finding]
    ending: EpisodeEnding | None = None
    triggers: set[str] = field(default_factory=set)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.triggers.add(finding.trigger_event_id)
        self.triggers.update(finding.also_triggers)

    @property
    def first(self) -> Finding:
        return self.findings[0]

    @property
    def onset_time(self) -> datetime:
        return self.findings[0].onset_time

    @property
    def shown(self) -> Finding:
        """The finding its alert shows: the highest priority (for R3 and R8 also the highest
        severity), the earliest among equals."""
        return max(self.findings, key=_weight)

    @property
    def priority(self) -> AlertPriority:
        return self.shown.priority

    def finding_for(self, trigger: str) -> Finding | None:
        for finding in self.findings:
            if finding.trigger_event_id == trigger or trigger in finding.also_triggers:
                return finding
        return None


def _weight(finding: Finding) -> tuple[int, float]:
    severity = finding.severity if finding.update_on_severity else 0.0
    return (PRIORITY_RANK[finding.priority], severity)


def derive_episodes(
    rule: Rule, infusion_id: str, findings: Sequence[Finding], endings: Iterable[EndingEvent]
) -> list[DerivedEpisode]:
    """The episodes of ``rule`` that ``findings`` make with ``endings``, in event time.

    A finding at the same time as an ending is read first (it belongs to the episode the ending
    closes); an R1 finding anchored to a rate step made after the open episode began ends that
    episode at the step and opens the next one."""
    timeline: list[tuple[datetime, int, int, Finding | EndingEvent]] = [
        (f.onset_time, 0, i, f)
        for i, f in enumerate(sorted(findings, key=lambda f: (f.onset_time, f.trigger_event_id)))
    ]
    timeline += [(e.time, int(e.kind), i, e) for i, e in enumerate(endings)]
    timeline.sort(key=lambda item: item[:3])
    episodes: list[DerivedEpisode] = []
    open_episode: DerivedEpisode | None = None
    for _, _, _, item in timeline:
        if isinstance(item, EndingEvent):
            if open_episode is not None and item.applies_to(open_episode):
                open_episode.ending = item.ending_of(open_episode)
                open_episode = None
            continue
        if (
            open_episode is not None
            and item.anchor_time is not None
            and item.anchor_time > open_episode.onset_time
        ):
            open_episode.ending = EpisodeEnding(NEW_STEP_OUTCOME, item.anchor_time, True)
            open_episode = None
        if open_episode is None:
            open_episode = DerivedEpisode(rule, infusion_id, [])
            episodes.append(open_episode)
        open_episode.add(item)
    return episodes
