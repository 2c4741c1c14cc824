"""The episodes already published for one infusion (open ones in ``PatientState.episodes``, ended
ones in ``PatientState.ended_episodes``), as the correlator reconciles them with the episodes the
findings make (``episode_timeline``).

A published episode is the derived episode that holds the trigger it was opened with: its
``alert_id`` is the one the first trigger *read* gave it, so it depends on the arrival order, but
whichever trigger that was, it belongs to the same derived episode. A nurse's answer names an
alert id; it is matched to the trigger behind it, whether that alert was published in this
arrival order or would have been in another.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.alerts import Rule
from streams.clinical import recommendation_texts
from streams.clinical.blind_spots import inferred_r1_alert_id
from streams.clinical.episode_timeline import DerivedEpisode
from streams.clinical.episodes import ClinicalEpisode, EndedEpisode, EpisodeEnding
from streams.clinical.finding import Finding
from streams.clinical.state import PatientState

#: The ending of an episode whose trigger no derived episode holds any more (and, as recorded
#: before arrival order was handled, of an R8 run back within limits).
WITHDRAWN_OUTCOME = "withdrawn: later-arriving events no longer support it"


class EpisodeBook:
    """The published episodes of ``infusion_id`` in ``state``, and their bookkeeping."""

    def __init__(self, state: PatientState, infusion_id: str) -> None:
        self.state = state
        self.infusion_id = infusion_id
        self._new_ids: dict[int, str] = {}
        self._named: dict[Rule, dict[str, Finding]] = {}
        self._ended_by_rule: dict[Rule, list[EndedEpisode]] = {}
        self._reindex()

    def _reindex(self) -> None:
        self._ended_by_rule.clear()
        for ended in self.state.ended_episodes:
            if ended.infusion_id == self.infusion_id:
                self._ended_by_rule.setdefault(ended.rule, []).append(ended)

    def has_published(self) -> bool:
        """Whether any episode of the infusion is open, or ended and not withdrawn."""
        if any(e.infusion_id == self.infusion_id for e in self.state.episodes.values()):
            return True
        return any(not e.withdrawn for ended in self._ended_by_rule.values() for e in ended)

    def open_episodes(self) -> list[ClinicalEpisode]:
        """Open episodes of the infusion; R5 last (it follows a back-pain episode)."""
        mine = [e for e in self.state.episodes.values() if e.infusion_id == self.infusion_id]
        return sorted(mine, key=lambda e: e.rule is Rule.R5)

    def _ended(self, rule: Rule) -> list[EndedEpisode]:
        return self._ended_by_rule.get(rule, [])

    @staticmethod
    def derived_for(
        episode: ClinicalEpisode | EndedEpisode, derived: Sequence[DerivedEpisode]
    ) -> DerivedEpisode | None:
        """The derived episode holding the trigger ``episode`` was opened with."""
        for match in derived:
            if episode.trigger_event_id in match.triggers:
                return match
        return None

    def owner(self, match: DerivedEpisode) -> ClinicalEpisode | EndedEpisode | None:
        """The published episode (open, or ended and not withdrawn) that stands for ``match``:
        of those opened with one of its triggers, the one opened with the earliest. (Two can
        hold triggers of one derived episode when late events merge what they had split.)"""
        candidates: list[ClinicalEpisode | EndedEpisode] = [
            e for e in self._ended(match.rule) if not e.withdrawn and e.trigger_event_id
        ]
        current = self.state.episodes.get(match.rule)
        if current is not None and current.infusion_id == self.infusion_id:
            candidates.append(current)
        held = [c for c in candidates if c.trigger_event_id in match.triggers]
        if len(held) <= 1:
            return held[0] if held else None
        order: dict[str, int] = {}
        for index, finding in enumerate(match.findings):
            for trigger in (finding.trigger_event_id, *finding.also_triggers):
                order.setdefault(trigger, index)
        return min(held, key=lambda c: (order[c.trigger_event_id], c.onset_time))

    def open_for(self, match: DerivedEpisode) -> ClinicalEpisode | None:
        owner = self.owner(match)
        return owner if isinstance(owner, ClinicalEpisode) else None

    def ended_for(self, match: DerivedEpisode) -> EndedEpisode | None:
        owner = self.owner(match)
        return owner if isinstance(owner, EndedEpisode) else None

    def _below_floor(self, match: DerivedEpisode) -> bool:
        """``match`` began before the oldest ended episode remembered: it belongs to an episode
        ended before (a floor, or ``closed_until`` of a state stored before the memory)."""
        ended = self._ended(match.rule)
        if not ended:
            legacy = self.state.closed_until.get(f"{self.infusion_id}:{match.rule}")
            return legacy is not None and match.onset_time <= legacy
        return any(not e.trigger_event_id and match.onset_time <= e.ended_time for e in ended)

    def is_published(self, match: DerivedEpisode) -> bool:
        return self.owner(match) is not None or self._below_floor(match)

    def publication_id(self, match: DerivedEpisode) -> str | None:
        """The alert id ``match`` is (or will be) published under; None when it belongs to an
        episode ended before the memory (nothing more is published for it)."""
        published = self.owner(match)
        if published is not None:
            return published.alert_id
        if self._below_floor(match):
            return None
        return self.new_alert_id(match)

    def new_alert_id(self, match: DerivedEpisode) -> str:
        """UUIDv5 of infusion, rule and the first trigger (so re-processing gives the same id);
        numbered when a withdrawn episode already used it (its end was published)."""
        known = self._new_ids.get(id(match))
        if known is not None:
            return known
        used = {e.alert_id for e in self._ended(match.rule)}
        used |= {e.alert_id for e in self.state.episodes.values()}
        if match.rule is Rule.R1:
            inferred = inferred_r1_alert_id(self.state, self.infusion_id, match.triggers)
            if inferred is not None and inferred not in used:
                # R1 judged on the pump's rates before the start arrived: the same episode.
                self._new_ids[id(match)] = inferred
                return inferred
        key = f"{self.infusion_id}:{match.rule}:{match.first.trigger_event_id}"
        alert_id = recommendation_texts.alert_id_for(key)
        again = 1
        while alert_id in used:
            again += 1
            alert_id = recommendation_texts.alert_id_for(f"{key}:{again}")
        self._new_ids[id(match)] = alert_id
        return alert_id

    def finding_named(
        self, alert_id: str, rule: Rule, findings: Sequence[Finding]
    ) -> Finding | None:
        """The finding whose trigger the alert ``alert_id`` was (or would be) published for."""
        named = self._named.get(rule)
        if named is None:
            named = {}
            by_trigger: dict[str, Finding] = {}
            for finding in findings:
                for trigger in (finding.trigger_event_id, *finding.also_triggers):
                    by_trigger[trigger] = finding
                    key = f"{self.infusion_id}:{rule}:{trigger}"
                    named[recommendation_texts.alert_id_for(key)] = finding
            published: list[ClinicalEpisode | EndedEpisode] = [*self._ended(rule)]
            published += [e for e in self.open_episodes() if e.rule == rule]
            for episode in published:
                if episode.trigger_event_id in by_trigger:
                    named[episode.alert_id] = by_trigger[episode.trigger_event_id]
            self._named[rule] = named
        return named.get(alert_id)

    def alert_ids_of(self, match: DerivedEpisode, alert_id: str) -> set[str]:
        """Every alert id a nurse may have answered for ``match``: the one it is published under,
        and those each of its triggers would have been published under."""
        ids = {alert_id}
        for trigger in match.triggers:
            key = f"{self.infusion_id}:{match.rule}:{trigger}"
            ids.add(recommendation_texts.alert_id_for(key))
        return ids

    def opened(self, episode: ClinicalEpisode, *, open_now: bool) -> None:
        """Record a newly published episode (an episode already over is not kept open)."""
        if open_now:
            self.state.episodes[episode.rule] = episode

    def closed(self, episode: ClinicalEpisode, ending: EpisodeEnding, *, withdrawn: bool) -> None:
        """Record the end of ``episode``: it leaves the open episodes, ``closed_until`` is
        written as it always was (older workers read it), and the memory keeps it."""
        state = self.state
        if state.episodes.get(episode.rule) is episode:
            del state.episodes[episode.rule]
        key = f"{episode.infusion_id}:{episode.rule}"
        legacy = state.closed_until.get(key)
        if legacy is not None and not self._ended(episode.rule):
            # A state stored before the memory: its ended episodes become a floor.
            state.remember_ended(
                EndedEpisode(
                    alert_id="",
                    rule=episode.rule,
                    infusion_id=episode.infusion_id,
                    trigger_event_id="",
                    onset_time=legacy,
                    ended_time=legacy,
                    outcome="",
                )
            )
        state.closed_until[key] = ending.time
        last = episode.last_alert
        state.remember_ended(
            EndedEpisode(
                alert_id=episode.alert_id,
                rule=episode.rule,
                infusion_id=episode.infusion_id,
                trigger_event_id=episode.trigger_event_id,
                onset_time=episode.onset_time,
                ended_time=ending.time,
                outcome=ending.outcome,
                withdrawn=withdrawn,
                priority=last["priority"],
                type=last["type"],
                title=last["title"],
            )
        )
        self._reindex()

    def ending_corrected(self, ended: EndedEpisode, ending: EpisodeEnding, shown: Finding) -> None:
        ended.outcome = ending.outcome
        ended.ended_time = ending.time
        ended.priority = shown.priority
        ended.title = shown.title

    def ended_without_support(
        self, derived: dict[Rule, list[DerivedEpisode]]
    ) -> list[EndedEpisode]:
        """Ended episodes that no derived episode stands for any more: none holds their trigger,
        although the event behind it is still kept (so it was late events, not the bounded
        history, that took their support away); or the one that does is another's."""
        orphans: list[EndedEpisode] = []
        unheld: list[EndedEpisode] = []
        for rule, ended in self._ended_by_rule.items():
            for episode in ended:
                if episode.withdrawn or not episode.trigger_event_id:
                    continue
                match = self.derived_for(episode, derived.get(rule, []))
                if match is None:
                    unheld.append(episode)
                elif self.owner(match) is not episode:
                    orphans.append(episode)
        if unheld:
            known = self._kept_evidence()
            for episode in unheld:
                trigger = episode.trigger_event_id
                # R5 follows a back-pain episode: its evidence is that episode.
                evidence = trigger.removesuffix(":r5") if episode.rule is Rule.R5 else trigger
                if evidence in known:
                    orphans.append(episode)
        return orphans

    def _kept_evidence(self) -> set[str]:
        """Ids of what an episode's trigger can be that the state still keeps: reports, the
        infusion's pump facts, published episodes (R5's evidence)."""
        known = {r.event_id for r in self.state.recent_symptoms}
        infusion = self.state.infusion_by_id(self.infusion_id)
        if infusion is not None:
            known |= {f.event_id for f in infusion.facts}
        known |= {e.alert_id for e in self.state.episodes.values()}
        known |= {e.alert_id for e in self.state.ended_episodes if not e.withdrawn}
        return known
