"""Vital signs as the rules read them (``Reading``, the form a patient's state keeps them in) and
judged against R2's thresholds and the pre-infusion baseline (DOMAIN.md §1, R2)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from schemas.alerts import VitalsEvidence
from schemas.events import Validity, VitalSigns
from streams.clinical.rules_file import R2


class Reading(NamedTuple):
    """One vital-signs set as the rules read it and the patient's state keeps it: its event time
    and id, and the values the device marked valid (questionable and invalid ones are not acted
    on: None, as a value not measured). A tuple of plain values, not a model: a ``VitalSigns``
    with its four measurements is ten objects and ~3 kB (docs/benchmarks.md). A state keeps its
    newest sets in columns and makes a ``Reading`` of one when it is read (``kept_readings.py``).
    In the table value it is a JSON array in this order."""

    event_time: datetime
    event_id: str
    heart_rate_bpm: float | None = None
    systolic_mmhg: float | None = None
    temperature_c: float | None = None
    spo2_percent: float | None = None

    @classmethod
    def of(cls, vitals: VitalSigns) -> Reading:
        return cls(
            vitals.event_time,
            vitals.event_id,
            _valid(vitals, "heart_rate_bpm"),
            _valid(vitals, "systolic_mmhg"),
            _valid(vitals, "temperature_c"),
            _valid(vitals, "spo2_percent"),
        )


_VALID = Validity.VALID  # (a module constant: Python 3.11's enum member lookup is slow)


def _valid(vitals: VitalSigns, name: str) -> float | None:
    measurement = getattr(vitals, name)
    if measurement is None or measurement.validity is not _VALID:
        return None
    return float(measurement.value)


def vitals_evidence(reading: Reading | None) -> VitalsEvidence | None:
    if reading is None:
        return None
    return VitalsEvidence(
        heart_rate_bpm=reading.heart_rate_bpm,
        systolic_mmhg=reading.systolic_mmhg,
        temperature_c=reading.temperature_c,
        spo2_percent=reading.spo2_percent,
    )


def usable_baseline(
    baseline: Reading | None, infusion_start: datetime, rules: R2
) -> Reading | None:
    """The pre-infusion baseline, unless it is older than the rules allow."""
    if baseline is None:
        return None
    if infusion_start - baseline.event_time > rules.baseline_max_age:
        return None
    return baseline


def abnormal_findings(reading: Reading, baseline: Reading | None, rules: R2) -> list[str]:
    """Each R2 threshold ``reading`` crosses, as readable text (``"heart_rate_bpm 128 > 120"``)."""
    _, _, hr, sbp, temp, spo2 = reading
    return values_findings(hr, sbp, temp, spo2, baseline, rules)


def values_findings(
    hr: float | None,
    sbp: float | None,
    temp: float | None,
    spo2: float | None,
    baseline: Reading | None,
    rules: R2,
) -> list[str]:
    """:func:`abnormal_findings` of a set's values (a set kept in columns is judged without
    making a ``Reading`` of it: ``KeptReadings.drop_oldest``)."""
    found: list[str] = []
    hr_base = baseline.heart_rate_bpm if baseline is not None else None
    sbp_base = baseline.systolic_mmhg if baseline is not None else None
    if hr is not None:
        if hr > rules.heart_rate_above_bpm:
            found.append(f"heart rate {hr:g} > {rules.heart_rate_above_bpm:g} bpm")
        elif hr_base is not None and hr - hr_base >= rules.heart_rate_rise_over_baseline_bpm:
            found.append(f"heart rate {hr:g} bpm, +{hr - hr_base:g} over baseline {hr_base:g}")
    if sbp is not None:
        if sbp < rules.systolic_below_mmhg:
            found.append(f"systolic {sbp:g} < {rules.systolic_below_mmhg:g} mmHg")
        elif (
            sbp_base is not None and abs(sbp - sbp_base) >= rules.systolic_change_from_baseline_mmhg
        ):
            found.append(f"systolic {sbp:g} mmHg, {sbp - sbp_base:+g} from baseline {sbp_base:g}")
    if temp is not None and temp >= rules.temperature_at_or_above_c:
        found.append(f"temperature {temp:g} >= {rules.temperature_at_or_above_c:g} C")
    if spo2 is not None and spo2 < rules.spo2_below_percent:
        found.append(f"SpO2 {spo2:g} < {rules.spo2_below_percent:g} %")
    return found


#: The values in tenths a set may hold (``kept_readings.py``: -32768 there stands for None).
_TENTHS = range(-32767, 32768)
#: A baseline's time where only its values count.
_ANY_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NormalTenths:
    """The values, in tenths, in which R2 finds nothing against every one of some baselines
    (:func:`normal_tenths`): a heart rate and a temperature up to a most, a systolic from a
    least to a most, an SpO2 from a least. A set with each value in its range (or not
    measured) is normal; one outside them is judged by :func:`values_findings` (a range no
    value is in: a most below -32767 or a least above the most)."""

    heart_rate_max: int
    systolic_min: int
    systolic_max: int
    temperature_max: int
    spo2_min: int


@lru_cache(maxsize=4096)
def normal_tenths(
    rules: R2, baselines: tuple[tuple[float | None, float | None] | None, ...]
) -> NormalTenths:
    """:class:`NormalTenths` against ``baselines``: each usable baseline's heart rate and
    systolic (None: no baseline, R2's limits alone). Each value is judged alone by
    :func:`values_findings` and each finding grows with the value (heart rate, temperature),
    shrinks with it (SpO2, systolic below its limit) or grows with its distance from the
    baseline (systolic), so each range is found by bisection: with ``values_findings`` itself
    for the one-sided ones, with its comparisons written out for systolic's two sides
    (tests/unit/clinical/test_normal_tenths.py compares each edge, the values beside it and
    others with ``values_findings``)."""
    bases = [None if b is None else Reading(_ANY_TIME, "", b[0], b[1]) for b in baselines]

    def found(hr: float | None, sbp: float | None, temp: float | None, spo2: float | None) -> bool:
        return any(values_findings(hr, sbp, temp, spo2, base, rules) for base in bases)

    def beyond(tenths: int) -> float:
        return tenths / 10  # (as ``KeptReadings`` reads a value)

    def first(found_in: Callable[[int], bool]) -> int:
        """The least value in tenths ``found_in`` holds for (it holds for every greater one)."""
        return _TENTHS[0] + bisect_left(_TENTHS, True, key=found_in)

    change = rules.systolic_change_from_baseline_mmhg
    below = rules.systolic_below_mmhg
    systolic_bases = [b[1] for b in baselines if b is not None and b[1] is not None]

    def systolic_low(t: int) -> bool:  # (below the limit, or the baseline by the change)
        v = beyond(t)
        return v < below or any(v - base <= -change for base in systolic_bases)

    def systolic_high(t: int) -> bool:  # (above the baseline by the change)
        v = beyond(t)
        return any(v - base >= change for base in systolic_bases)

    return NormalTenths(
        heart_rate_max=first(lambda t: found(beyond(t), None, None, None)) - 1,
        systolic_min=first(lambda t: not systolic_low(t)),
        systolic_max=first(systolic_high) - 1,
        temperature_max=first(lambda t: found(None, None, beyond(t), None)) - 1,
        spo2_min=first(lambda t: not found(None, None, None, beyond(t))),
    )


def worst_near(
    readings: Iterable[Reading], baseline: Reading | None, rules: R2, when: datetime
) -> tuple[list[str], Reading] | None:
    """The set R2 reads among ``readings`` for a report at ``when``: the one crossing most
    thresholds, the closest in time among equals (the first of those); with its findings."""
    judged = [(abnormal_findings(r, baseline, rules), r) for r in readings]
    judged = [(found, r) for found, r in judged if found]
    if not judged:
        return None
    return max(judged, key=lambda fr: (len(fr[0]), -abs(fr[1].event_time - when)))
