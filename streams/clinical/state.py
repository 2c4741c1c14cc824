"""Per-patient infusion state: the running infusion, its rate history and recent reports.

Pure data and functions (no Faust, no I/O): :func:`streams.clinical.step.clinical_step` applies an
event to a :class:`PatientState` (:func:`apply_event`); the clinical agent loads and stores it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from schemas.alerts import AlertAck
from schemas.base import event_time_sort_key
from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    InfusionStopped,
    PumpAlarm,
    PumpStatus,
    RateChanged,
    SymptomReport,
    VitalSigns,
)
from schemas.reactions import ReactionRecord
from streams.clinical.episodes import ClinicalEpisode

#: Event ids remembered per patient for idempotence (an infusion has a few hundred events).
SEEN_EVENT_IDS_KEPT = 2000
SYMPTOM_REPORTS_KEPT = 50
UNMATCHED_FACTS_KEPT = 200
VITALS_KEPT = 300
ACKS_KEPT = 50
INFUSIONS_REMEMBERED = 50
REACTIONS_KEPT = 50


@dataclass(frozen=True, slots=True)
class RatePoint:
    """The pump's state after one pump event."""

    event_id: str
    event_time: datetime
    rate_ml_h: float
    status: PumpStatus


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
    status: PumpStatus
    #: The new rate for a start, rate change or resumption; None keeps the rate in force.
    rate_ml_h: float | None = None


def _fact_order(fact: PumpFact) -> tuple[datetime, str]:
    return event_time_sort_key(fact.event_time, fact.event_id)


class InfusionState(BaseModel):
    infusion_id: str
    context: InfusionContext
    #: Pump facts sorted by event time, whatever order they arrived in; the rate history is
    #: derived from them, so a late event corrects everything after it. Add with ``add_facts``.
    facts: list[PumpFact]
    #: The last vitals set at or before the start (event time): the pre-infusion baseline.
    baseline_vitals: VitalSigns | None = None
    #: The rate history, one point per fact: kept up to date by ``add_facts``, rebuilt on load,
    #: never stored (the table holds the facts alone).
    _history: list[RatePoint] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        self._history = []
        self._update_history_from(0)

    @property
    def _points(self) -> list[RatePoint]:
        # The private attribute straight from pydantic's storage: ``self._history`` goes through
        # BaseModel.__getattr__ on every read, which cost ~15 % of the clinical step (measured).
        private = self.__pydantic_private__
        assert private is not None
        points: list[RatePoint] = private["_history"]
        return points

    @property
    def started_at(self) -> datetime:
        return self.facts[0].event_time

    def end_fact(self) -> PumpFact | None:
        """The stop or completion, if the infusion has ended (the first, in event time)."""
        for fact in self.facts:
            if fact.status in {PumpStatus.STOPPED, PumpStatus.COMPLETED}:
                return fact
        return None

    def current_rate_ml_h(self) -> float:
        history = self._points
        return history[-1].rate_ml_h if history else 0.0

    def slowed_or_paused_after(self, when: datetime, rate_ml_h: float) -> RatePoint | None:
        """The first pump state after ``when`` that runs slower than ``rate_ml_h`` or is paused."""
        for point in self._points:
            if point.event_time <= when:
                continue
            if point.status is PumpStatus.PAUSED or (
                point.status is PumpStatus.RUNNING and point.rate_ml_h < rate_ml_h
            ):
                return point
        return None

    @property
    def rate_history(self) -> Sequence[RatePoint]:
        """The pump's state after each fact, in event time (a start or change sets the rate; a
        pause, stop or completion keeps the last one)."""
        return self._points

    def point_at(self, when: datetime) -> RatePoint | None:
        """The pump's state in force at ``when`` (event time)."""
        points = self._points
        index = bisect_right(points, when, key=lambda point: point.event_time)
        return points[index - 1] if index else None

    def rate_ml_h_at(self, when: datetime) -> float:
        """The rate in force at ``when`` (event time); 0 before the infusion started."""
        point = self.point_at(when)
        return point.rate_ml_h if point is not None else 0.0

    def is_infusing_at(self, when: datetime) -> bool:
        """Started and not yet stopped or completed at ``when`` (a pause still counts)."""
        point = self.point_at(when)
        return point is not None and point.status in {PumpStatus.RUNNING, PumpStatus.PAUSED}

    def rate_increases(self) -> list[RateStep]:
        """Every increase relative to the last running rate; a resumption is an increase only
        when it exceeds the pre-pause rate."""
        steps: list[RateStep] = []
        last_running: float | None = None
        for point in self._points:
            if point.status is not PumpStatus.RUNNING:
                continue
            if last_running is not None and point.rate_ml_h > last_running:
                steps.append(
                    RateStep(point.event_id, point.event_time, last_running, point.rate_ml_h)
                )
            last_running = point.rate_ml_h
        return steps

    def add_facts(self, facts: list[PumpFact]) -> None:
        """Insert ``facts`` in event-time order (after any equal key: arrival order breaks ties)
        and update the rate history from the first inserted one on."""
        if not facts:
            return
        first = len(self.facts)
        for fact in facts:
            index = bisect_right(self.facts, _fact_order(fact), key=_fact_order)
            self.facts.insert(index, fact)
            first = min(first, index)
        self._update_history_from(first)

    def _update_history_from(self, index: int) -> None:
        points = self._points
        del points[index:]
        rate = points[-1].rate_ml_h if points else 0.0
        for fact in self.facts[index:]:
            if fact.rate_ml_h is not None:
                rate = fact.rate_ml_h
            points.append(RatePoint(fact.event_id, fact.event_time, rate, fact.status))


