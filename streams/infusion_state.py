"""Per-patient infusion state: the running infusion, its rate history and recent reports.

Pure data and functions (no Faust, no I/O): the clinical agent loads a
:class:`PatientState` from its table, applies an event, and stores it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.alerts import AlertPriority
from schemas.base import event_time_sort_key
from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    InfusionStopped,
    PumpAlarm,
    RateChanged,
    SymptomReport,
    VitalSigns,
)

#: Event ids remembered per patient for idempotence (an infusion has a few hundred events).
SEEN_EVENT_IDS_KEPT = 2000
SYMPTOM_REPORTS_KEPT = 50
UNMATCHED_FACTS_KEPT = 200


class InfusionStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class RatePoint:
    """The pump's state after one pump event."""

    event_id: str
    event_time: datetime
    rate_ml_h: float
    status: InfusionStatus


@dataclass(frozen=True, slots=True)
class RateStep:
    """A rise of the running rate above the last rate the patient ran at."""

    event_id: str
    event_time: datetime
    rate_before_ml_h: float
    rate_after_ml_h: float

    @property
    def key(self) -> str:
        """Identifies the step and what it is known to be: a late event that changes the rate
        before it changes the key."""
        return f"{self.event_id}:{self.rate_before_ml_h:g}:{self.rate_after_ml_h:g}"


class PumpFact(BaseModel):
    """What one pump event says about the infusion's rate and status."""

    model_config = ConfigDict(frozen=True)

    infusion_id: str
    event_id: str
    event_time: datetime
    status: InfusionStatus
    #: The new rate for a start, rate change or resumption; None keeps the rate in force.
    rate_ml_h: float | None = None


class InfusionState(BaseModel):
    infusion_id: str
    context: InfusionContext
    #: Pump facts sorted by event time, whatever order they arrived in; the rate history is
    #: derived from them, so a late event corrects everything after it.
    facts: list[PumpFact]

    @property
    def rate_history(self) -> list[RatePoint]:
        points: list[RatePoint] = []
        rate = 0.0
        for fact in self.facts:
            if fact.rate_ml_h is not None:
                rate = fact.rate_ml_h
            points.append(RatePoint(fact.event_id, fact.event_time, rate, fact.status))
        return points

    def point_at(self, when: datetime) -> RatePoint | None:
        """The pump's state in force at ``when`` (event time)."""
        current = None
        for point in self.rate_history:
            if point.event_time > when:
                break
            current = point
        return current

    def is_infusing_at(self, when: datetime) -> bool:
        """Started and not yet stopped or completed at ``when`` (a pause still counts)."""
        point = self.point_at(when)
        return point is not None and point.status in {InfusionStatus.RUNNING, InfusionStatus.PAUSED}

    def rate_increases(self) -> list[RateStep]:
        """Every increase relative to the last running rate; a resumption is an increase only
        when it exceeds the pre-pause rate."""
        steps: list[RateStep] = []
        last_running: float | None = None
        for point in self.rate_history:
            if point.status is not InfusionStatus.RUNNING:
                continue
            if last_running is not None and point.rate_ml_h > last_running:
                steps.append(
                    RateStep(point.event_id, point.event_time, last_running, point.rate_ml_h)
                )
            last_running = point.rate_ml_h
        return steps

    def add_facts(self, facts: list[PumpFact]) -> None:
        self.facts.extend(facts)
        self.facts.sort(key=lambda f: event_time_sort_key(f.event_time, f.event_id))


class Episode(BaseModel):
    """An open alert episode: one stable alert id from the first report until the infusion ends
    or a new rate step starts a new one."""

    alert_id: str
    rule: str
    #: Event time of the report that opened the episode.
    onset_time: datetime
    report_event_id: str
    #: The rate step the episode is attributed to, as ``RateStep.key``.
    step_key: str
    priority: AlertPriority


