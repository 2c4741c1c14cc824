"""Unit arithmetic the rules and the simulator share (DOMAIN.md §1-2)."""

from __future__ import annotations


def dose_rate_mg_kg_min(rate_ml_h: float, concentration_mg_ml: float, weight_kg: float) -> float:
    """Dose rate in mg/kg/min = rate (mL/h) x concentration (mg/mL) / weight (kg) / 60."""
    if weight_kg <= 0:
        raise ValueError(f"weight_kg must be positive, got {weight_kg}")
    return rate_ml_h * concentration_mg_ml / weight_kg / 60.0


def rate_ml_h_for_dose_rate(
    dose_rate_mg_kg_min: float, concentration_mg_ml: float, weight_kg: float
) -> float:
    """Pump rate in mL/h that delivers ``dose_rate_mg_kg_min`` (the inverse of the above)."""
    if concentration_mg_ml <= 0:
        raise ValueError(f"concentration_mg_ml must be positive, got {concentration_mg_ml}")
    return dose_rate_mg_kg_min * weight_kg * 60.0 / concentration_mg_ml
