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
- ``R1`` *on the inferred infusion*: while T1 is open, back pain (NRS >= 1) within R1's look-back
  window after a rate increase the pump's own events show raises R1 as usual (same pain bands,
  priorities and suggestions), judged in mL/h: the title says the start is missing and no dose
  rate is known. One episode per increase, as R1; it is updated when the pain reaches a higher
  band and ends when pain is reported resolved, after a further increase with pain (a new
  episode), when the nurse answers it is no reaction, or when the infusion completes. Its id is
  the one R1 proper gives an episode opened by the same report. When the start arrives while it
  is open, R1 proper (judging the infusion from its start) publishes the same episode under its
  alert id, so the page carries on with the dose rate and no end is published
  (docs/clinical-rules.md, "What T1 infers").
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
    AckResponse,
    Alert,
    AlertPhase,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    RecommendationCode,
    Rule,
)
from schemas.events import PumpStatus, SymptomKind, SymptomReport
from streams.clinical.finding import PRIORITY_RANK
from streams.clinical.infusion_state import (
    INFUSING,
    InfusionState,
    PumpFact,
    RateStep,
    fact_order,
    point_at,
    rate_increases_in,
    rate_points,
)
from streams.clinical.recommendation_texts import alert_id_for
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.symptom_rules import (
    latest_increase_before,
    r1_evidence,
    r1_recommendations,
)
from streams.clinical.vitals_assessment import vitals_evidence

MISSING_START = "T1"
VITALS_SILENT = "T2"
PUMP_SILENT = "T3"
#: Key prefix (in ``PatientState.technical_alerts``) of R1 judged on an inferred infusion.
INFERRED_R1 = "R1-inferred"
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
    #: An open alert whose title, evidence or priority differ is updated (T1: what the pump
    #: shows moved on; R1: pain in a higher band), as of ``as_of``; otherwise an open alert
    #: stays as it was published.
    refresh: bool = False
    as_of: datetime | None = None
    priority: AlertPriority = AlertPriority.MEDIUM
    type: AlertType = AlertType.TECHNICAL
    #: Suggestions; technical alerts have one, ``check_feed`` with ``advice``.
    recommendations: tuple[Recommendation, ...] = ()
    #: The id to publish under (default: one derived from the patient and ``key``).
    alert_id: str | None = None

    def suggestions(self) -> tuple[Recommendation, ...]:
        return self.recommendations or (
            Recommendation(code=RecommendationCode.CHECK_FEED, text=self.advice),
        )


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


def _waiting_infusions(state: PatientState, wait: timedelta) -> dict[str, datetime]:
    """Infusions whose pump events have waited ``wait`` (event time) for their start and that
    have not completed: infusion id -> its first pump event's time."""
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
    return {
        infusion_id: since
        for infusion_id, since in first_seen.items()
        if infusion_id not in completed and state.watermark - since >= wait
    }


def _facts_of(state: PatientState, infusion_id: str) -> list[PumpFact]:
    return [f for f in state.unmatched_pump_facts if f.infusion_id == infusion_id]


def _missing_starts(state: PatientState, waiting: dict[str, datetime]) -> Iterator[BlindSpot]:
    for infusion_id, since in waiting.items():
        inferred = infer_infusion(_facts_of(state, infusion_id))
        yield BlindSpot(
            key=f"{MISSING_START}:{infusion_id}",
            rule=MISSING_START,
            infusion_id=infusion_id,
            since=since,
            title=(
                f"Pump events for infusion {infusion_id}, its start never arrived: "
                f"{inferred.summary}; dose not known (no product, concentration, weight)"
            )[:200],
            advice=(
                "Check the pump's connection to the gateway and the infusion order. Inferred "
                "from the pump's own events: whether it runs and its rates in mL/h. Not known: "
                "product, concentration, weight, so no dose rate: R2-R8 are blind until the "
                "start arrives; R1 judges back pain after a rate increase on the pump's rates "
                "in mL/h."
            ),
            evidence=inferred.evidence,
            refresh=True,
            as_of=inferred.latest,
        )


def _worst(reports: list[SymptomReport], rules: RulesConfig) -> SymptomReport:
    """The first report in the highest pain band: as R1, a same-band report changes nothing."""
    worst = reports[0]
    for report in reports[1:]:
        band = rules.pain_bands.priority(report.pain_score or 0)
        if PRIORITY_RANK[band] > PRIORITY_RANK[rules.pain_bands.priority(worst.pain_score or 0)]:
            worst = report
    return worst


