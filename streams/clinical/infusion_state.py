"""One infusion's state: its context, the pump facts kept sorted by event time whatever order
they arrived in, and the rate history derived from them (so a late pump event corrects everything
after it). Part of :class:`streams.clinical.state.PatientState`, and so of the table value."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from schemas.base import SharesFieldsSet, event_time_sort_key
from schemas.events import InfusionContext, PumpStatus, VitalSigns
from streams.clinical.vitals_assessment import Reading


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


class PumpFact(SharesFieldsSet, BaseModel):
    """What one pump event says about the infusion's rate and status."""

    model_config = ConfigDict(frozen=True)

    infusion_id: str
    event_id: str
    event_time: datetime
    status: PumpStatus
    #: The new rate for a start, rate change or resumption; None keeps the rate in force.
    rate_ml_h: float | None = None


def fact_order(fact: PumpFact) -> tuple[datetime, str]:
    return event_time_sort_key(fact.event_time, fact.event_id)


#: The statuses of an infusion under way: started, not yet stopped or completed (a pause counts).
INFUSING = frozenset({PumpStatus.RUNNING, PumpStatus.PAUSED})


def rate_points(facts: Sequence[PumpFact]) -> list[RatePoint]:
    """The pump's state after each of ``facts`` (sorted by event time): a start, change or
    resumption sets the rate; a pause, stop or completion keeps the last one."""
    points: list[RatePoint] = []
    rate = 0.0
    for fact in facts:
        if fact.rate_ml_h is not None:
            rate = fact.rate_ml_h
        points.append(RatePoint(fact.event_id, fact.event_time, rate, fact.status))
    return points


def point_at(points: Sequence[RatePoint], when: datetime) -> RatePoint | None:
    """The pump's state in force at ``when`` (event time) among ``points`` (in event time)."""
    index = bisect_right(points, when, key=lambda point: point.event_time)
    return points[index - 1] if index else None


def rate_increases_in(points: Sequence[RatePoint]) -> list[RateStep]:
    """Every increase relative to the last running rate; a resumption is an increase only when
    it exceeds the pre-pause rate."""
    steps: list[RateStep] = []
    last_running: float | None = None
    for point in points:
        if point.status is not PumpStatus.RUNNING:
            continue
        if last_running is not None and point.rate_ml_h > last_running:
            steps.append(RateStep(point.event_id, point.event_time, last_running, point.rate_ml_h))
        last_running = point.rate_ml_h
    return steps


class InfusionState(SharesFieldsSet, BaseModel):
    infusion_id: str
    context: InfusionContext
    #: Pump facts sorted by event time, whatever order they arrived in; the rate history is
    #: derived from them, so a late event corrects everything after it. Add with ``add_facts``.
    facts: list[PumpFact]
    #: The last vital-signs set at or before the start (event time): the pre-infusion baseline.
    baseline: Reading | None = None
    #: The baseline as a table value written before issue 15 holds it (a whole ``VitalSigns``):
    #: read into ``baseline`` on load, never written.
    baseline_vitals: VitalSigns | None = Field(default=None, exclude=True, repr=False)
    #: The rate history, one point per fact: kept up to date by ``add_facts``, rebuilt on load,
    #: never stored (the table holds the facts alone).
    _history: list[RatePoint] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.baseline_vitals is not None:
            self.baseline, self.baseline_vitals = Reading.of(self.baseline_vitals), None
        self._history = []
        self._update_history_from(0)

    def working_copy(self) -> InfusionState:
        """A copy a step may change without touching this one: the facts and the rate history
        (changed in place by ``add_facts``) copied, the rest shared (the context and the facts
        are frozen, the baseline a tuple). A deep copy was three quarters of an unbatched
        event's time (docs/benchmarks.md)."""
        copy = self.model_copy(update={"facts": self.facts[:]})
        copy._history = self._points[:]
        return copy

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
        return point_at(self._points, when)

    def rate_ml_h_at(self, when: datetime) -> float:
        """The rate in force at ``when`` (event time); 0 before the infusion started."""
        point = self.point_at(when)
        return point.rate_ml_h if point is not None else 0.0

    def is_infusing_at(self, when: datetime) -> bool:
        """Started and not yet stopped or completed at ``when`` (a pause still counts)."""
        point = self.point_at(when)
        return point is not None and point.status in INFUSING

    def rate_increases(self) -> list[RateStep]:
        """Every increase relative to the last running rate; a resumption is an increase only
        when it exceeds the pre-pause rate."""
        return rate_increases_in(self._points)

    def add_facts(self, facts: list[PumpFact]) -> None:
        """Insert ``facts`` in event-time order (after any equal key: arrival order breaks ties)
        and update the rate history from the first inserted one on."""
        if not facts:
            return
        first = len(self.facts)
        for fact in facts:
            index = bisect_right(self.facts, fact_order(fact), key=fact_order)
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
