"""Recommendation texts and alert ids shared by the rules (wording follows the guidance)."""

from __future__ import annotations

import uuid

from schemas.alerts import Recommendation, RecommendationCode
from schemas.events import RiskFactor

_ALERT_ID_NAMESPACE = uuid.UUID("6f1c1f55-6c2f-4d0e-9a57-0f3f0d7c2b11")


def alert_id_for(episode_key: str) -> str:
    """Deterministic alert id: re-processing the same episode yields the same id."""
    return str(uuid.uuid5(_ALERT_ID_NAMESPACE, episode_key))


def slow_rate(
    target_rate_ml_h: float, current_rate_ml_h: float, slow_fraction: float = 0.5
) -> Recommendation:
    """Guidance: "slow or temporarily discontinue the infusion when back pain develops"."""
    reduced = round(current_rate_ml_h * (1 - slow_fraction), 1)
    percent = round(slow_fraction * 100)
    alternative = (
        f" (or by {percent} %, to {reduced:g} mL/h)" if reduced != target_rate_ml_h else ""
    )
    return Recommendation(
        code=RecommendationCode.SLOW_RATE,
        text=(
            f"Slow the infusion to the last tolerated rate, {target_rate_ml_h:g} mL/h{alternative}."
        ),
        params={"target_rate_ml_h": target_rate_ml_h, "reduced_rate_ml_h": reduced},
    )


def slow_to_limit(limit_mg_kg_min: float, limit_rate_ml_h: float) -> Recommendation:
    return Recommendation(
        code=RecommendationCode.SLOW_RATE,
        text=(
            f"Slow the infusion to within limits: at most {limit_rate_ml_h:g} mL/h "
            f"({limit_mg_kg_min:g} mg/kg/min)."
        ),
        params={"target_rate_ml_h": limit_rate_ml_h, "limit_mg_kg_min": limit_mg_kg_min},
    )


def pause(reason: str) -> Recommendation:
    return Recommendation(
        code=RecommendationCode.PAUSE,
        text=f"Consider pausing the infusion {reason}; back pain usually settles 15-30 min after.",
    )


def pause_for_neurological_signs() -> Recommendation:
    """R3's own rationale: progression is what matters, not back pain settling (guidance l. 25,
    33: monitor for progression; weakness or spreading numbness needs clinician review)."""
    return Recommendation(
        code=RecommendationCode.PAUSE,
        text=(
            "Pause the infusion now: neurological symptoms; keep it paused until a clinician "
            "has reviewed whether they are progressing."
        ),
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


def hydrate_emphasised(risk_factors: tuple[RiskFactor, ...]) -> Recommendation:
    """R4: hydration matters more with risk factors (guidance: "especially in high-risk")."""
    listed = ", ".join(f.value.replace("_", " ") for f in risk_factors)
    return Recommendation(
        code=RecommendationCode.HYDRATE,
        text=f"Ensure good hydration now: risk factors present ({listed}).",
        params={"emphasised": True},
    )


def notify_prescriber(reason: str) -> Recommendation:
    return Recommendation(
        code=RecommendationCode.NOTIFY_PRESCRIBER,
        text=f"Notify the prescriber: {reason}.",
    )


def neurology_consult(meningism: bool) -> Recommendation:
    serious = (
        "neck stiffness with severe headache suggests aseptic meningitis"
        if meningism
        else "consider serious complications such as Guillain-Barre syndrome"
    )
    return Recommendation(
        code=RecommendationCode.NEUROLOGY_CONSULT,
        text=f"Clinician review and neurology consultation: {serious}.",
        params={"suspected": "aseptic_meningitis" if meningism else "guillain_barre"},
    )


def second_line_pain(neuropathic: bool) -> Recommendation:
    text = (
        "Second-line options for the clinician: trigger-point injection with lidocaine, "
        "or dry needling of trigger points"
    )
    if neuropathic:
        text += (
            "; if pain outlasts the infusion with neuropathic features: gabapentin, pregabalin "
            "or duloxetine"
        )
    return Recommendation(
        code=RecommendationCode.SECOND_LINE_PAIN,
        text=text + ".",
        params={"neuropathic": neuropathic},
    )


def assess_renal(reason: str) -> Recommendation:
    return Recommendation(
        code=RecommendationCode.ASSESS_RENAL,
        text=f"Assess renal function (creatinine, BUN): {reason}.",
    )


def premedicate() -> Recommendation:
    return Recommendation(
        code=RecommendationCode.PREMEDICATE,
        text="Consider premedication with an analgesic before this infusion.",
    )


def cap_rate(cap_mg_kg_min: float, cap_rate_ml_h: float, onset_mg_kg_min: float) -> Recommendation:
    return Recommendation(
        code=RecommendationCode.CAP_RATE,
        text=(
            f"Start slower and cap at {cap_mg_kg_min:g} mg/kg/min ({cap_rate_ml_h:g} mL/h), below "
            f"the {onset_mg_kg_min:g} mg/kg/min at which the reaction began."
        ),
        params={"cap_mg_kg_min": cap_mg_kg_min, "cap_rate_ml_h": cap_rate_ml_h},
    )


def lower_concentration() -> Recommendation:
    return Recommendation(
        code=RecommendationCode.LOWER_CONCENTRATION,
        text="Consider a lower-concentration product: back pain may be concentration-dependent.",
    )