def _inferred_r1_episode(
    state: PatientState, infusion_id: str, since: datetime, rules: RulesConfig
) -> tuple[RateStep, list[SymptomReport]] | None:
    """The open R1 episode on an inferred infusion, as R1 opens and ends its own: the rate
    increase the newest back pain follows (within the look-back window) and the reports since
    it; none once pain is reported resolved after them."""
    points = rate_points(sorted(_facts_of(state, infusion_id), key=fact_order))
    steps = rate_increases_in(points)
    if not steps:
        return None

    def infusing_at(when: datetime) -> bool:  # running or paused, as R1 asks
        point = point_at(points, when)
        return point is not None and point.status in INFUSING

    reports = [
        r
        for r in state.recent_symptoms
        if r.symptom is SymptomKind.BACK_PAIN
        and r.pain_score is not None
        and r.infusion_id in (None, infusion_id)
        and r.event_time >= since
        and infusing_at(r.event_time)
    ]
    window = rules.r1.lookback_window
    resolved = rules.pain_bands.resolved_at_or_below
    episode: tuple[RateStep, list[SymptomReport]] | None = None
    for report in reports:  # kept in event-time order
        if (report.pain_score or 0) <= resolved:
            episode = None
            continue
        step = latest_increase_before(steps, report.event_time, window)
        if step is None:
            continue
        if episode is not None and episode[0].key == step.key:
            episode[1].append(report)
        elif episode is None or step.event_time > episode[0].event_time:
            episode = (step, [report])
    return episode


def _inferred_r1(
    state: PatientState, waiting: dict[str, datetime], rules: RulesConfig
) -> Iterator[BlindSpot]:
    """R1 on the infusion T1 infers: back pain after a rate increase is judged in mL/h."""
    for infusion_id, since in waiting.items():
        episode = _inferred_r1_episode(state, infusion_id, since, rules)
        if episode is None:
            continue
        step, reports = episode
        key = f"{INFERRED_R1}:{infusion_id}:{step.key}"
        alert_id = _inferred_alert_id(state, key, infusion_id, reports[0])
        if _dismissal(state, alert_id) is not None:
            continue  # the nurse judged it no reaction: it ends, as R1's episodes do
        worst = _worst(reports, rules)
        pain = worst.pain_score or 0
        priority = rules.pain_bands.priority(pain)
        minutes = round((reports[0].event_time - step.event_time).total_seconds() / 60, 1)
        yield BlindSpot(
            key=key,
            alert_id=alert_id,
            rule=Rule.R1.value,
            infusion_id=infusion_id,
            since=reports[0].event_time,
            title=(
                f"Back pain {pain}/10, {minutes:g} min after rate increase to "
                f"{step.rate_after_ml_h:g} mL/h (infusion start missing: dose not known)"
            ),
            advice="",
            evidence=r1_evidence(step, worst, minutes, vitals_evidence(state.latest_reading)),
            refresh=True,
            as_of=worst.event_time,
            priority=priority,
            type=AlertType.PHYSIOLOGICAL,
            recommendations=r1_recommendations(step, priority, rules),
        )


def inferred_r1_alert_id(state: PatientState, infusion_id: str, triggers: set[str]) -> str | None:
    """The alert id of an open R1 on the inferred infusion ``infusion_id`` whose report is one of
    ``triggers``: R1 proper, judging the infusion once its start arrived, publishes the same
    episode under it."""
    prefix = f"{INFERRED_R1}:{infusion_id}:"
    for key, text in state.technical_alerts.items():
        if key.startswith(prefix):
            alert = Alert.model_validate_json(text)
            if alert.evidence.symptom_event_id in triggers:
                return alert.alert_id
    return None


def on_inferred_infusion(alert: Alert) -> bool:
    """Whether ``alert`` is R1 judged on an inferred infusion: R1 proper always knows the dose
    rate, R1 on the pump's own rates never does."""
    return alert.rule == Rule.R1.value and alert.evidence.dose_rate_mg_kg_min is None


