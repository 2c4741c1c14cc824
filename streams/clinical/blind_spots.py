"""Technical alerts for the pipeline's blind spots (issue 12, item 5): when pumpstream cannot
judge a patient, it says so for that patient rather than staying silent.

- ``T1`` *infusion start missing*: pump events for an infusion whose ``infusion_started`` has not
  arrived ``missing_start_wait_min`` after the first of them (event time). Without the start the
  pipeline knows no product, concentration or weight, so no rule can judge that infusion. What the
  pump's own events do tell is inferred and said in the alert's title and evidence: whether the
  pump runs, is paused or stopped, its rate in mL/h and the rate increases (the last one's rates
  and event id); never a product, concentration, weight or dose rate. As further pump events
  change that picture, the alert is updated (same priority: the board refreshes, nobody is
  paged again). It ends when the start arrives (the waiting events are then applied) or the
  infusion completes.
- ``T2`` *vital signs silent*: a running infusion whose vital signs, having arrived during it,
  have stopped for ``vitals_silent_min`` while the patient's other events (pump, symptoms) go on;
  R2 cannot see abnormal vitals, and nothing has *arrived* from the monitor for as long either
  (wall clock: topics read in their own order, as in a replay, are no silence). (A patient with
  no monitor at all raises nothing.) It ends
  when vital signs arrive again or the infusion is no longer running.

Judged on event time (the patient's newest event), like every rule, so replays and late events
give the same answer. Open technical alerts are kept in ``PatientState.technical_alerts``; their
ids are deterministic, so re-processing repeats no alert. Technical alerts (IHE type ST) are
medium priority: someone should look at the feed, not at the patient first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from schemas.alerts import (
    Alert,
    AlertPhase,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    RecommendationCode,
)
from schemas.events import PumpStatus
from streams.clinical.infusion_state import PumpFact, fact_order, rate_increases_in, rate_points
from streams.clinical.recommendation_texts import alert_id_for
from streams.clinical.state import PatientState

MISSING_START = "T1"
VITALS_SILENT = "T2"
PUMP_SILENT = "T3"
#: Defaults (the rules file's ``[technical]`` section may override them).
MISSING_START_WAIT_MIN = 5.0
VITALS_SILENT_MIN = 15.0
PUMP_SILENT_MIN = 10.0
#: Repeated status reports (a running pump reporting the rate in force) a pump must have sent
#: before its silence says anything: a pump that reports only changes is silent when nothing
#: changes (docs/clinical-rules.md, "Technical alerts").
STATUS_REPORTS_NEEDED = 3
#: A status-reporting pump is silent after this many of its usual intervals (and the minimum).
SILENT_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class BlindSpot:
    key: str
    rule: str
    infusion_id: str | None
    since: datetime
    title: str
    advice: str
    evidence: Evidence = field(default_factory=Evidence)
    #: An open alert whose title or evidence differ is updated (T1: what the pump shows moved on),
    #: as of ``as_of``; otherwise an open alert stays as it was published.
    refresh: bool = False
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class InferredInfusion:
    """What a pump's own events tell of an infusion whose start is missing: status and rates in
    mL/h only (no product, concentration or weight, hence no dose rate)."""

    status: PumpStatus
    #: None while no event carried a rate (only pauses or stops arrived).
    rate_ml_h: float | None
    increases: int
    last_increase: tuple[str, float, float] | None  # event id, rate before, rate after
    latest: datetime

    @property
    def summary(self) -> str:
        if self.rate_ml_h is None:
            return f"pump {self.status.value}, rate not known"
        where = {
            PumpStatus.RUNNING: f"pump running at {self.rate_ml_h:g} mL/h",
            PumpStatus.PAUSED: f"pump paused (last {self.rate_ml_h:g} mL/h)",
        }.get(self.status, f"pump {self.status.value} (last {self.rate_ml_h:g} mL/h)")
        if self.last_increase is None:
            return f"{where}, no rate increase seen"
        _, before, after = self.last_increase
        plural = "s" if self.increases > 1 else ""
        last = "last " if self.increases > 1 else ""
        return (
            f"{where}, {self.increases} rate increase{plural} ({last}{before:g} -> {after:g} mL/h)"
        )

    @property
    def evidence(self) -> Evidence:
        if self.last_increase is None:
            return Evidence(rate_after_ml_h=self.rate_ml_h)
        event_id, before, after = self.last_increase
        return Evidence(
            rate_before_ml_h=before, rate_after_ml_h=after, rate_change_event_id=event_id
        )


def infer_infusion(facts: list[PumpFact]) -> InferredInfusion:
    """The infusion as its pump events (without the start) show it. The first event's rate is
    the first rate known: an increase is judged only between rates the events carry."""
    ordered = sorted(facts, key=fact_order)
    points = rate_points(ordered)
    increases = rate_increases_in(points)
    last = increases[-1] if increases else None
    rate_known = any(fact.rate_ml_h is not None for fact in ordered)
    return InferredInfusion(
        status=points[-1].status,
        rate_ml_h=points[-1].rate_ml_h if rate_known else None,
        increases=len(increases),
        last_increase=(
            (last.event_id, last.rate_before_ml_h, last.rate_after_ml_h) if last else None
        ),
        latest=points[-1].event_time,
    )


def _missing_starts(state: PatientState, wait: timedelta) -> Iterator[BlindSpot]:
    assert state.watermark is not None
    first_seen: dict[str, datetime] = {}
    for fact in state.unmatched_pump_facts:
        if fact.status is PumpStatus.COMPLETED:
            first_seen.pop(fact.infusion_id, None)
            continue
        seen = first_seen.get(fact.infusion_id)
        first_seen[fact.infusion_id] = min(seen, fact.event_time) if seen else fact.event_time
    completed = {
        f.infusion_id for f in state.unmatched_pump_facts if f.status is PumpStatus.COMPLETED
    }
    for infusion_id, since in first_seen.items():
        if infusion_id in completed or state.watermark - since < wait:
            continue
        inferred = infer_infusion(
            [f for f in state.unmatched_pump_facts if f.infusion_id == infusion_id]
        )
        yield BlindSpot(
            key=f"{MISSING_START}:{infusion_id}",
            rule=MISSING_START,
            infusion_id=infusion_id,
            since=since,
            title=(
                f"Pump events for infusion {infusion_id}, its start never arrived: "
                f"{inferred.summary}; rules blind (no product, concentration, weight)"
            )[:200],
            advice=(
                "Check the pump's connection to the gateway and the infusion order. Inferred "
                "from the pump's own events: whether it runs and its rates in mL/h. Not known: "
                "product, concentration, weight, so no dose rate; back-pain and rate alerts "
                "(R1-R8) are blind until the start arrives: judge back pain after a rate "
                "increase at the bedside."
            ),
            evidence=inferred.evidence,
            refresh=True,
            as_of=inferred.latest,
        )


def _vitals_silent(
    state: PatientState, silent: timedelta, now: datetime | None
) -> Iterator[BlindSpot]:
    infusion = state.infusion
    assert state.watermark is not None
    if infusion is None or not infusion.is_infusing_at(state.watermark):
        return
    arrived = state.last_vitals_arrival_epoch_s
    if now is None or arrived is None or now.timestamp() - arrived < silent.total_seconds():
        # Silent in event time only: the topics are read in their own order (a replay, a
        # burst), so the vitals may simply not have been read yet. A monitor is silent when
        # nothing arrived from it for as long, too.
        return
    during = [v.event_time for v in state.vitals if v.event_time >= infusion.started_at]
    if not during:
        return  # no monitor on this infusion: nothing went silent
    last = max(during)
    if state.watermark - last < silent:
        return
    minutes = round((state.watermark - last).total_seconds() / 60)
    yield BlindSpot(
        key=f"{VITALS_SILENT}:{infusion.infusion_id}:{last.isoformat()}",
        rule=VITALS_SILENT,
        infusion_id=infusion.infusion_id,
        since=last + silent,
        title=f"No vital signs for {minutes} min during the infusion: check the monitor",
        advice="Check the monitor and its connection; abnormal vital signs (R2) cannot be seen.",
    )


def _pump_silent(
    state: PatientState, silent: timedelta, now: datetime | None
) -> Iterator[BlindSpot]:
    """T3: a pump that reports its status periodically (PCD-01 while infusing: the rate in
    force, again and again) has stopped reporting mid-infusion while the patient's other events
    go on, and nothing has arrived from it for as long."""
    infusion = state.infusion
    assert state.watermark is not None
    if infusion is None or not infusion.is_infusing_at(state.watermark):
        return
    arrived = state.last_pump_arrival_epoch_s
    if now is None or arrived is None or now.timestamp() - arrived < silent.total_seconds():
        return  # pump events just read (or never): behind in event time only
    facts = infusion.facts
    pairs = list(pairwise(facts))
    reports = [
        later
        for earlier, later in pairs
        if earlier.status is later.status is PumpStatus.RUNNING
        and later.rate_ml_h == earlier.rate_ml_h
    ]
    if len(reports) < STATUS_REPORTS_NEEDED:
        return  # a pump that reports only changes: its silence says nothing
    gaps = sorted(later.event_time - earlier.event_time for earlier, later in pairs[-10:])
    wait = max(silent, SILENT_INTERVALS * gaps[len(gaps) // 2])
    last = facts[-1].event_time
    if state.watermark - last < wait:
        return
    minutes = round((state.watermark - last).total_seconds() / 60)
    yield BlindSpot(
        key=f"{PUMP_SILENT}:{infusion.infusion_id}:{last.isoformat()}",
        rule=PUMP_SILENT,
        infusion_id=infusion.infusion_id,
        since=last + wait,
        title=f"No status from the pump for {minutes} min during the infusion: check the pump",
        advice=(
            "Check the pump and its connection to the gateway; rate changes, pauses and the "
            "infusion's end cannot be seen, so R1, R5 and R8 may be wrong or late."
        ),
    )


def blind_spots(
    state: PatientState,
    *,
    missing_start_wait_min: float = MISSING_START_WAIT_MIN,
    vitals_silent_min: float = VITALS_SILENT_MIN,
    pump_silent_min: float = PUMP_SILENT_MIN,
    now: datetime | None = None,
) -> list[BlindSpot]:
    if state.watermark is None:
        return []
    return [
        *_missing_starts(state, timedelta(minutes=missing_start_wait_min)),
        *_vitals_silent(state, timedelta(minutes=vitals_silent_min), now),
        *_pump_silent(state, timedelta(minutes=pump_silent_min), now),
    ]


def technical_alerts(
    state: PatientState,
    now: datetime,
    rules_version: str | None,
    *,
    missing_start_wait_min: float = MISSING_START_WAIT_MIN,
    vitals_silent_min: float = VITALS_SILENT_MIN,
    pump_silent_min: float = PUMP_SILENT_MIN,
) -> list[Alert]:
    """Start an alert for each new blind spot and end those that cleared; updates
    ``state.technical_alerts`` (blind-spot key -> the open alert's JSON)."""
    found = {
        spot.key: spot
        for spot in blind_spots(
            state,
            missing_start_wait_min=missing_start_wait_min,
            vitals_silent_min=vitals_silent_min,
            pump_silent_min=pump_silent_min,
            now=now,
        )
    }
    alerts: list[Alert] = []
    for key in [k for k in state.technical_alerts if k not in found]:
        opened = Alert.model_validate_json(state.technical_alerts.pop(key))
        alerts.append(
            opened.model_copy(
                update={
                    "phase": AlertPhase.END,
                    "title": f"Ended, feed back: {opened.title}"[:200],
                    "event_time": state.watermark or opened.event_time,
                    "created_at": now,
                }
            )
        )
    ward = state.infusion.context.ward if state.infusion else "infusion-centre"
    for key, spot in found.items():
        if key in state.technical_alerts:
            if spot.refresh:
                opened = Alert.model_validate_json(state.technical_alerts[key])
                if (opened.title, opened.evidence) != (spot.title, spot.evidence):
                    updated = opened.model_copy(
                        update={
                            "phase": AlertPhase.UPDATE,
                            "title": spot.title,
                            "evidence": spot.evidence,
                            "event_time": spot.as_of or opened.event_time,
                            "created_at": now,
                        }
                    )
                    state.technical_alerts[key] = updated.model_dump_json()
                    alerts.append(updated)
            continue
        alert = Alert(
            alert_id=alert_id_for(f"{state.patient_ref}|{key}"),
            phase=AlertPhase.START,
            patient_ref=state.patient_ref,
            infusion_id=spot.infusion_id,
            rule=spot.rule,
            priority=AlertPriority.MEDIUM,
            type=AlertType.TECHNICAL,
            title=spot.title,
            recommendations=(Recommendation(code=RecommendationCode.CHECK_FEED, text=spot.advice),),
            evidence=spot.evidence,
            ward=ward,
            event_time=spot.since,
            created_at=now,
            rules_version=rules_version,
        )
        state.technical_alerts[key] = alert.model_dump_json()
        alerts.append(alert)
    return alerts
