"""Event shapes: what is accepted, and what is rejected with a readable reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.clinical_units import dose_rate_mg_kg_min, rate_ml_h_for_dose_rate
from schemas.events import (
    PUMP_EVENT_ADAPTER,
    InfusionContext,
    InfusionStarted,
    RiskFactor,
    SymptomReport,
    VitalSigns,
)
from schemas.ivig_products import PRODUCT_LABELS, Indication, IvigProduct
from schemas.json_schema_export import export_json_schemas

WHEN = "2026-03-02T09:00:00+00:00"
CONTEXT = {
    "product": "octagam-10", "concentration_mg_ml": 100, "weight_kg": 70, "age_years": 50,
    "dose_g_kg": 0.4,
}  # fmt: skip
BASE = {"event_id": "e1", "patient_ref": "pt-1", "event_time": WHEN, "infusion_id": "inf-1"}

PUMP_EVENTS = [
    pytest.param({**BASE, "kind": "infusion_started", "rate_ml_h": 42, "context": CONTEXT}, id="started"),
    pytest.param({**BASE, "kind": "rate_changed", "rate_ml_h": 84, "previous_rate_ml_h": 42}, id="rate-changed"),
    pytest.param({**BASE, "kind": "paused"}, id="paused"),
    pytest.param({**BASE, "kind": "resumed", "rate_ml_h": 84}, id="resumed"),
    pytest.param({**BASE, "kind": "stopped", "reason": "patient request"}, id="stopped"),
    pytest.param({**BASE, "kind": "completed", "volume_delivered_ml": 280}, id="completed"),
    pytest.param({**BASE, "kind": "pump_alarm", "alarm": "occlusion"}, id="pump-alarm"),
]  # fmt: skip


@pytest.mark.parametrize("body", PUMP_EVENTS)
def test_every_pump_event_kind_parses_and_round_trips(body: dict[str, Any]) -> None:
    event = PUMP_EVENT_ADAPTER.validate_json(json.dumps(body))
    assert event.kind == body["kind"]
    assert event.event_time.tzinfo is not None
    assert PUMP_EVENT_ADAPTER.validate_json(event.model_dump_json()) == event


REJECTED = [
    pytest.param({**BASE, "kind": "rate_changed", "rate_ml_h": 84, "event_time": "2026-03-02T09:00:00"}, "timezone", id="naive-time"),
    pytest.param({**BASE, "kind": "rate_changed", "rate_ml_h": -1}, "greater than or equal to 0", id="negative-rate"),
    pytest.param({**BASE, "kind": "rate_changed", "rate_ml_h": 5000}, "less than or equal to 1000", id="absurd-rate"),
    pytest.param({**BASE, "kind": "rate_changed", "rate_ml_h": "fast"}, "valid number", id="rate-not-a-number"),
    pytest.param({**BASE, "kind": "rate_changed", "rate_ml_h": 84, "colour": "red"}, "Extra inputs", id="unknown-field"),
    pytest.param({**BASE, "kind": "teleported"}, "does not match any of the expected tags", id="unknown-kind"),
    pytest.param({**BASE, "kind": "paused", "patient_ref": "John Smith"}, "pattern", id="name-as-patient-ref"),
    pytest.param({**BASE, "kind": "paused", "event_id": ""}, "at least 1", id="empty-event-id"),
    pytest.param({**BASE, "kind": "infusion_started", "rate_ml_h": 42, "context": {**CONTEXT, "weight_kg": 0}}, "weight_kg", id="zero-weight"),
    pytest.param({**BASE, "kind": "infusion_started", "rate_ml_h": 42, "context": {**CONTEXT, "product": "aspirin"}}, "product", id="unknown-product"),
    pytest.param({**BASE, "kind": "infusion_started", "rate_ml_h": 42, "context": {**CONTEXT, "risk_factors": ["bad_luck"]}}, "risk_factors", id="unknown-risk-factor"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "reason"), REJECTED)
def test_impossible_pump_events_are_rejected_with_a_reason(
    body: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        PUMP_EVENT_ADAPTER.validate_json(json.dumps(body))
    assert reason in str(caught.value)


def _symptom(**fields: Any) -> SymptomReport:
    return SymptomReport.model_validate(
        {"event_id": "s1", "patient_ref": "pt-1", "event_time": WHEN, **fields}
    )


@pytest.mark.parametrize("nrs", [-1, 11])
def test_pain_score_is_nrs_0_to_10(nrs: int) -> None:
    with pytest.raises(ValidationError, match="pain_score"):
        _symptom(symptom="back_pain", pain_score=nrs)


def test_back_pain_needs_a_score_but_chills_do_not() -> None:
    with pytest.raises(ValidationError, match="needs pain_score"):
        _symptom(symptom="back_pain")
    assert _symptom(symptom="chills").pain_score is None


def test_neurological_flags() -> None:
    report = _symptom(symptom="other", neurological={"numbness": True, "spreading": True})
    assert report.neurological.any
    assert not _symptom(symptom="chills").neurological.any


def _vitals(**fields: Any) -> VitalSigns:
    return VitalSigns.model_validate(
        {"event_id": "v1", "patient_ref": "pt-1", "event_time": WHEN, **fields}
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"heart_rate_bpm": {"value": 400}}, "heart_rate_bpm=400", id="hr-400"),
        pytest.param({"temperature_c": {"value": 50}}, "temperature_c=50", id="temp-50"),
        pytest.param({"spo2_percent": {"value": 101}}, "spo2_percent=101", id="spo2-101"),
        pytest.param({}, "at least one measurement", id="no-measurement"),
        pytest.param({"heart_rate_bpm": {"value": 80, "validity": "dubious"}}, "validity", id="bad-validity"),
    ],
)  # fmt: skip
def test_impossible_vitals_are_rejected(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _vitals(**fields)


def test_an_invalid_marked_measurement_may_be_out_of_range() -> None:
    vitals = _vitals(heart_rate_bpm={"value": 999, "validity": "invalid"})
    assert vitals.heart_rate_bpm is not None
    assert vitals.heart_rate_bpm.validity.value == "invalid"


def test_events_are_frozen() -> None:
    event = _symptom(symptom="chills")
    with pytest.raises(ValidationError, match="frozen"):
        event.symptom = "back_pain"  # type: ignore[assignment]


@pytest.mark.parametrize(("age", "added"), [(64, False), (65, True), (80, True)])
def test_age_65_plus_is_an_effective_risk_factor(age: int, added: bool) -> None:
    context = InfusionContext.model_validate({**CONTEXT, "age_years": age})
    assert (RiskFactor.AGE_65_PLUS in context.effective_risk_factors) is added


def test_context_dose_rate_for_a_10_percent_product() -> None:
    context = InfusionContext.model_validate(CONTEXT)
    assert context.dose_rate_mg_kg_min(168.0) == pytest.approx(4.0)


def test_started_event_keeps_its_context() -> None:
    event = InfusionStarted.model_validate({**BASE, "rate_ml_h": 42, "context": CONTEXT})
    assert event.context.product is IvigProduct.OCTAGAM_10
    assert event.event_time == datetime(2026, 3, 2, 9, tzinfo=UTC)


# Dose-rate arithmetic (DOMAIN.md §1-2)


def test_known_dose_rates() -> None:
    assert dose_rate_mg_kg_min(168.0, 100.0, 70.0) == pytest.approx(4.0)
    assert dose_rate_mg_kg_min(42.0, 100.0, 70.0) == pytest.approx(1.0)
    assert rate_ml_h_for_dose_rate(0.5, 50.0, 80.0) == pytest.approx(48.0)


@given(dose=st.floats(0.1, 14.0), weight=st.floats(2.0, 350.0))
def test_ten_percent_rule_ml_kg_h_is_0_6_times_mg_kg_min(dose: float, weight: float) -> None:
    rate_ml_h = rate_ml_h_for_dose_rate(dose, 100.0, weight)
    assert rate_ml_h / weight == pytest.approx(0.6 * dose)


@given(rate=st.floats(0.0, 1000.0), conc=st.floats(10.0, 200.0), weight=st.floats(2.0, 350.0))
def test_dose_rate_round_trips(rate: float, conc: float, weight: float) -> None:
    dose = dose_rate_mg_kg_min(rate, conc, weight)
    assert rate_ml_h_for_dose_rate(dose, conc, weight) == pytest.approx(rate, abs=1e-9)


@given(weight=st.floats(2.0, 350.0), low=st.floats(0.0, 500.0), extra=st.floats(0.1, 500.0))
def test_a_faster_pump_is_a_higher_dose_rate(weight: float, low: float, extra: float) -> None:
    assert dose_rate_mg_kg_min(low + extra, 100.0, weight) > dose_rate_mg_kg_min(low, 100.0, weight)


@pytest.mark.parametrize("weight", [0.0, -5.0])
def test_weight_must_be_positive(weight: float) -> None:
    with pytest.raises(ValueError, match="weight_kg"):
        dose_rate_mg_kg_min(100.0, 100.0, weight)


def test_product_labels_follow_domain_table() -> None:
    assert {p: label.max_mg_kg_min for p, label in PRODUCT_LABELS.items()} == {
        IvigProduct.PRIVIGEN: 8.0, IvigProduct.GAMMAGARD_LIQUID: 9.0, IvigProduct.GAMUNEX_C: 8.0,
        IvigProduct.OCTAGAM_10: 12.0, IvigProduct.PANZYGA: 14.0,
        IvigProduct.FLEBOGAMMA_DIF_5: 5.0, IvigProduct.FLEBOGAMMA_DIF_10: 8.0,
    }  # fmt: skip
    assert not any(label.contains_sucrose for label in PRODUCT_LABELS.values())
    assert PRODUCT_LABELS[IvigProduct.FLEBOGAMMA_DIF_5].concentration_mg_ml == 50.0


def test_the_indication_is_optional_and_left_out_of_the_json_while_unknown() -> None:
    old = InfusionContext.model_validate(CONTEXT)
    assert old.indication is None
    assert "indication" not in old.model_dump_json()
    known = InfusionContext.model_validate({**CONTEXT, "indication": "dermatomyositis"})
    assert known.indication is Indication.DERMATOMYOSITIS
    assert InfusionContext.model_validate_json(known.model_dump_json()) == known
    with pytest.raises(ValidationError, match="indication"):
        InfusionContext.model_validate({**CONTEXT, "indication": "wanderlust"})


def test_the_json_schema_export_carries_the_indication_and_the_progressive_flag(
    tmp_path: Path,
) -> None:
    export_json_schemas(tmp_path)
    for topic in ("pump.events.raw", "pump.events"):
        defs = json.loads((tmp_path / f"{topic}.schema.json").read_text())["$defs"]
        assert "indication" in defs["InfusionContext"]["properties"], topic
        assert "indication" not in defs["InfusionContext"].get("required", []), topic
        assert set(defs["Indication"]["enum"]) == {i.value for i in Indication}, topic
    for topic in ("symptoms.raw", "symptoms"):
        defs = json.loads((tmp_path / f"{topic}.schema.json").read_text())["$defs"]
        assert "progressive" in defs["NeurologicalSigns"]["properties"], topic
        assert "progressive" not in defs["NeurologicalSigns"].get("required", []), topic
