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


class InfusionStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class RatePoint(BaseModel):
    """The pump's state after one pump event."""

    model_config = ConfigDict(frozen=True)

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


class InfusionState(BaseModel):
    infusion_id: str
    context: InfusionContext
    #: Sorted by event time, whatever order events arrived in.
    rate_history: list[RatePoint]

    @property
    def started_at(self) -> datetime:
        return self.rate_history[0].event_time

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

    def add_point(self, point: RatePoint) -> None:
        self.rate_history.append(point)
        self.rate_history.sort(key=lambda p: event_time_sort_key(p.event_time, p.event_id))


class Episode(BaseModel):
    """An open alert episode: one stable alert id from the first report until the infusion ends
    or a new rate step starts a new one."""

    alert_id: str
    rule: str
    #: Event time of the report that opened the episode.
    onset_time: datetime
    report_event_id: str
    step_event_id: str
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
        if state.infusion is None or state.infusion.infusion_id != event.infusion_id:
            state.infusion = InfusionState(
                infusion_id=event.infusion_id, context=event.context, rate_history=[]
            )
            state.episodes = {}
        state.infusion.add_point(
            RatePoint(
                event_id=event.event_id,
                event_time=event.event_time,
                rate_ml_h=event.rate_ml_h,
                status=InfusionStatus.RUNNING,
            )
        )
    else:
        _apply_pump_event(state, event)
    return True


def _apply_pump_event(state: PatientState, event: PumpEventModel) -> None:
    infusion = state.infusion
    if (
        infusion is None
        or infusion.infusion_id != event.infusion_id
        or isinstance(event, PumpAlarm)
    ):
        # A pump alarm does not change the rate; events of an unknown infusion have no context
        # (weight, product) to judge them by.
        return
    before = infusion.point_at(event.event_time)
    rate = before.rate_ml_h if before else 0.0
    status = InfusionStatus.RUNNING
    if isinstance(event, RateChanged | InfusionResumed):
        rate = event.rate_ml_h
    elif isinstance(event, InfusionPaused):
        status = InfusionStatus.PAUSED
    elif isinstance(event, InfusionStopped):
        status = InfusionStatus.STOPPED
    elif isinstance(event, InfusionCompleted):
        status = InfusionStatus.COMPLETED
    infusion.add_point(
        RatePoint(
            event_id=event.event_id, event_time=event.event_time, rate_ml_h=rate, status=status
        )
    )