class PatientState(BaseModel):
    """Everything the pipeline keeps about one patient (one Faust table entry)."""

    patient_ref: str
    infusion: InfusionState | None = None
    #: Vital signs sorted by event time (the newest ``VITALS_KEPT``).
    vitals: list[VitalSigns] = []
    recent_symptoms: list[SymptomReport] = []
    seen_event_ids: list[str] = []
    #: Open episodes, by rule (one open episode per rule; the key is the ``Rule`` value).
    episodes: dict[str, ClinicalEpisode] = {}
    #: Per ``infusion_id:rule``: event time up to which triggers belong to ended episodes.
    closed_until: dict[str, datetime] = {}
    #: Pump facts of an infusion whose start has not arrived (yet): applied when it does.
    unmatched_pump_facts: list[PumpFact] = []
    #: Infusion ids seen for this patient, oldest first (R6 counts repeated infusions).
    infusions_seen: list[str] = []
    #: Nurse responses to this patient's alerts.
    acks: list[AlertAck] = []
    #: Documented reactions (the ``reactions`` ledger), oldest first.
    reactions: list[ReactionRecord] = []
    #: The newest event time seen for this patient: events older than it by more than the grace
    #: are late.
    watermark: datetime | None = None
    #: Wall-clock time (epoch s) the last event for this patient arrived; the R5 timer acts only
    #: when the patient's streams have gone quiet.
    last_arrival_epoch_s: float | None = None

    @property
    def latest_vitals(self) -> VitalSigns | None:
        return self.vitals[-1] if self.vitals else None

    def vitals_between(self, start: datetime, end: datetime) -> list[VitalSigns]:
        return [v for v in self.vitals if start <= v.event_time <= end]

    def merge_reactions(self, records: list[ReactionRecord]) -> bool:
        """Add documented reactions not yet known (by alert id); True when any was new."""
        known = {r.alert_id for r in self.reactions}
        new = [r for r in records if r.alert_id not in known]
        self.reactions.extend(new)
        self.reactions.sort(key=lambda r: event_time_sort_key(r.onset_time, r.alert_id))
        del self.reactions[:-REACTIONS_KEPT]
        return bool(new)

    def to_table_value(self) -> bytes:
        """The table value: JSON bytes. (A Faust table with ``value_type=dict`` cannot recover
        its changelog: recovery calls ``dict.from_data``; bytes with the raw serializer can.)"""
        return self.model_dump_json().encode()

    @classmethod
    def from_table_value(cls, patient_ref: str, value: bytes | None) -> PatientState:
        if value is None:
            return cls(patient_ref=patient_ref)
        return cls.model_validate_json(value)


PumpEventModel = (
    InfusionStarted
    | RateChanged
    | InfusionPaused
    | InfusionResumed
    | InfusionStopped
    | InfusionCompleted
    | PumpAlarm
)
ClinicalEventModel = PumpEventModel | VitalSigns | SymptomReport | AlertAck


def _remember(items: list[str], item: str, keep: int) -> None:
    items.append(item)
    del items[:-keep]


def apply_event(state: PatientState, event: ClinicalEventModel) -> bool:
    """Apply ``event`` to ``state`` in place; return False when it was already applied."""
    if event.event_id in state.seen_event_ids:
        return False
    _remember(state.seen_event_ids, event.event_id, SEEN_EVENT_IDS_KEPT)
    if state.watermark is None or event.event_time > state.watermark:
        state.watermark = event.event_time
    if isinstance(event, AlertAck):
        state.acks.append(event)
        del state.acks[:-ACKS_KEPT]
    elif isinstance(event, VitalSigns):
        state.vitals.append(event)
        state.vitals.sort(key=lambda v: event_time_sort_key(v.event_time, v.event_id))
        del state.vitals[:-VITALS_KEPT]
        _update_baseline(state, event)
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
        status=PumpStatus.RUNNING, rate_ml_h=event.rate_ml_h,
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
    for vitals in state.vitals:
        _update_baseline(state, vitals)
    if event.infusion_id not in state.infusions_seen:
        _remember(state.infusions_seen, event.infusion_id, INFUSIONS_REMEMBERED)


def _update_baseline(state: PatientState, vitals: VitalSigns) -> None:
    infusion = state.infusion
    if infusion is None or vitals.event_time > infusion.started_at:
        return
    current = infusion.baseline_vitals
    if current is None or vitals.event_time >= current.event_time:
        infusion.baseline_vitals = vitals


_STATUS_AFTER: dict[type, PumpStatus] = {
    RateChanged: PumpStatus.RUNNING,
    InfusionResumed: PumpStatus.RUNNING,
    InfusionPaused: PumpStatus.PAUSED,
    InfusionStopped: PumpStatus.STOPPED,
    InfusionCompleted: PumpStatus.COMPLETED,
}


def _pump_fact(
    event: RateChanged | InfusionPaused | InfusionResumed | InfusionStopped | InfusionCompleted,
) -> PumpFact:
    rate = event.rate_ml_h if isinstance(event, RateChanged | InfusionResumed) else None
    return PumpFact(
        infusion_id=event.infusion_id, event_id=event.event_id, event_time=event.event_time,
        status=_STATUS_AFTER[type(event)], rate_ml_h=rate,
    )  # fmt: skip
