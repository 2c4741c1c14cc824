"""One evaluation of a patient's state: what every rule and every step of the correlator reads
(the :class:`EvaluationContext`) and what it produces (the :class:`Evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.alerts import Alert
from schemas.events import RiskFactor
from schemas.reactions import ReactionRecord
from streams.clinical.infusion_state import InfusionState
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState


@dataclass(slots=True)
class Evaluation:
    """What one evaluation produced: alerts to publish and reactions newly documented."""

    alerts: list[Alert] = field(default_factory=list)
    reactions: list[ReactionRecord] = field(default_factory=list)
    #: The ledger changed beyond ``reactions`` (a record corrected or withdrawn): rewrite it.
    ledger_changed: bool = False


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """A patient's state with its current infusion, judged by ``rules`` at ``now``."""

    state: PatientState
    infusion: InfusionState
    #: The infusion's risk factors, declared and derived (R4).
    risk: tuple[RiskFactor, ...]
    rules: RulesConfig
    #: Stamps the alerts' ``created_at``.
    now: datetime
    #: Event time known to have passed without events (the R5 timer's wall clock), if any.
    horizon: datetime | None = None
    #: The next infusion's start, when ``infusion`` is an earlier one: what happens from then on
    #: belongs to the next infusion.
    until: datetime | None = None
    #: The result being built.
    result: Evaluation = field(default_factory=Evaluation)

    def before_next_infusion(self, when: datetime) -> bool:
        return self.until is None or when < self.until
