"""Vital signs as the rules read them (``Reading``, the form a patient's state keeps them in) and
judged against R2's thresholds and the pre-infusion baseline (DOMAIN.md §1, R2)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
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