def _handed_over(state: PatientState, key: str, opened: Alert) -> bool:
    """Whether R1 on the inferred infusion became R1 proper: the start arrived and the rules
    published the episode under the same alert id (an update of the same page, dose rate
    included), so no end is published for it."""
    if not key.startswith(INFERRED_R1) or _facts_of(state, key.split(":")[1]):
        return False
    open_ids = {episode.alert_id for episode in state.episodes.values()}
    return opened.alert_id in open_ids or any(
        e.alert_id == opened.alert_id for e in state.ended_episodes
    )


def _inferred_alert_id(
    state: PatientState, key: str, infusion_id: str, first: SymptomReport
) -> str:
    """An open episode keeps the id it was published under; a new one gets the id R1 proper
    gives an episode opened by the same report, so that a nurse's answer to it is read by R1
    proper too once the start arrives."""
    opened = state.technical_alerts.get(key)
    if opened is not None:
        return Alert.model_validate_json(opened).alert_id
    return alert_id_for(f"{infusion_id}:{Rule.R1.value}:{first.event_id}")


def _dismissal(state: PatientState, alert_id: str) -> AckResponse | None:
    """The nurse's "false positive" or "not clinically relevant" for ``alert_id``, if any."""
    for ack in state.acks:
        if ack.alert_id == alert_id and ack.response.not_a_reaction:
            return ack.response
    return None


def _ending(state: PatientState, key: str, opened: Alert, found: set[str]) -> str:
    """The title of a blind spot's end: why it ended."""
    title = opened.title
    if not key.startswith(INFERRED_R1):
        return f"Ended, feed back: {title}"
    dismissed = _dismissal(state, opened.alert_id)
    if dismissed is not None:
        return f"Ended, marked {dismissed.value.replace('_', ' ')} by the nurse: {title}"
    infusion_id = key.split(":")[1]
    facts = _facts_of(state, infusion_id)
    if not facts:
        reason = "infusion start arrived, and the rules found no R1 from it"
    elif any(f.status is PumpStatus.COMPLETED for f in facts):
        reason = "infusion completed"
    elif any(k.startswith(f"{INFERRED_R1}:{infusion_id}:") for k in found):
        reason = "new episode: pain after a further rate increase"
    else:
        reason = "pain resolved or the pump stopped"
    return f"Ended, {reason}: {title}"


def _running_and_quiet(
    state: PatientState, arrived_epoch_s: float | None, silent: timedelta, now: datetime | None
) -> InfusionState | None:
    """The running infusion, when nothing has *arrived* from the device for ``silent`` either:
    silent in event time only, the topics are read in their own order (a replay, a burst), so
    the device's events may simply not have been read yet."""
    infusion = state.infusion
    assert state.watermark is not None
    if infusion is None or not infusion.is_infusing_at(state.watermark):
        return None
    if now is None or arrived_epoch_s is None:
        return None
    if now.timestamp() - arrived_epoch_s < silent.total_seconds():
        return None
    return infusion


def _silence(
    state: PatientState,
    rule: str,
    infusion: InfusionState,
    last: datetime,
    wait: timedelta,
    what: tuple[str, str],
    advice: str,
) -> Iterator[BlindSpot]:
    """The technical alert for a device silent since ``last``, once it has been for ``wait``;
    ``what``: what is missing and what to check."""
    assert state.watermark is not None
    if state.watermark - last < wait:
        return
    minutes = round((state.watermark - last).total_seconds() / 60)
    yield BlindSpot(
        key=f"{rule}:{infusion.infusion_id}:{last.isoformat()}",
        rule=rule,
        infusion_id=infusion.infusion_id,
        since=last + wait,
        title=f"No {what[0]} for {minutes} min during the infusion: check the {what[1]}",
        advice=advice,
    )


def _vitals_silent(
    state: PatientState, silent: timedelta, now: datetime | None
) -> Iterator[BlindSpot]:
    infusion = _running_and_quiet(state, state.last_vitals_arrival_epoch_s, silent, now)
    if infusion is None:
        return
    during = [v.event_time for v in state.all_readings() if v.event_time >= infusion.started_at]
    if not during:
        return  # no monitor on this infusion: nothing went silent
    yield from _silence(
        state,
        VITALS_SILENT,
        infusion,
        max(during),
        silent,
        ("vital signs", "monitor"),
        "Check the monitor and its connection; abnormal vital signs (R2) cannot be seen.",
    )


