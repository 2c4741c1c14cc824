"""Turns what the clinical agent did with one message into metrics: infusions, rates, symptoms,
back pain by dose-rate band, alerts and their latency.

The agent hands each applied :class:`~streams.clinical.step.Step` to
:meth:`ClinicalObserver.observe`: the step carries the infusion's snapshots before and after it
(``streams/clinical/infusion_snapshot.py``), so the observer never reads ``PatientState``. Pure
except for the metrics it updates.
"""

from __future__ import annotations

from schemas.alerts import Alert, AlertPhase
from schemas.events import RateChanged, SymptomKind, SymptomReport
from streams.clinical.infusion_snapshot import InfusionSnapshot
from streams.clinical.state import ClinicalEventModel
from streams.clinical.step import Step
from streams.metrics.families import ClinicalMetrics
from streams.metrics.labels import (
    WardLabels,
    dose_rate_band,
    pain_band,
    rule_label,
)


class ClinicalObserver:
    """Updates :class:`ClinicalMetrics` from the clinical agent's steps."""

    def __init__(self, metrics: ClinicalMetrics, wards: WardLabels) -> None:
        self.metrics = metrics
        self.wards = wards

    def _active_key(self, snap: InfusionSnapshot) -> tuple[str, str, str] | None:
        if not snap.infusing:
            return None
        band = dose_rate_band(snap.dose_rate_mg_kg_min)
        return (snap.product, self.wards(snap.ward), band)

    def observe(self, step: Step) -> None:
        """Record one applied step: its event (when it observed one) and its alerts."""
        if step.observed is not None:
            self._observe_event(step, step.observed)
        for alert in step.alerts:
            self.observe_alert(alert)

    def _observe_event(self, step: Step, event: ClinicalEventModel) -> None:
        before, after = step.before, step.after
        # (A step that observed an event took both snapshots: only vitals_step takes none.)
        assert before is not None
        assert after is not None
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
                band = dose_rate_band(step.event_dose_rate_mg_kg_min)
                self.metrics.back_pain_reports.labels(band, ward).inc()

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
