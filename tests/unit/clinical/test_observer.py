"""Metric bands and the observer's bookkeeping, on in-process state (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from schemas.alerts import Alert, AlertPhase, AlertPriority, AlertType, Evidence
from schemas.events import SymptomKind
from streams.clinical.observer import ClinicalObserver
from streams.clinical.state import ClinicalEventModel, PatientState
from streams.clinical.step import clinical_step
from streams.metrics.families import ClinicalMetrics, WorkerMetrics
from streams.metrics.labels import (
    DOSE_RATE_BANDS,
    WardLabels,
    allowed_label_values,
    dose_rate_band,
    pain_band,
    rule_label,
)
from tests.support.clinical_scenarios import NOW, RULES
from tests.support.events import Patient


@pytest.mark.parametrize(
    ("dose", "band"),
    [
        pytest.param(None, "not_running", id="nothing-running"),
        pytest.param(0.0, "not_running", id="zero-rate"),
        pytest.param(0.5, "0-1", id="start-rate"),
        pytest.param(1.0, "1-2", id="lower-bound-inclusive"),
        pytest.param(3.99, "2-4", id="just-below-4"),
        pytest.param(4.0, "4-6", id="four"),
        pytest.param(8.0, "8+", id="label-max"),
    ],
)
def test_dose_rate_band(dose: float | None, band: str) -> None:
    assert dose_rate_band(dose) == band


@pytest.mark.parametrize(
    ("score", "band"),
    [(None, "unscored"), (0, "none"), (1, "mild"), (3, "mild"), (4, "moderate"), (7, "severe")],
)
def test_pain_band(score: int | None, band: str) -> None:
    assert pain_band(score) == band


@given(st.floats(min_value=0, max_value=1000, allow_nan=False))
def test_every_dose_rate_has_an_allowed_band(dose: float) -> None:
    assert dose_rate_band(dose) in allowed_label_values(WardLabels())["band"]
    assert dose_rate_band(dose) in {b for b, _ in DOSE_RATE_BANDS} | {"not_running"}


@given(st.text(max_size=40))
def test_ward_and_rule_labels_never_pass_unknown_text_through(text: str) -> None:
    wards = WardLabels(["infusion-centre", "day-unit"])
    allowed = allowed_label_values(wards)
    assert wards(text) in allowed["ward"]
    assert rule_label(text) in allowed["rule"]


def _metrics() -> tuple[ClinicalMetrics, ClinicalObserver, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry).clinical
    return metrics, ClinicalObserver(metrics, metrics.wards), registry


def _apply(observer: ClinicalObserver, state: PatientState, event: ClinicalEventModel) -> None:
    step = clinical_step(state, event, RULES, NOW)
    assert step.applied
    observer.observe(step)


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_an_infusion_moves_between_bands_and_leaves_the_gauge_when_it_completes() -> None:
    _, observer, registry = _metrics()
    p = Patient("pt-x")
    state = PatientState(patient_ref=p.ref)
    octagam = {"product": "octagam-10", "ward": "infusion-centre"}

    _apply(observer, state, p.start(0, 42.0))  # 1 mg/kg/min in 70 kg at 10 %
    assert _sample(registry, "pumpstream_active_infusions", **octagam, band="1-2") == 1

    _apply(observer, state, p.rate(30, 168.0))  # 4 mg/kg/min
    assert _sample(registry, "pumpstream_active_infusions", **octagam, band="1-2") == 0
    assert _sample(registry, "pumpstream_active_infusions", **octagam, band="4-6") == 1
    assert _sample(registry, "pumpstream_rate_changes_total", **octagam, direction="up") == 1

    _apply(observer, state, p.pain(40, 7))
    assert _sample(registry, "pumpstream_back_pain_reports_total", band="4-6", ward="infusion-centre") == 1  # fmt: skip
    assert (
        _sample(
            registry,
            "pumpstream_symptom_reports_total",
            symptom="back_pain",
            band="severe",
            ward="infusion-centre",
        )
        == 1
    )

    _apply(observer, state, p.pause(50))
    assert _sample(registry, "pumpstream_active_infusions", **octagam, band="not_running") == 1

    _apply(observer, state, p.done(90))
    total = sum(
        _sample(registry, "pumpstream_active_infusions", **octagam, band=band)
        for band in allowed_label_values(WardLabels())["band"]
    )
    assert total == 0


def test_back_pain_band_is_the_rate_running_at_the_reports_event_time() -> None:
    """A report that arrives after a later rate step is banded by the rate at its own time."""
    _, observer, registry = _metrics()
    p = Patient("pt-y")
    state = PatientState(patient_ref=p.ref)
    _apply(observer, state, p.start(0, 42.0))
    _apply(observer, state, p.rate(60, 168.0))
    _apply(observer, state, p.pain(20, 4))  # late report, at 1 mg/kg/min
    assert _sample(registry, "pumpstream_back_pain_reports_total", band="1-2", ward="infusion-centre") == 1  # fmt: skip


def test_other_symptoms_count_without_a_back_pain_band() -> None:
    _, observer, registry = _metrics()
    p = Patient("pt-z")
    state = PatientState(patient_ref=p.ref)
    _apply(observer, state, p.symptom(0, SymptomKind.CHILLS))
    assert _sample(registry, "pumpstream_symptom_reports_total", symptom="chills", band="unscored", ward="other") == 1  # fmt: skip
    assert _sample(registry, "pumpstream_back_pain_reports_total", band="not_running", ward="other") == 0  # fmt: skip


def _alert(phase: AlertPhase, event_time: datetime, created_at: datetime) -> Alert:
    return Alert(
        alert_id="a1", phase=phase, patient_ref="pt-a", infusion_id="inf-a", rule="R1",
        priority=AlertPriority.MEDIUM, type=AlertType.PHYSIOLOGICAL, title="t",
        recommendations=(), evidence=Evidence(), event_time=event_time, created_at=created_at,
    )  # fmt: skip


def test_alert_latency_is_observed_once_per_episode_and_never_negative() -> None:
    _, observer, registry = _metrics()
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    observer.observe_alert(_alert(AlertPhase.START, now - timedelta(seconds=2), now))
    observer.observe_alert(_alert(AlertPhase.UPDATE, now - timedelta(seconds=90), now))
    observer.observe_alert(_alert(AlertPhase.START, now + timedelta(minutes=5), now))
    labels = {"rule": "R1", "priority": "medium"}
    assert _sample(registry, "pumpstream_event_to_alert_seconds_count", **labels) == 2
    assert _sample(registry, "pumpstream_event_to_alert_seconds_sum", **labels) == 2.0
    assert _sample(registry, "pumpstream_alerts_total", **labels, phase="update", ward="infusion-centre") == 1  # fmt: skip


def test_metrics_wards_setting_is_a_list_of_ward_names() -> None:
    from streams.exceptions import SettingsError
    from streams.settings import load_settings

    assert load_settings(metrics_wards=" infusion-centre, day-unit ,").metrics_ward_names == (
        "infusion-centre",
        "day-unit",
    )
    with pytest.raises(SettingsError, match="PUMPSTREAM_METRICS_WARDS"):
        load_settings(metrics_wards="Ward 7 (Smith)")
