"""The simulated nurse: reads alerts, acknowledges after a realistic delay and follows (or
declines) the suggestion at the chair, which the simulated pump then reports.

DOMAIN.md §4: nurses answer phone alarms in a median 8-9 s; reprogramming the pump at the chair
takes a few minutes more. Acknowledgements use the PCD-05/07 vocabulary (``schemas.alerts``).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.alerts import (
    AckResponse,
    ActionTaken,
    Alert,
    AlertAck,
    AlertPhase,
    AlertType,
    RecommendationCode,
)
from schemas.topics import ALERT_ACKS
from simulators.clock import derive_rng
from simulators.infusion_centre import InfusionCentre
from simulators.reaction_model import draw
from simulators.scenario import NurseSpec


@dataclass(frozen=True, slots=True)
class NurseDecision:
    alert_id: str
    patient_ref: str
    ack_after_s: float
    act_after_s: float
    response: AckResponse
    action: ActionTaken
    target_rate_ml_h: float | None = None


def _target_rate(alert: Alert) -> float | None:
    for rec in alert.recommendations:
        if rec.code is RecommendationCode.SLOW_RATE and rec.params:
            target = rec.params.get("target_rate_ml_h")
            if isinstance(target, int | float):
                return float(target)
    return None


class Nurse:
    """Decides once per alert episode; the same seed gives the same decisions."""

    def __init__(self, spec: NurseSpec, seed: int) -> None:
        self.spec = spec
        self._rng = derive_rng(seed, "nurse")
        self._answered: set[str] = set()

    def decide(self, alert: Alert) -> NurseDecision | None:
        if alert.alert_id in self._answered or alert.phase not in (
            AlertPhase.START,
            AlertPhase.ESCALATE,
        ):
            return None
        self._answered.add(alert.alert_id)
        ack_s = draw(self._rng, self.spec.ack_delay_s)
        act_s = ack_s + draw(self._rng, self.spec.action_delay_s)
        follows = self._rng.random() < self.spec.follow_probability
        codes = [rec.code for rec in alert.recommendations]
        if alert.type is not AlertType.PHYSIOLOGICAL or not codes:
            return NurseDecision(alert.alert_id, alert.patient_ref, ack_s, act_s,
                                 AckResponse.READ, ActionTaken.NONE)  # fmt: skip
        if not follows:
            return NurseDecision(alert.alert_id, alert.patient_ref, ack_s, act_s,
                                 AckResponse.NOT_CLINICALLY_RELEVANT, ActionTaken.NONE)  # fmt: skip
        if codes[0] is RecommendationCode.PAUSE:
            action = ActionTaken.PAUSED
        elif RecommendationCode.SLOW_RATE in codes:
            action = ActionTaken.SLOWED
        elif RecommendationCode.PAUSE in codes:
            action = ActionTaken.PAUSED
        else:
            action = ActionTaken.NONE
        return NurseDecision(alert.alert_id, alert.patient_ref, ack_s, act_s,
                             AckResponse.ACCEPTED, action, _target_rate(alert))  # fmt: skip

    def schedule(self, centre: InfusionCentre, decision: NurseDecision) -> None:
        """Put the acknowledgement and the action on the centre's simulated timeline."""
        centre.schedule(centre.now_s + decision.ack_after_s, self._ack, centre, decision,
                        AckResponse.READ if decision.action is not ActionTaken.NONE
                        else decision.response, ActionTaken.NONE)  # fmt: skip
        if decision.action is not ActionTaken.NONE:
            centre.schedule(centre.now_s + decision.act_after_s, self._act, centre, decision)

    def _ack(
        self,
        centre: InfusionCentre,
        decision: NurseDecision,
        response: AckResponse,
        action: ActionTaken,
    ) -> None:
        centre.emit(
            ALERT_ACKS.name,
            AlertAck(
                event_id=f"ack-{decision.alert_id}-{response.value}",
                alert_id=decision.alert_id,
                patient_ref=decision.patient_ref,
                response=response,
                action_taken=action,
                event_time=centre.clock.at(centre.now_s),
            ),
            f"nurse {response.value}, {action.value}",
        )

    def _act(self, centre: InfusionCentre, decision: NurseDecision) -> None:
        if decision.action is ActionTaken.PAUSED:
            done = centre.pause(decision.patient_ref, by="nurse")
        else:
            done = centre.slow(decision.patient_ref, decision.target_rate_ml_h, by="nurse")
        self._ack(
            centre, decision, decision.response, decision.action if done else ActionTaken.NONE
        )
