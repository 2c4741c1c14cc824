"""What the metrics need to know of a patient's infusion, read from the state at one moment by
:func:`streams.clinical.step.clinical_step` (before and after each event), so the observer never
reads ``PatientState`` and a change to the state's shape touches this module alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.events import PumpStatus
from streams.clinical.infusion_state import INFUSING
from streams.clinical.state import PatientState
from streams.metrics.labels import UNKNOWN_PRODUCT


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
            infusing=last.status in INFUSING,
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