class PatientState(BaseModel):
    """Everything the pipeline keeps about one patient (one Faust table entry)."""

    patient_ref: str
    infusion: InfusionState | None = None
    latest_vitals: VitalSigns | None = None
    recent_symptoms: list[SymptomReport] = []
    seen_event_ids: list[str] = []
    #: Open episodes of the current infusion, by rule.
    episodes: dict[str, Episode] = {}
    #: Pump facts of an infusion whose start has not arrived (yet): applied when it does.
    unmatched_pump_facts: list[PumpFact] = []

    def to_table_value(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_table_value(cls, patient_ref: str, value: dict[str, Any] | None) -> PatientState:
        if value is None:
            return cls(patient_ref=patient_ref)
        return cls.model_validate(value)


PumpEventModel = (
    InfusionStarted
    | RateChanged
    | InfusionPaused
    | InfusionResumed
    | InfusionStopped
    | InfusionCompleted
    | PumpAlarm
)
ClinicalEventModel = PumpEventModel | VitalSigns | SymptomReport


def _remember(items: list[str], item: str, keep: int) -> None:
    items.append(item)
    del items[:-keep]


def apply_event(state: PatientState, event: ClinicalEventModel) -> bool:
    """Apply ``event`` to ``state`` in place; return False when it was already applied."""
    if event.event_id in state.seen_event_ids:
        return False
    _remember(state.seen_event_ids, event.event_id, SEEN_EVENT_IDS_KEPT)
    if isinstance(event, VitalSigns):
        if state.latest_vitals is None or event.event_time >= state.latest_vitals.event_time:
            state.latest_vitals = event
    elif isinstance(event, SymptomReport):
        state.recent_symptoms.append(event)
        state.recent_symptoms.sort(key=lambda s: event_time_sort_key(s.event_time, s.event_id))
        del state.recent_symptoms[:-SYMPTOM_REPORTS_KEPT]
    elif isinstance(event, InfusionStarted):
        _start_infusion(state, event)
    elif not isinstance(event, PumpAlarm):  # an alarm does not change rate or status
        fact = _pump_fact(event)
        if state.infusion is not None and state.infusion.infusion_id == fact.infusion_id:
            state.infusion.add_facts([fact])
        else:
            # Its start has not arrived: without the context (weight, product) it cannot be
            # judged yet, but it must not be lost.
            state.unmatched_pump_facts.append(fact)
            del state.unmatched_pump_facts[:-UNMATCHED_FACTS_KEPT]
    return True


def _start_infusion(state: PatientState, event: InfusionStarted) -> None:
    start = PumpFact(
        infusion_id=event.infusion_id, event_id=event.event_id, event_time=event.event_time,
        status=InfusionStatus.RUNNING, rate_ml_h=event.rate_ml_h,
    )  # fmt: skip
    if state.infusion is not None and state.infusion.infusion_id == event.infusion_id:
        state.infusion.add_facts([start])
        return
    waiting = [f for f in state.unmatched_pump_facts if f.infusion_id == event.infusion_id]
    state.unmatched_pump_facts = [
        f for f in state.unmatched_pump_facts if f.infusion_id != event.infusion_id
    ]
    state.infusion = InfusionState(infusion_id=event.infusion_id, context=event.context, facts=[])
    state.infusion.add_facts([start, *waiting])
    state.episodes = {}


_STATUS_AFTER: dict[type, InfusionStatus] = {
    RateChanged: InfusionStatus.RUNNING,
    InfusionResumed: InfusionStatus.RUNNING,
    InfusionPaused: InfusionStatus.PAUSED,
    InfusionStopped: InfusionStatus.STOPPED,
    InfusionCompleted: InfusionStatus.COMPLETED,
}


def _pump_fact(
    event: RateChanged | InfusionPaused | InfusionResumed | InfusionStopped | InfusionCompleted,
) -> PumpFact:
    rate = event.rate_ml_h if isinstance(event, RateChanged | InfusionResumed) else None
    return PumpFact(
        infusion_id=event.infusion_id, event_id=event.event_id, event_time=event.event_time,
        status=_STATUS_AFTER[type(event)], rate_ml_h=rate,
    )  # fmt: skip
