"""The patients of a simulated day, drawn from the scenario's distributions.

Only pseudonymous references (``pt-0001``): no names, MRNs or dates of birth (DOMAIN.md §5).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from schemas.events import RiskFactor
from schemas.ivig_products import (
    PRODUCT_LABELS,
    TITRATION_PROTOCOLS,
    Indication,
    IvigProduct,
)
from simulators.scenario import CohortSpec


@dataclass(frozen=True, slots=True)
class PatientProfile:
    patient_ref: str
    weight_kg: float
    age_years: int
    sex: Literal["female", "male"]
    indication: Indication
    product: IvigProduct
    #: The label indication whose maximum applies (the indication itself when the label names
    #: it; otherwise the product's first labelled indication, as for off-label GBS).
    label_indication: Indication
    dose_g_kg: float
    #: Declared risk factors (age >= 65 is derived by the pipeline from the age).
    risk_factors: tuple[RiskFactor, ...]
    first_infusion: bool
    prior_reactions: int
    chronic_back_pain: bool

    @property
    def concentration_mg_ml(self) -> float:
        return PRODUCT_LABELS[self.product].concentration_mg_ml

    @property
    def has_risk_factors(self) -> bool:
        return bool(self.risk_factors) or self.age_years >= 65

    @property
    def volume_ml(self) -> float:
        """Bag volume for the dose: g/kg x kg x 1000 mg/g / (mg/mL)."""
        return self.dose_g_kg * self.weight_kg * 1000.0 / self.concentration_mg_ml


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(name for name, w in weights.items() if w > 0)
    if not names:
        raise ValueError("no choice has a positive weight")
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def draw_patient(spec: CohortSpec, rng: random.Random, patient_ref: str) -> PatientProfile:
    """One patient; every draw comes from ``rng`` in a fixed order (determinism)."""
    weight = min(
        spec.weight_kg_max,
        max(spec.weight_kg_min, rng.gauss(spec.weight_kg_mean, spec.weight_kg_sd)),
    )
    age = int(min(95, max(18, round(rng.gauss(spec.age_years_mean, spec.age_years_sd)))))
    sex: Literal["female", "male"] = "female" if rng.random() < spec.female_fraction else "male"
    indication = Indication(_weighted(rng, {i.value: w for i, w in spec.indications.items()}))
    labelled = {
        p.value: w
        for p, w in spec.products.items()
        if indication in TITRATION_PROTOCOLS[p].indications
    }
    if not any(w > 0 for w in labelled.values()):  # off-label (GBS): any product
        labelled = {p.value: w for p, w in spec.products.items()}
    product = IvigProduct(_weighted(rng, labelled))
    protocol = TITRATION_PROTOCOLS[product]
    label_indication = indication if indication in protocol.indications else protocol.indications[0]
    dose_range = spec.dose_g_kg[indication]
    dose = round(rng.uniform(dose_range.low, dose_range.high), 2)
    risks = [factor for factor, p in sorted(spec.risk_factors.items()) if rng.random() < p]
    if dose > spec.high_dose_g_kg:
        risks.append(RiskFactor.HIGH_DOSE)
    first = rng.random() < spec.first_infusion_fraction
    prior = 0 if first else (1 if rng.random() < spec.prior_reaction_fraction else 0)
    chronic = rng.random() < spec.chronic_back_pain_fraction
    return PatientProfile(
        patient_ref=patient_ref,
        weight_kg=round(weight, 1),
        age_years=age,
        sex=sex,
        indication=indication,
        product=product,
        label_indication=label_indication,
        dose_g_kg=dose,
        risk_factors=tuple(risks),
        first_infusion=first,
        prior_reactions=prior,
        chronic_back_pain=chronic,
    )