def _reports_status(infusion: InfusionState) -> bool:
    """Whether the pump reports its status periodically (the same running rate again), not
    only its changes: only then can it fall silent (T3)."""
    reports = 0
    for earlier, later in pairwise(infusion.facts):
        if (
            earlier.status is later.status is PumpStatus.RUNNING
            and later.rate_ml_h == earlier.rate_ml_h
        ):
            reports += 1
            if reports >= STATUS_REPORTS_NEEDED:
                return True
    return False


def pump_may_fall_silent(state: PatientState) -> bool:
    """Whether time passing can raise T3 for this patient: an infusion whose pump reports its
    status periodically. A reading needs the technical checks for a quiet pump only then."""
    return state.infusion is not None and _reports_status(state.infusion)


def _pump_silent(
    state: PatientState, silent: timedelta, now: datetime | None
) -> Iterator[BlindSpot]:
    """T3: a pump that reports its status periodically (PCD-01 while infusing: the rate in
    force, again and again) has stopped reporting mid-infusion while the patient's other events
    go on, and nothing has arrived from it for as long."""
    infusion = _running_and_quiet(state, state.last_pump_arrival_epoch_s, silent, now)
    if infusion is None or not _reports_status(infusion):
        return  # a pump that reports only changes: its silence says nothing
    facts = infusion.facts
    pairs = list(pairwise(facts))
    gaps = sorted(later.event_time - earlier.event_time for earlier, later in pairs[-10:])
    yield from _silence(
        state,
        PUMP_SILENT,
        infusion,
        facts[-1].event_time,
        max(silent, SILENT_INTERVALS * gaps[len(gaps) // 2]),
        ("status from the pump", "pump"),
        "Check the pump and its connection to the gateway; rate changes, pauses and the "
        "infusion's end cannot be seen, so R1, R5 and R8 may be wrong or late.",
    )


def blind_spots(
    state: PatientState, rules: RulesConfig, now: datetime | None = None
) -> list[BlindSpot]:
    if state.watermark is None:
        return []
    technical = rules.technical
    waiting = (
        _waiting_infusions(state, timedelta(minutes=technical.missing_start_wait_min))
        if state.unmatched_pump_facts
        else {}
    )
    return [
        *_missing_starts(state, waiting),
        *_inferred_r1(state, waiting, rules),
        *_vitals_silent(state, timedelta(minutes=technical.vitals_silent_min), now),
        *_pump_silent(state, timedelta(minutes=technical.pump_silent_min), now),
    ]


def technical_alerts(state: PatientState, now: datetime, rules: RulesConfig) -> list[Alert]:
    """Start an alert for each new blind spot (and R1 on an inferred infusion) and end those
    that cleared; updates ``state.technical_alerts`` (key -> the open alert's JSON)."""
    found = {spot.key: spot for spot in blind_spots(state, rules, now)}
    alerts: list[Alert] = []
    for key in [k for k in state.technical_alerts if k not in found]:
        opened = Alert.model_validate_json(state.technical_alerts.pop(key))
        if _handed_over(state, key, opened):
            continue
        alerts.append(
            opened.model_copy(
                update={
                    "phase": AlertPhase.END,
                    "title": _ending(state, key, opened, set(found))[:200],
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
                shown = (opened.title, opened.evidence, opened.priority)
                if shown != (spot.title, spot.evidence, spot.priority):
                    updated = opened.model_copy(
                        update={
                            "phase": AlertPhase.UPDATE,
                            "title": spot.title,
                            "evidence": spot.evidence,
                            "priority": spot.priority,
                            "recommendations": spot.suggestions(),
                            "event_time": spot.as_of or opened.event_time,
                            "created_at": now,
                        }
                    )
                    state.technical_alerts[key] = updated.model_dump_json()
                    alerts.append(updated)
            continue
        alert = Alert(
            alert_id=spot.alert_id or alert_id_for(f"{state.patient_ref}|{key}"),
            phase=AlertPhase.START,
            patient_ref=state.patient_ref,
            infusion_id=spot.infusion_id,
            rule=spot.rule,
            priority=spot.priority,
            type=spot.type,
            title=spot.title,
            recommendations=spot.suggestions(),
            evidence=spot.evidence,
            ward=ward,
            event_time=spot.since,
            created_at=now,
            rules_version=rules.version,
        )
        state.technical_alerts[key] = alert.model_dump_json()
        alerts.append(alert)
    return alerts
