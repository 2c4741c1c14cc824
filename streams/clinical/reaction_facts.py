"""What the reaction ledger documents about an episode's onset (R1-R3): one frozen value, carried
whole from the rule's :class:`~streams.clinical.finding.Finding` to the
:class:`~streams.clinical.episodes.ClinicalEpisode` and on to the ``ReactionRecord``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.alerts import VitalsEvidence


class ReactionFacts(BaseModel):
    """The facts at a reaction's onset. Field order is the ``patient-state`` table's: an episode
    stores them as its own flat fields (see ``ClinicalEpisode``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The worst back-pain score known for the episode (at its start: the pain the alert shows).
    peak_pain: int | None = None
    #: The running rate at onset, mL/h (R1: the rate after the step; R2: the rate at the report).
    rate_at_onset_ml_h: float | None = None
    #: Minutes from the rate step to the onset (R1).
    minutes_since_step: float | None = None
    #: The last rate run without symptoms before the step, mL/h (R1; R7 caps below it).
    last_tolerated_rate_ml_h: float | None = None
    vitals_at_onset: VitalsEvidence | None = None

    def attributed_as(self, corrected: ReactionFacts) -> ReactionFacts:
        """These facts after a late event corrected the attribution (which rate step the pain
        follows): the step's facts are ``corrected``'s; the pain and vitals at onset stay."""
        return corrected.model_copy(
            update={"peak_pain": self.peak_pain, "vitals_at_onset": self.vitals_at_onset}
        )

    def with_peak_pain(self, peak_pain: int | None) -> ReactionFacts:
        return self.model_copy(update={"peak_pain": peak_pain})
