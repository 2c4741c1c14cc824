"""R4 (DOMAIN.md §1): any alert for a patient with risk factors lists them; physiological alerts
and R8 (an advisory about the rate) rise one priority step, emphasise hydration and prefer
acetaminophen when renal risk is present. R6 and R7 keep their priority: they are advice for the
infusion's start, not a reaction."""

from __future__ import annotations

from schemas.alerts import AlertType, Recommendation, RecommendationCode, Rule
from schemas.events import InfusionContext, RiskFactor
from streams.clinical import recommendation_texts
from streams.clinical.evaluation import EvaluationContext
from streams.clinical.finding import Finding, raised
from streams.clinical.rules_file import RulesConfig


def risk_factors(context: InfusionContext, rules: RulesConfig) -> tuple[RiskFactor, ...]:
    """Declared risk factors, plus age >= 65 and a high prescribed dose, which need no declaring.
    (A rapid rate is R8's own subject, so it is not derived here.)"""
    factors = list(context.effective_risk_factors)
    if context.dose_g_kg >= rules.r4.high_dose_g_kg and RiskFactor.HIGH_DOSE not in factors:
        factors.append(RiskFactor.HIGH_DOSE)
    return tuple(factors)


def apply_r4(ctx: EvaluationContext, finding: Finding) -> Finding:
    """``finding`` as R4 adjusts it for the infusion's risk factors (unchanged without any): its
    priority and modifiers. Its recommendations are adjusted when its alert is built
    (:func:`r4_recommendations`): most findings of an evaluation are already published and
    unchanged, and need none."""
    risk = ctx.risk
    if not risk or (finding.type is AlertType.ADVISORY and finding.rule is not Rule.R8):
        return finding
    return finding.with_changes(
        priority=raised(finding.priority, ctx.rules.r4.priority_steps),
        modifiers=(*finding.modifiers, Rule.R4),
    )


def r4_recommendations(
    risk: tuple[RiskFactor, ...], finding: Finding
) -> tuple[Recommendation, ...]:
    """The recommendations of a finding R4 adjusted: hydration emphasised (added when missing),
    the analgesic chosen for the risk factors (acetaminophen, avoiding NSAIDs, with renal risk)."""
    if Rule.R4 not in finding.modifiers:
        return finding.recommendations
    recommendations = []
    for rec in finding.recommendations:
        if rec.code is RecommendationCode.HYDRATE:
            rec = recommendation_texts.hydrate_emphasised(risk)
        elif rec.code is RecommendationCode.ANALGESIC:
            rec = recommendation_texts.analgesic(risk)
        recommendations.append(rec)
    if not any(r.code is RecommendationCode.HYDRATE for r in recommendations):
        recommendations.append(recommendation_texts.hydrate_emphasised(risk))
    return tuple(recommendations)
