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


class Indication(StrEnum):
    """Indications the label figures of DOMAIN.md §2 name."""

    PI = "pi"  # primary (humoral) immunodeficiency
    ITP = "itp"  # chronic immune thrombocytopenia
    CIDP = "cidp"  # chronic inflammatory demyelinating polyneuropathy
    MMN = "mmn"  # multifocal motor neuropathy
    DERMATOMYOSITIS = "dermatomyositis"
    GBS = "gbs"  # Guillain-Barre syndrome (off-label for most products, 0.4 g/kg/day x 5)


#: How alert texts name an indication.
INDICATION_NAMES: dict[Indication, str] = {
    Indication.PI: "primary immunodeficiency",
    Indication.ITP: "chronic ITP",
    Indication.CIDP: "CIDP",
    Indication.MMN: "MMN",
    Indication.DERMATOMYOSITIS: "dermatomyositis",
    Indication.GBS: "Guillain-Barre syndrome",
}


@dataclass(frozen=True, slots=True)
class TitrationProtocol:
    """How a label says to run a product: start rate, titration steps, maxima per indication.

    Rates are dose rates in mg/kg/min; the pump rate in mL/h follows from the concentration and
    the patient's weight (``schemas.clinical_units``).
    """

    product: IvigProduct
    #: Successive dose rates of the label's titration, starting rate first.
    steps_mg_kg_min: tuple[float, ...]
    #: Minutes at each step before the next one (the label's range, e.g. 15-30 for Panzyga).
    interval_min_range: tuple[int, int]
    #: Label maximum per indication.
    max_by_indication: tuple[tuple[Indication, float], ...]
    #: Start rates that differ from the first step for an indication (Gamunex-C CIDP: 2).
    start_by_indication: tuple[tuple[Indication, float], ...] = ()

    @property
    def indications(self) -> tuple[Indication, ...]:
        return tuple(ind for ind, _ in self.max_by_indication)

    def max_mg_kg_min(self, indication: Indication) -> float:
        """The label maximum for ``indication`` (KeyError when the label does not name it)."""
        for ind, value in self.max_by_indication:
            if ind is indication:
                return value
        raise KeyError(f"{self.product.value} has no label maximum for {indication.value}")

    def start_mg_kg_min(self, indication: Indication) -> float:
        for ind, value in self.start_by_indication:
            if ind is indication:
                return value
        return self.steps_mg_kg_min[0]

    def schedule_mg_kg_min(
        self, indication: Indication, cap_mg_kg_min: float | None = None
    ) -> tuple[float, ...]:
        """The titration for ``indication``: from its start rate up the label's steps to the
        label maximum (or ``cap_mg_kg_min`` when lower), ending exactly at that ceiling."""
        ceiling = self.max_mg_kg_min(indication)
        if cap_mg_kg_min is not None:
            ceiling = min(ceiling, cap_mg_kg_min)
        start = min(self.start_mg_kg_min(indication), ceiling)
        steps = [start, *(s for s in self.steps_mg_kg_min if start < s < ceiling)]
        if steps[-1] < ceiling:
            steps.append(ceiling)
        return tuple(steps)


_PI, _ITP, _CIDP = Indication.PI, Indication.ITP, Indication.CIDP

#: Label titration per product (DOMAIN.md §2). "As tolerated" / "gradually" labels are given
#: the doubling steps the others state; intervals are the label's (30 min, Panzyga 15-30).
TITRATION_PROTOCOLS: dict[IvigProduct, TitrationProtocol] = {
    IvigProduct.PRIVIGEN: TitrationProtocol(
        IvigProduct.PRIVIGEN, (0.5, 1.0, 2.0, 4.0, 8.0), (30, 30),
        ((_PI, 8.0), (_CIDP, 8.0), (_ITP, 4.0)),
    ),
    IvigProduct.GAMMAGARD_LIQUID: TitrationProtocol(
        IvigProduct.GAMMAGARD_LIQUID, (0.8, 1.6, 3.2, 6.4, 8.0, 9.0), (30, 30),
        ((_PI, 8.0), (Indication.MMN, 9.0)),
    ),
    IvigProduct.GAMUNEX_C: TitrationProtocol(
        IvigProduct.GAMUNEX_C, (1.0, 2.0, 4.0, 8.0), (30, 30),
        ((_PI, 8.0), (_ITP, 8.0), (_CIDP, 8.0)), start_by_indication=((_CIDP, 2.0),),
    ),
    IvigProduct.OCTAGAM_10: TitrationProtocol(
        IvigProduct.OCTAGAM_10, (1.0, 2.0, 4.0, 8.0, 12.0), (30, 30),
        ((_ITP, 12.0), (Indication.DERMATOMYOSITIS, 4.0)),
    ),
    IvigProduct.PANZYGA: TitrationProtocol(
        IvigProduct.PANZYGA, (1.0, 2.0, 4.0, 8.0, 12.0, 14.0), (15, 30),
        ((_PI, 14.0), (_CIDP, 12.0), (_ITP, 8.0)),
    ),
    IvigProduct.FLEBOGAMMA_DIF_5: TitrationProtocol(
        IvigProduct.FLEBOGAMMA_DIF_5, (0.5, 1.0, 2.0, 4.0, 5.0), (30, 30), ((_PI, 5.0),),
    ),
    IvigProduct.FLEBOGAMMA_DIF_10: TitrationProtocol(
        IvigProduct.FLEBOGAMMA_DIF_10, (1.0, 2.0, 4.0, 8.0), (30, 30),
        ((_PI, 8.0), (_ITP, 8.0)),
    ),
}  # fmt: skip


def label_max_mg_kg_min(product: IvigProduct, indication: Indication | None) -> float:
    """The label maximum that applies: the one for ``indication`` when the product's label names
    it; otherwise (indication unknown, or off-label for this product) the product's highest
    maximum over all its indications."""
    protocol = TITRATION_PROTOCOLS[product]
    if indication is not None and indication in protocol.indications:
        return protocol.max_mg_kg_min(indication)
    return PRODUCT_LABELS[product].max_mg_kg_min
