"""Correlation rules over a patient's state (pure functions, no Faust, no I/O).

R1 (DOMAIN.md §1): back pain reported during an infusion within the look-back window
after a rate increase -> suggest slowing or pausing, hydration and an analgesic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.alerts import (
    Alert,
    AlertPhase,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    VitalsEvidence,
)
from schemas.events import SymptomKind, SymptomReport, Validity, VitalSigns
from streams import alert_text
from streams.infusion_state import Episode, InfusionState, PatientState, RateStep


@dataclass(frozen=True, slots=True)
class RuleSettings:
    lookback_window_s: int = 3600


def _vitals_evidence(vitals: VitalSigns | None) -> VitalsEvidence | None:
    if vitals is None:
        return None

    def value(name: str) -> float | None:
        m = getattr(vitals, name)
        return m.value if m is not None and m.validity is Validity.VALID else None

    return VitalsEvidence(
        heart_rate_bpm=value("heart_rate_bpm"),
        systolic_mmhg=value("systolic_mmhg"),
        temperature_c=value("temperature_c"),
        spo2_percent=value("spo2_percent"),
    )


def latest_increase_before(
    infusion: InfusionState, when: datetime, window: timedelta
) -> RateStep | None:
    """The most recent rate increase at or before ``when`` and no older than ``window``."""
    candidates = [s for s in infusion.rate_increases() if when - window <= s.event_time <= when]
    return candidates[-1] if candidates else None


def _r1_alert(
    state: PatientState,
    infusion: InfusionState,
    report: SymptomReport,
    step: RateStep,
    now: datetime,
) -> Alert:
    assert report.pain_score is not None
    context = infusion.context
    risk = context.effective_risk_factors
    priority = alert_text.pain_priority(report.pain_score)
    dose_rate = round(context.dose_rate_mg_kg_min(step.rate_after_ml_h), 2)
    minutes = round((report.event_time - step.event_time).total_seconds() / 60, 1)
    slow = alert_text.slow_rate(step.rate_before_ml_h, step.rate_after_ml_h)
    recommendations: list[Recommendation]
    if priority is AlertPriority.HIGH:
        recommendations = [alert_text.pause("now: severe pain"), slow]
    else:
        recommendations = [slow, alert_text.pause("if pain does not ease")]
    recommendations += [alert_text.hydrate(), alert_text.analgesic(risk)]
    return Alert(
        alert_id=alert_text.alert_id_for(f"{infusion.infusion_id}:R1:{report.event_id}"),
        phase=AlertPhase.START,
        patient_ref=state.patient_ref,
        infusion_id=infusion.infusion_id,
        rule="R1",
        priority=priority,
        type=AlertType.PHYSIOLOGICAL,
        title=(
            f"Back pain {report.pain_score}/10, {minutes:g} min after rate increase "
            f"to {dose_rate:g} mg/kg/min"
        ),
        recommendations=tuple(recommendations),
        evidence=Evidence(
            pain_score=report.pain_score,
            symptom_event_id=report.event_id,
            rate_before_ml_h=step.rate_before_ml_h,
            rate_after_ml_h=step.rate_after_ml_h,
            dose_rate_mg_kg_min=dose_rate,
            minutes_since_rate_change=minutes,
            rate_change_event_id=step.event_id,
            vitals=_vitals_evidence(state.latest_vitals),
        ),
        risk_factors=risk,
        ward=context.ward,
        event_time=report.event_time,
        created_at=now,
    )


_PRIORITY_RANK = {AlertPriority.LOW: 0, AlertPriority.MEDIUM: 1, AlertPriority.HIGH: 2}


def _r1_candidates(
    state: PatientState, infusion: InfusionState, window: timedelta
) -> list[tuple[SymptomReport, RateStep]]:
    """Back-pain reports during the infusion, each with the rate increase it follows."""
    pairs = []
    for report in state.recent_symptoms:
        if report.symptom is not SymptomKind.BACK_PAIN or not report.pain_score:
            continue
        if report.infusion_id not in (None, infusion.infusion_id):
            continue
        if not infusion.is_infusing_at(report.event_time):
            continue
        step = latest_increase_before(infusion, report.event_time, window)
        if step is not None:
            pairs.append((report, step))
    return pairs


def evaluate_r1(state: PatientState, settings: RuleSettings, now: datetime) -> list[Alert]:
    """R1 alerts that ``state`` now calls for; records the episode in ``state``.

    Evaluated over every kept back-pain report, so events may arrive in any order:
    - the first correlated report opens an episode (phase start);
    - a rate increase that arrives late but precedes the opening report in event time corrects
      that episode's evidence (phase update, same alert id);
    - a later report in the episode with a higher priority band updates it;
    - pain after a rate increase made after the episode's onset opens a new episode.
    Re-evaluating an unchanged state yields nothing, so re-delivery never re-alerts.
    """
    infusion = state.infusion
    if infusion is None:
        return []
    window = timedelta(seconds=settings.lookback_window_s)
    alerts: list[Alert] = []
    for report, step in _r1_candidates(state, infusion, window):
        episode = state.episodes.get("R1")
        if episode is None or step.event_time > episode.onset_time:
            alert = _r1_alert(state, infusion, report, step, now)
            state.episodes["R1"] = Episode(
                alert_id=alert.alert_id,
                rule="R1",
                onset_time=report.event_time,
                report_event_id=report.event_id,
                step_key=step.key,
                priority=alert.priority,
            )
            alerts.append(alert)
            continue
        corrected = report.event_id == episode.report_event_id and step.key != episode.step_key
        worse = (
            report.event_time > episode.onset_time
            and _PRIORITY_RANK[alert_text.pain_priority(report.pain_score or 0)]
            > _PRIORITY_RANK[episode.priority]
        )
        if corrected or worse:
            update = _r1_alert(state, infusion, report, step, now).model_copy(
                update={"alert_id": episode.alert_id, "phase": AlertPhase.UPDATE}
            )
            state.episodes["R1"] = episode.model_copy(
                update={"step_key": step.key, "priority": update.priority}
            )
            alerts.append(update)
    return alerts
