"""Issue 12 item 4: R8 with the label maximum for the infusion's indication (the product's
highest only when the indication is unknown or off-label), and R3 leaving alone neurological
signs explicitly marked not progressive."""

from __future__ import annotations

import pytest

from schemas.alerts import AlertPhase, Rule
from schemas.clinical_units import rate_ml_h_for_dose_rate
from schemas.events import (
    InfusionContext,
    InfusionStarted,
    NeurologicalSigns,
    RateChanged,
    SymptomKind,
)
from schemas.ivig_products import (
    INDICATION_NAMES,
    PRODUCT_LABELS,
    TITRATION_PROTOCOLS,
    Indication,
    IvigProduct,
    label_max_mg_kg_min,
)
from tests.support.clinical_scenarios import run_steps
from tests.support.events import Patient, at

WEIGHT_KG = 70.0
LABELLED = [
    pytest.param(product, indication, maximum, id=f"{product.value}-{indication.value}")
    for product, protocol in TITRATION_PROTOCOLS.items()
    for indication, maximum in protocol.max_by_indication
]


def _infusion(
    product: IvigProduct, indication: Indication | None, dose_mg_kg_min: float
) -> list[InfusionStarted | RateChanged]:
    """A start at the label's first step, then a step to ``dose_mg_kg_min``."""
    concentration = PRODUCT_LABELS[product].concentration_mg_ml
    p = Patient("pt-ind")

    def rate(dose: float) -> float:
        return round(rate_ml_h_for_dose_rate(dose, concentration, WEIGHT_KG), 1)

    start = InfusionStarted(
        event_id="pt-ind-start", patient_ref=p.ref, event_time=at(0),
        infusion_id=p.infusion_id(), rate_ml_h=rate(0.5),
        context=InfusionContext(
            product=product, concentration_mg_ml=concentration, weight_kg=WEIGHT_KG,
            age_years=40, dose_g_kg=0.4, indication=indication,
        ),
    )  # fmt: skip
    step = RateChanged(
        event_id="pt-ind-rate-30", patient_ref=p.ref, event_time=at(30),
        infusion_id=p.infusion_id(), rate_ml_h=rate(dose_mg_kg_min),
    )  # fmt: skip
    return [start, step]


def _r8(events: list[InfusionStarted | RateChanged]) -> list[str]:
    alerts, _ = run_steps("pt-ind", events)
    return [a.title for a in alerts if a.rule == Rule.R8 and a.phase is AlertPhase.START]


@pytest.mark.parametrize(("product", "indication", "maximum"), LABELLED)
def test_r8_uses_the_label_maximum_of_the_indication(
    product: IvigProduct, indication: Indication, maximum: float
) -> None:
    assert _r8(_infusion(product, indication, maximum)) == [], "at the maximum: within label"
    (title,) = _r8(_infusion(product, indication, maximum + 0.5))
    assert title.endswith(
        f"above the {PRODUCT_LABELS[product].name} label maximum "
        f"({INDICATION_NAMES[indication]}) of {maximum:g} mg/kg/min"
    )


@pytest.mark.parametrize("product", list(IvigProduct))
def test_r8_uses_the_highest_maximum_when_the_indication_is_unknown(product: IvigProduct) -> None:
    highest = max(m for _, m in TITRATION_PROTOCOLS[product].max_by_indication)
    assert label_max_mg_kg_min(product, None) == highest
    assert _r8(_infusion(product, None, highest)) == []
    (title,) = _r8(_infusion(product, None, highest + 0.5))
    assert title.endswith(
        f"above the {PRODUCT_LABELS[product].name} label maximum of {highest:g} mg/kg/min"
    )


def test_r8_off_label_indication_is_judged_against_the_highest_maximum() -> None:
    # Octagam's label names ITP (12) and dermatomyositis (4), not Guillain-Barre.
    assert _r8(_infusion(IvigProduct.OCTAGAM_10, Indication.GBS, 8.0)) == []
    assert _r8(_infusion(IvigProduct.OCTAGAM_10, Indication.DERMATOMYOSITIS, 8.0)) == [
        "Dose rate 8 mg/kg/min is above the Octagam 10% label maximum (dermatomyositis) of "
        "4 mg/kg/min"
    ]
    (title,) = _r8(_infusion(IvigProduct.OCTAGAM_10, Indication.GBS, 12.5))
    assert "Octagam 10% label maximum of 12 mg/kg/min" in title


def test_privigen_in_chronic_itp_is_limited_to_4() -> None:
    assert _r8(_infusion(IvigProduct.PRIVIGEN, Indication.PI, 6.0)) == []
    assert _r8(_infusion(IvigProduct.PRIVIGEN, None, 6.0)) == []
    assert _r8(_infusion(IvigProduct.PRIVIGEN, Indication.ITP, 6.0)) == [
        "Dose rate 6 mg/kg/min is above the Privigen label maximum (chronic ITP) of 4 mg/kg/min"
    ]


@pytest.mark.parametrize(
    ("progressive", "fires"),
    [pytest.param(None, True, id="unknown"), pytest.param(True, True, id="progressive"),
     pytest.param(False, False, id="not-progressive")],
)  # fmt: skip
def test_r3_acts_on_progressive_or_unknown_signs_only(
    progressive: bool | None, fires: bool
) -> None:
    p = Patient("pt-neuro")
    for signs in (
        {"weakness": True, "spreading": True},
        {"neck_stiffness": True, "severe_headache": True},
    ):
        report = p.symptom(40, SymptomKind.HEADACHE, **signs)
        report = report.model_copy(
            update={
                "neurological": report.neurological.model_copy(update={"progressive": progressive})
            }
        )
        alerts, _ = run_steps(p.ref, [p.start(), report])
        assert [a.rule for a in alerts] == ([Rule.R3] if fires else [])


def test_the_progressive_flag_is_not_a_sign_and_is_left_out_while_unknown() -> None:
    assert not NeurologicalSigns(progressive=True).any
    assert NeurologicalSigns(tingling=True, progressive=False).any
    assert "progressive" not in NeurologicalSigns(tingling=True).model_dump_json()
    assert '"progressive":false' in NeurologicalSigns(progressive=False).model_dump_json()
    assert NeurologicalSigns.model_validate_json('{"tingling":true}').progressive is None
