"""What one rule concludes from a patient's state, before episodes and R4 turn it into alerts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from schemas.alerts import AlertPriority, AlertType, Evidence, Recommendation, VitalsEvidence

PRIORITY_RANK = {AlertPriority.LOW: 0, AlertPriority.MEDIUM: 1, AlertPriority.HIGH: 2}
PRIORITY_BY_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}

#: Rules whose episodes are documented in the reaction ledger when they end.
REACTION_RULES = frozenset({"R1", "R2", "R3"})
#: Rules about back pain whose episodes R5 follows up.
BACK_PAIN_RULES = frozenset({"R1", "R2"})


def raised(priority: AlertPriority, steps: int) -> AlertPriority:
    return PRIORITY_BY_RANK[min(PRIORITY_RANK[priority] + steps, 2)]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's conclusion about one trigger (a report, a pump state, an infusion start)."""

    rule: str
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
    modifiers: tuple[str, ...] = ()
    #: Facts for the reaction ledger (R1-R3).
    rate_at_onset_ml_h: float | None = None
    minutes_since_step: float | None = None
    last_tolerated_rate_ml_h: float | None = None
    vitals_at_onset: VitalsEvidence | None = None

    def with_changes(self, **changes: object) -> Finding:
        return replace(self, **changes)  # type: ignore[arg-type]
