"""The ranges of values R2 finds nothing in (``normal_tenths``), which let a state drop a normal
vital-signs set without judging it, are exactly what ``values_findings`` finds nothing in: for
any thresholds the rules file allows and any baselines, value by value, at each range's edges
and anywhere else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.clinical.rules_file import R2
from streams.clinical.vitals_assessment import (
    NormalTenths,
    Reading,
    normal_tenths,
    values_findings,
)
from tests.support.clinical_scenarios import RULES
from tests.support.events import Patient

P = Patient("pt-normal")
TENTHS = st.integers(min_value=-32767, max_value=32767)


def _threshold(low: float, high: float) -> st.SearchStrategy[float]:
    # (Whole, in tenths, and finer: a rules file may say 120, 37.95 or 100.03.)
    return st.one_of(
        st.integers(min_value=int(low * 10) + 1, max_value=int(high * 10)).map(lambda t: t / 10),
        st.floats(min_value=low, max_value=high, exclude_min=True),
    )


rules = st.builds(
    lambda hr, rise, sbp, change, temp, spo2: RULES.r2.model_copy(
        update={
            "heart_rate_above_bpm": hr,
            "heart_rate_rise_over_baseline_bpm": rise,
            "systolic_below_mmhg": sbp,
            "systolic_change_from_baseline_mmhg": change,
            "temperature_at_or_above_c": temp,
            "spo2_below_percent": spo2,
        }
    ),
    _threshold(0, 300),
    _threshold(0, 200),
    _threshold(0, 300),
    _threshold(0, 200),
    _threshold(35, 45),
    _threshold(0, 100),
)
value = st.one_of(st.none(), TENTHS.map(lambda t: t / 10), st.floats(-500, 500))
baselines = st.lists(st.one_of(st.none(), st.tuples(value, value)), min_size=1, max_size=3)


def _found(
    r2: R2, bases: list[tuple[float | None, float | None] | None], **values: float | None
) -> bool:
    """Whether R2 finds anything in one value (the others not measured) against any baseline."""
    judged = {"hr": None, "sbp": None, "temp": None, "spo2": None, **values}
    return any(
        values_findings(
            judged["hr"],
            judged["sbp"],
            judged["temp"],
            judged["spo2"],
            None if b is None else Reading(P.at(0), "base", b[0], b[1]),
            r2,
        )
        for b in bases
    )


def _within(normal: NormalTenths, name: str, tenths: int) -> bool:
    if name == "hr":
        return tenths <= normal.heart_rate_max
    if name == "sbp":
        return normal.systolic_min <= tenths <= normal.systolic_max
    if name == "temp":
        return tenths <= normal.temperature_max
    return tenths >= normal.spo2_min


@given(r2=rules, bases=baselines, samples=st.lists(TENTHS, max_size=20))
def test_the_ranges_hold_exactly_the_values_r2_finds_nothing_in(
    r2: R2, bases: list[tuple[float | None, float | None] | None], samples: list[int]
) -> None:
    normal = normal_tenths(r2, tuple(bases))
    edges = [
        normal.heart_rate_max,
        normal.systolic_min,
        normal.systolic_max,
        normal.temperature_max,
        normal.spo2_min,
    ]
    near = [edge + step for edge in edges for step in (-1, 0, 1)]
    for tenths in [*near, *samples]:
        if not -32767 <= tenths <= 32767:
            continue
        for name in ("hr", "sbp", "temp", "spo2"):
            assert _within(normal, name, tenths) == (
                not _found(r2, bases, **{name: tenths / 10})
            ), (name, tenths)


def test_the_rules_files_ranges_against_a_baseline() -> None:
    """The shipped rules: heart rate above 120 or 20 over the baseline, systolic below 90 or 20
    from it, temperature from 38.0, SpO2 below 92 (DOMAIN.md §1, R2)."""
    r2 = RULES.r2
    assert (
        r2.heart_rate_above_bpm,
        r2.heart_rate_rise_over_baseline_bpm,
        r2.systolic_below_mmhg,
        r2.systolic_change_from_baseline_mmhg,
        r2.temperature_at_or_above_c,
        r2.spo2_below_percent,
    ) == (120, 20, 90, 20, 38.0, 92)
    assert normal_tenths(r2, (None,)) == NormalTenths(
        heart_rate_max=1200,
        systolic_min=900,
        systolic_max=32767,
        temperature_max=379,
        spo2_min=920,
    )
    # Against a baseline of 80 bpm and 125 mmHg: up to 99.9 bpm, 105.1 to 144.9 mmHg.
    assert normal_tenths(r2, ((80.0, 125.0),)) == NormalTenths(
        heart_rate_max=999,
        systolic_min=1051,
        systolic_max=1449,
        temperature_max=379,
        spo2_min=920,
    )
    # Two baselines: within both.
    assert normal_tenths(r2, ((80.0, 125.0), (70.0, 110.0))) == NormalTenths(
        heart_rate_max=899,
        systolic_min=1051,
        systolic_max=1299,
        temperature_max=379,
        spo2_min=920,
    )
