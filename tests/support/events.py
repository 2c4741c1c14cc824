"""Builders of clinical events for broker tests: one Octagam 10 % infusion in a 70 kg patient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import (
    InfusionContext,
    InfusionStarted,
    RateChanged,
    SymptomKind,
    SymptomReport,
)
from schemas.ivig_products import IvigProduct

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONTEXT = InfusionContext(
    product=IvigProduct.OCTAGAM_10,
    concentration_mg_ml=100,
    weight_kg=70,
    age_years=50,
    dose_g_kg=0.4,
)


def started(patient: str, minute: float = 0, rate_ml_h: float = 42.0) -> InfusionStarted:
    return InfusionStarted(
        event_id=f"{patient}-start",
        patient_ref=patient,
        event_time=T0 + timedelta(minutes=minute),
        infusion_id=f"inf-{patient}",
        rate_ml_h=rate_ml_h,
        context=CONTEXT,
    )


def rate_changed(patient: str, minute: float, rate_ml_h: float) -> RateChanged:
    return RateChanged(
        event_id=f"{patient}-rate-{minute:g}",
        patient_ref=patient,
        event_time=T0 + timedelta(minutes=minute),
        infusion_id=f"inf-{patient}",
        rate_ml_h=rate_ml_h,
    )


def back_pain(patient: str, minute: float, nrs: int) -> SymptomReport:
    return SymptomReport(
        event_id=f"{patient}-pain-{minute:g}",
        patient_ref=patient,
        event_time=T0 + timedelta(minutes=minute),
        symptom=SymptomKind.BACK_PAIN,
        pain_score=nrs,
    )
