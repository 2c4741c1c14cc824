"""What one rule concludes from a patient's state, before episodes and R4 turn it into alerts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from schemas.alerts import AlertPriority, AlertType, Evidence, Recommendation, Rule
from streams.clinical.reaction_facts import ReactionFacts

PRIORITY_RANK = {AlertPriority.LOW: 0, AlertPriority.MEDIUM: 1, AlertPriority.HIGH: 2}
PRIORITY_BY_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}

#: Rules whose episodes are documented in the reaction ledger when they end.
REACTION_RULES = frozenset({Rule.R1, Rule.R2, Rule.R3})
#: Rules about back pain whose episodes R5 follows up.
BACK_PAIN_RULES = frozenset({Rule.R1, Rule.R2})


def raised(priority: AlertPriority, steps: int) -> AlertPriority:
    return PRIORITY_BY_RANK[min(PRIORITY_RANK[priority] + steps, 2)]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's conclusion about one trigger (a report, a pump state, an infusion start)."""

    rule: Rule
    infusion_id: str
    #: Event time of the trigger; the alert's ``event_time``.
    onset_time: datetime
    trigger_event_id: str
    #: What the finding is attributed to (R1: the rate step's key); a changed anchor for the same
    #: trigger is a correction of the evidence.
    anchor: str
    priority: AlertPriority
    type: AlertType
    title: str
    recommendations: tuple[Recommendation, ...]
    evidence: Evidence
    #: How bad (pain score, dose rate); with ``update_on_severity`` a rise updates the episode.
    severity: float = 0.0
    update_on_severity: bool = False
    #: A finding anchored after an open episode's onset starts a new episode (R1: a new step).
    anchor_time: datetime | None = None
    modifiers: tuple[Rule, ...] = ()
    #: Facts for the reaction ledger (R1-R3), but for the peak pain: see ``onset_facts``.
    facts: ReactionFacts = field(default_factory=ReactionFacts)
    #: Other events that may have opened the same episode in another arrival order (R8: every
    #: pump state of the run above the limit).
    also_triggers: tuple[str, ...] = ()
    #: When the condition itself ended, if it has (R8: the rate came back within limits).
    condition_ended_at: datetime | None = None

    @property
    def onset_facts(self) -> ReactionFacts:
        """The facts an episode opened by this finding keeps: the peak pain so far is the pain
        its alert shows."""
        return self.facts.with_peak_pain(self.evidence.pain_score)

    def with_changes(self, **changes: object) -> Finding:
        return replace(self, **changes)  # type: ignore[arg-type]
