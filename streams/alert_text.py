"""Recommendation texts and alert ids shared by the rules (wording follows the guidance)."""

from __future__ import annotations

import uuid

from schemas.alerts import AlertPriority, Recommendation, RecommendationCode
from schemas.events import RiskFactor

_ALERT_ID_NAMESPACE = uuid.UUID("6f1c1f55-6c2f-4d0e-9a57-0f3f0d7c2b11")


def alert_id_for(episode_key: str) -> str:
    """Deterministic alert id: re-processing the same episode yields the same id."""
    return str(uuid.uuid5(_ALERT_ID_NAMESPACE, episode_key))


def pain_priority(pain_score: int) -> AlertPriority:
    """NRS bands (DOMAIN.md §1): 1-3 low, 4-6 medium, 7-10 high."""
    if pain_score >= 7:
        return AlertPriority.HIGH
    if pain_score >= 4:
        return AlertPriority.MEDIUM
    return AlertPriority.LOW


def slow_rate(target_rate_ml_h: float, current_rate_ml_h: float) -> Recommendation:
    half = round(current_rate_ml_h / 2, 1)
    alternative = f" (or by 50 %, to {half:g} mL/h)" if half != target_rate_ml_h else ""
    return Recommendation(
        code=RecommendationCode.SLOW_RATE,
        text=(
            f"Slow the infusion to the last tolerated rate, {target_rate_ml_h:g} mL/h{alternative}."
        ),
        params={"target_rate_ml_h": target_rate_ml_h, "half_rate_ml_h": half},
    )


def pause(reason: str) -> Recommendation:
    return Recommendation(
        code=RecommendationCode.PAUSE,
        text=f"Consider pausing the infusion {reason}; back pain usually settles 15-30 min after.",
    )


def hydrate() -> Recommendation:
    return Recommendation(
        code=RecommendationCode.HYDRATE,
        text="Check and ensure hydration (oral or IV fluids as prescribed).",
    )


def analgesic(risk_factors: tuple[RiskFactor, ...]) -> Recommendation:
    if RiskFactor.RENAL_DISEASE in risk_factors or RiskFactor.DEHYDRATION in risk_factors:
        return Recommendation(
            code=RecommendationCode.ANALGESIC,
            text="Offer acetaminophen (paracetamol); avoid NSAIDs because of renal risk.",
            params={"preferred": "acetaminophen", "avoid": "nsaid"},
        )
    return Recommendation(
        code=RecommendationCode.ANALGESIC,
        text="Offer an analgesic: acetaminophen (paracetamol) or an NSAID.",
        params={"preferred": "acetaminophen_or_nsaid"},
    )
