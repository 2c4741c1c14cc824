"""IVIG product catalogue (label figures from DOMAIN.md §2; 10 % = 100 mg/mL).

The pipeline reads it for label maxima (R8) and the sucrose flag (R6); the
simulator reads it for start rates and titration.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IvigProduct(StrEnum):
    PRIVIGEN = "privigen"
    GAMMAGARD_LIQUID = "gammagard-liquid"
    GAMUNEX_C = "gamunex-c"
    OCTAGAM_10 = "octagam-10"
    PANZYGA = "panzyga"
    FLEBOGAMMA_DIF_5 = "flebogamma-dif-5"
    FLEBOGAMMA_DIF_10 = "flebogamma-dif-10"


@dataclass(frozen=True, slots=True)
class ProductLabel:
    """What a product's label says about concentration and rates."""

    name: str
    concentration_mg_ml: float
    start_mg_kg_min: float
    #: Minutes at each step before the next titration step (label schedule).
    titration_interval_min: int
    #: Highest label maximum over all indications; indication-specific maxima are lower.
    max_mg_kg_min: float
    contains_sucrose: bool = False


PRODUCT_LABELS: dict[IvigProduct, ProductLabel] = {
    IvigProduct.PRIVIGEN: ProductLabel("Privigen", 100.0, 0.5, 30, 8.0),
    IvigProduct.GAMMAGARD_LIQUID: ProductLabel("Gammagard Liquid", 100.0, 0.8, 30, 9.0),
    IvigProduct.GAMUNEX_C: ProductLabel("Gamunex-C", 100.0, 1.0, 30, 8.0),
    IvigProduct.OCTAGAM_10: ProductLabel("Octagam 10%", 100.0, 1.0, 30, 12.0),
    IvigProduct.PANZYGA: ProductLabel("Panzyga", 100.0, 1.0, 30, 14.0),
    IvigProduct.FLEBOGAMMA_DIF_5: ProductLabel("Flebogamma 5% DIF", 50.0, 0.5, 30, 5.0),
    IvigProduct.FLEBOGAMMA_DIF_10: ProductLabel("Flebogamma 10% DIF", 100.0, 1.0, 30, 8.0),
}
