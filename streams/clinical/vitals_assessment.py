"""Vital signs judged against R2's thresholds and the pre-infusion baseline (DOMAIN.md §1, R2)."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.alerts import VitalsEvidence
from schemas.events import Validity, VitalSigns
from streams.clinical.rules_file import R2


def valid_value(vitals: VitalSigns | None, name: str) -> float | None:
    """A measurement's value when the device marked it valid; questionable and invalid ones are
    not acted on."""
    if vitals is None:
        return None
    measurement = getattr(vitals, name)
    if measurement is None or measurement.validity is not Validity.VALID:
        return None
    return float(measurement.value)


def vitals_evidence(vitals: VitalSigns | None) -> VitalsEvidence | None:
    if vitals is None:
        return None
    return VitalsEvidence(
        heart_rate_bpm=valid_value(vitals, "heart_rate_bpm"),
        systolic_mmhg=valid_value(vitals, "systolic_mmhg"),
        temperature_c=valid_value(vitals, "temperature_c"),
        spo2_percent=valid_value(vitals, "spo2_percent"),
    )


def usable_baseline(
    baseline: VitalSigns | None, infusion_start: datetime, rules: R2
) -> VitalSigns | None:
    """The pre-infusion baseline, unless it is older than the rules allow."""
    if baseline is None:
        return None
    if infusion_start - baseline.event_time > timedelta(minutes=rules.baseline_max_age_min):
        return None
    return baseline


def abnormal_findings(vitals: VitalSigns, baseline: VitalSigns | None, rules: R2) -> list[str]:
    """Each R2 threshold ``vitals`` crosses, as readable text (``"heart_rate_bpm 128 > 120"``)."""
    found: list[str] = []
    hr = valid_value(vitals, "heart_rate_bpm")
    sbp = valid_value(vitals, "systolic_mmhg")
    temp = valid_value(vitals, "temperature_c")
    spo2 = valid_value(vitals, "spo2_percent")
    hr_base = valid_value(baseline, "heart_rate_bpm")
    sbp_base = valid_value(baseline, "systolic_mmhg")
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
