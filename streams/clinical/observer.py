"""Turns what the clinical agent did with one event into metrics: infusions, rates, symptoms,
back pain by dose-rate band, alerts and their latency.

The agent takes an :class:`InfusionSnapshot` of the patient's state before and after applying an
event and hands both, with the event and the alerts it raised, to :meth:`PipelineObserver.observe`.
Only the snapshot functions read ``PatientState``, so a change to the state's shape touches them
alone. Pure except for the metrics it updates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from schemas.alerts import Alert, AlertPhase
from schemas.events import PumpStatus, RateChanged, SymptomKind, SymptomReport
from streams.clinical.state import ClinicalEventModel, PatientState
from streams.metrics.families import PipelineMetrics
from streams.metrics.labels import (
    UNKNOWN_PRODUCT,
    WardLabels,
    dose_rate_band,
    pain_band,
    rule_label,
)


@dataclass(frozen=True, slots=True)
class InfusionSnapshot:
    """The metric-relevant facts of a patient's state at one moment (no identifiers)."""

    infusing: bool = False
    product: str = UNKNOWN_PRODUCT
    ward: str | None = None
    #: The running rate (None when paused, stopped or unknown).
    rate_ml_h: float | None = None
    dose_rate_mg_kg_min: float | None = None

    @classmethod
    def of(cls, state: PatientState) -> InfusionSnapshot:
        infusion = state.infusion
        if infusion is None or not infusion.facts:
            return cls()
        last = infusion.rate_history[-1]
        running = last.status is PumpStatus.RUNNING
        context = infusion.context
        return cls(
            infusing=last.status in {PumpStatus.RUNNING, PumpStatus.PAUSED},
            product=context.product.value,
            ward=context.ward,
            rate_ml_h=last.rate_ml_h if running else None,
            dose_rate_mg_kg_min=context.dose_rate_mg_kg_min(last.rate_ml_h) if running else None,
        )


def dose_rate_at(state: PatientState, when: datetime) -> float | None:
    """The dose rate running at event time ``when`` (None when nothing was running)."""
    infusion = state.infusion
    if infusion is None:
        return None
    point = infusion.point_at(when)
    if point is None or point.status is not PumpStatus.RUNNING:
        return None
    return infusion.context.dose_rate_mg_kg_min(point.rate_ml_h)


class PipelineObserver:
    """Updates :class:`PipelineMetrics` from the clinical agent's steps."""

    def __init__(self, metrics: PipelineMetrics, wards: WardLabels) -> None:
        self.metrics = metrics
        self.wards = wards

    def _active_key(self, snap: InfusionSnapshot) -> tuple[str, str, str] | None:
        if not snap.infusing:
            return None
        band = dose_rate_band(snap.dose_rate_mg_kg_min)
        return (snap.product, self.wards(snap.ward), band)

    def observe(
        self,
        event: ClinicalEventModel,
        before: InfusionSnapshot,
        after: InfusionSnapshot,
        state: PatientState,
        alerts: Iterable[Alert],
    ) -> None:
        """Record one applied event (``state`` is the state after it) and its alerts."""
        was, now = self._active_key(before), self._active_key(after)
        if was != now:
            if was is not None:
                self.metrics.active_infusions.labels(*was).dec()
            if now is not None:
                self.metrics.active_infusions.labels(*now).inc()
        ward = self.wards(after.ward)
        if isinstance(event, RateChanged):
            previous = (
                event.previous_rate_ml_h
                if event.previous_rate_ml_h is not None
                else before.rate_ml_h
            )
            self.metrics.rate_changes.labels(
                after.product, ward, _direction(previous, event.rate_ml_h)
            ).inc()
        elif isinstance(event, SymptomReport):
            self.metrics.symptom_reports.labels(
                event.symptom.value, pain_band(event.pain_score), ward
            ).inc()
            if event.symptom is SymptomKind.BACK_PAIN:
                band = dose_rate_band(dose_rate_at(state, event.event_time))
                self.metrics.back_pain_reports.labels(band, ward).inc()
        for alert in alerts:
            self.observe_alert(alert)

    def observe_alert(self, alert: Alert) -> None:
        rule = rule_label(alert.rule)
        self.metrics.alerts.labels(
            rule, alert.priority.value, alert.phase.value, self.wards(alert.ward)
        ).inc()
        if alert.phase is AlertPhase.START:
            # Event times ahead of this clock (a skewed device clock, an accelerated
            # simulation) count as 0 s rather than a negative latency.
            latency_s = max(0.0, (alert.created_at - alert.event_time).total_seconds())
            self.metrics.event_to_alert.labels(rule, alert.priority.value).observe(latency_s)


def _direction(previous: float | None, rate_ml_h: float) -> str:
    if previous is None:
        return "unknown"
    if rate_ml_h > previous:
        return "up"
    return "down" if rate_ml_h < previous else "same"
