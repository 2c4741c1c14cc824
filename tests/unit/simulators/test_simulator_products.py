"""The product table (DOMAIN.md §2) and titration arithmetic mg/kg/min <-> mL/h."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.clinical_units import dose_rate_mg_kg_min, rate_ml_h_for_dose_rate
from schemas.ivig_products import PRODUCT_LABELS, TITRATION_PROTOCOLS, Indication, IvigProduct
from simulators.cohort import PatientProfile
from simulators.infusion_visit import Visit
from simulators.reaction_model import BaselineVitals

P = IvigProduct
I = Indication  # noqa: E741 - reads as a table


@pytest.mark.parametrize(
    ("product", "indication", "maximum"),
    [
        pytest.param(P.PRIVIGEN, I.PI, 8.0, id="privigen-pi-8"),
        pytest.param(P.PRIVIGEN, I.CIDP, 8.0, id="privigen-cidp-8"),
        pytest.param(P.PRIVIGEN, I.ITP, 4.0, id="privigen-itp-4"),
        pytest.param(P.GAMMAGARD_LIQUID, I.PI, 8.0, id="gammagard-pi-8"),
        pytest.param(P.GAMMAGARD_LIQUID, I.MMN, 9.0, id="gammagard-mmn-9"),
        pytest.param(P.GAMUNEX_C, I.CIDP, 8.0, id="gamunex-cidp-8"),
        pytest.param(P.OCTAGAM_10, I.ITP, 12.0, id="octagam-itp-12"),
        pytest.param(P.OCTAGAM_10, I.DERMATOMYOSITIS, 4.0, id="octagam-dm-4"),
        pytest.param(P.PANZYGA, I.PI, 14.0, id="panzyga-pi-14"),
        pytest.param(P.PANZYGA, I.CIDP, 12.0, id="panzyga-cidp-12"),
        pytest.param(P.PANZYGA, I.ITP, 8.0, id="panzyga-itp-8"),
        pytest.param(P.FLEBOGAMMA_DIF_5, I.PI, 5.0, id="flebogamma5-5"),
        pytest.param(P.FLEBOGAMMA_DIF_10, I.PI, 8.0, id="flebogamma10-8"),
    ],
)
def test_label_maximum_per_indication(
    product: IvigProduct, indication: Indication, maximum: float
) -> None:
    protocol = TITRATION_PROTOCOLS[product]
    assert protocol.max_mg_kg_min(indication) == maximum
    assert maximum <= PRODUCT_LABELS[product].max_mg_kg_min, "never above the label's highest"
    assert protocol.schedule_mg_kg_min(indication)[-1] == maximum


@pytest.mark.parametrize(
    ("product", "indication", "schedule"),
    [
        pytest.param(P.OCTAGAM_10, I.ITP, (1.0, 2.0, 4.0, 8.0, 12.0), id="octagam-doubles"),
        pytest.param(P.OCTAGAM_10, I.DERMATOMYOSITIS, (1.0, 2.0, 4.0), id="octagam-dm-capped"),
        pytest.param(P.PRIVIGEN, I.PI, (0.5, 1.0, 2.0, 4.0, 8.0), id="privigen-from-0.5"),
        pytest.param(P.GAMMAGARD_LIQUID, I.PI, (0.8, 1.6, 3.2, 6.4, 8.0), id="gammagard-0.8"),
        pytest.param(P.GAMUNEX_C, I.PI, (1.0, 2.0, 4.0, 8.0), id="gamunex-pi-from-1"),
        pytest.param(P.GAMUNEX_C, I.CIDP, (2.0, 4.0, 8.0), id="gamunex-cidp-from-2"),
    ],
)
def test_titration_schedule(
    product: IvigProduct, indication: Indication, schedule: tuple[float, ...]
) -> None:
    assert TITRATION_PROTOCOLS[product].schedule_mg_kg_min(indication) == schedule


def test_risk_cap_ends_the_schedule_at_the_cap() -> None:
    assert TITRATION_PROTOCOLS[P.PRIVIGEN].schedule_mg_kg_min(I.PI, 3.3) == (0.5, 1.0, 2.0, 3.3)


def test_label_start_rates_intervals_and_sucrose() -> None:
    starts = {p: TITRATION_PROTOCOLS[p].start_mg_kg_min(TITRATION_PROTOCOLS[p].indications[0])
              for p in IvigProduct}  # fmt: skip
    assert {p: PRODUCT_LABELS[p].start_mg_kg_min for p in IvigProduct} == starts
    assert TITRATION_PROTOCOLS[P.PANZYGA].interval_min_range == (15, 30)
    assert all(
        TITRATION_PROTOCOLS[p].interval_min_range == (30, 30) for p in IvigProduct if p != P.PANZYGA
    )
    assert not any(label.contains_sucrose for label in PRODUCT_LABELS.values())
    with pytest.raises(KeyError, match="no label maximum for gbs"):
        TITRATION_PROTOCOLS[P.PRIVIGEN].max_mg_kg_min(I.GBS)


@pytest.mark.parametrize(
    ("dose", "concentration", "weight", "rate"),
    [
        pytest.param(1.0, 100.0, 70.0, 42.0, id="10pct-1mgkgmin-70kg-42mlh"),
        pytest.param(4.0, 100.0, 70.0, 168.0, id="10pct-4mgkgmin-70kg-168mlh"),
        pytest.param(8.0, 100.0, 50.0, 240.0, id="10pct-8mgkgmin-50kg-240mlh"),
        pytest.param(0.5, 50.0, 80.0, 48.0, id="5pct-doubles-the-volume"),
    ],
)
def test_dose_rate_to_pump_rate(
    dose: float, concentration: float, weight: float, rate: float
) -> None:
    assert rate_ml_h_for_dose_rate(dose, concentration, weight) == pytest.approx(rate)
    assert dose_rate_mg_kg_min(rate, concentration, weight) == pytest.approx(dose)


@given(st.floats(0.1, 14.0), st.floats(20.0, 200.0))
def test_ten_percent_ml_per_kg_per_hour_is_0_6_times_mg_per_kg_per_min(
    dose: float, weight: float
) -> None:
    rate = rate_ml_h_for_dose_rate(dose, 100.0, weight)
    assert rate / weight == pytest.approx(0.6 * dose)
    assert dose_rate_mg_kg_min(rate, 100.0, weight) == pytest.approx(dose)


def _visit(weight_kg: float, product: IvigProduct) -> Visit:
    profile = PatientProfile(
        "pt-x", weight_kg, 50, "female", I.PI, product, I.PI, 0.4, (), False, 0, False
    )
    baseline = BaselineVitals(75, 120, 75, 36.7, 98, 15)
    return Visit(1, 1, profile, "inf-x", "p", "m", None, 0.0, (1.0,), 5.0, baseline)  # type: ignore[arg-type]


@given(st.floats(0.5, 14.0), st.floats(30.0, 150.0).map(lambda w: round(w, 1)))
def test_programmed_rate_never_exceeds_the_intended_dose_rate(dose: float, weight: float) -> None:
    visit = _visit(weight, P.PANZYGA)
    rate = visit.rate_for(dose)
    assert math.isclose(rate * 10, round(rate * 10)), "pumps take 0.1 mL/h"
    assert visit.dose_rate(rate) <= dose + 1e-9
    assert visit.dose_rate(rate + 0.1) > dose - 1e-9, "the highest 0.1 mL/h step below it"
