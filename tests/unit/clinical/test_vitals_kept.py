"""Which vital-signs sets a patient's state keeps: the newest ``VITALS_KEPT``, and of the older
ones what R2 may still read (``PatientState.earlier_abnormal_readings``).

At 1 Hz the newest 300 sets are 5 minutes, less than R2's window either side of a back-pain report
(15 minutes). Before the abnormal older sets were kept, an R2 alert was withdrawn ("no longer
supported") 5 minutes after it started, as normal readings pushed its abnormal set out, and an
abnormal set 5-15 minutes before a report was not seen at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.alerts import Alert, AlertPhase
from schemas.events import VitalSigns
from streams.clinical import state as state_module
from streams.clinical.state import (
    PRUNED_AT_ONCE,
    VITALS_KEPT,
    PatientState,
    apply_reading,
    settle_readings,
)
from streams.clinical.step import clinical_step, vitals_step
from streams.clinical.vitals_assessment import Reading, abnormal_findings
from tests.support.clinical_scenarios import NOW, RULES, run_steps
from tests.support.events import Patient

P = Patient("pt-kept")
WINDOW_MIN = RULES.r2.vitals_window_min
GRACE_MIN = RULES.timing.grace_min


def _at_1_hz(
    from_minute: float, seconds: int, *, hr: float = 72, temp: float = 36.8
) -> list[VitalSigns]:
    return [P.vitals(from_minute + s / 60, hr=hr, temp=temp) for s in range(seconds)]


def _through_vitals_step(state: PatientState, readings: list[VitalSigns]) -> list[Alert]:
    """The readings as a telemetry envelope delivers them: a few seconds' sets per batch."""
    alerts: list[Alert] = []
    for i in range(0, len(readings), 5):
        alerts += vitals_step(state, readings[i : i + 5], RULES, NOW).alerts
    return alerts


def _r2(alerts: list[Alert]) -> list[tuple[str, AlertPhase]]:
    return [(a.alert_id, a.phase) for a in alerts if a.rule == "R2"]


def test_an_r2_alert_is_not_withdrawn_when_1_hz_readings_push_its_set_out() -> None:
    fever = P.vitals(40, hr=130, temp=38.5)
    alerts, state = run_steps(
        P.ref, [P.vitals(-5), P.start(), P.rate(30, 200.0), fever, P.pain(41, 6)]
    )
    assert [phase for _, phase in _r2(alerts)] == [AlertPhase.START]
    later = _through_vitals_step(state, _at_1_hz(41.01, 3 * VITALS_KEPT))
    assert _r2(later) == [], "no end, no withdrawal: its set is still read"
    assert "R2" in state.episodes
    assert Reading.of(fever) in state.earlier_abnormal_readings
    assert Reading.of(fever) not in state.readings, "it fell off the newest"


def test_an_abnormal_set_10_minutes_before_the_report_is_seen_at_1_hz() -> None:
    _, state = run_steps(P.ref, [P.vitals(-5), P.start(), P.rate(30, 200.0)])
    _through_vitals_step(state, _at_1_hz(40, 1, hr=130))
    _through_vitals_step(state, _at_1_hz(40.5, 10 * 60))  # 600 normal sets after it
    step = clinical_step(state, P.pain(50.5, 6), RULES, NOW)
    (r2,) = [a for a in step.alerts if a.rule == "R2"]
    assert r2.evidence.vitals is not None
    assert r2.evidence.vitals.heart_rate_bpm == 130


def test_normal_sets_beyond_the_newest_are_dropped() -> None:
    _, state = run_steps(P.ref, [P.vitals(-5), P.start()])
    _through_vitals_step(state, _at_1_hz(1, 2 * VITALS_KEPT))
    assert len(state.readings) == VITALS_KEPT
    assert state.earlier_abnormal_readings == []


def test_abnormal_sets_are_kept_for_the_window_and_grace_then_only_those_r2_reads() -> None:
    """A fever for two hours at 1 Hz with back pain reported twice: what is kept stays bounded by
    the window and the grace (plus one set per report), however long the fever lasts."""
    _, state = run_steps(P.ref, [P.vitals(-5), P.start(), P.rate(30, 200.0)])
    alerts = _through_vitals_step(state, _at_1_hz(40, 30 * 60, temp=38.4))
    alerts += clinical_step(state, P.pain(55, 6), RULES, NOW).alerts
    alerts += _through_vitals_step(state, _at_1_hz(70, 30 * 60, temp=38.6))
    alerts += clinical_step(state, P.pain(100, 6), RULES, NOW).alerts
    alerts += _through_vitals_step(state, _at_1_hz(100, 60 * 60, temp=38.4))
    horizon = state.readings[-1].event_time - timedelta(minutes=WINDOW_MIN + GRACE_MIN)
    past = [v for v in state.earlier_abnormal_readings if v.event_time < horizon]
    assert {P.at(55), P.at(100)} <= {v.event_time for v in past}, "each report's R2 set"
    assert len(past) <= 2 + PRUNED_AT_ONCE, "and at most PRUNED_AT_ONCE waiting to be pruned"
    assert len(state.earlier_abnormal_readings) <= (WINDOW_MIN + GRACE_MIN) * 60 + len(past)
    assert [phase for _, phase in _r2(alerts)].count(AlertPhase.END) == 0


def test_one_by_one_and_batched_readings_keep_the_same_sets() -> None:
    events = [P.vitals(-5), P.start(), P.rate(30, 200.0)]
    readings = [
        *_at_1_hz(40, 4 * 60, temp=38.4),
        *_at_1_hz(44, 10 * 60),
        *_at_1_hz(54, 60, hr=125),
        *_at_1_hz(55, 10 * 60),
    ]
    one_by_one, state_a = run_steps(P.ref, [*events, *readings, P.pain(66, 6)])
    _, state_b = run_steps(P.ref, events)
    batched = _through_vitals_step(state_b, readings)
    batched += clinical_step(state_b, P.pain(66, 6), RULES, NOW).alerts
    assert state_a.to_table_value() == state_b.to_table_value()
    assert _r2(one_by_one) == _r2(batched) != []


def test_the_sets_kept_for_r2_survive_the_snapshot_and_are_duplicates_when_sent_again() -> None:
    fever = P.vitals(40, hr=130, temp=38.5)
    _, state = run_steps(P.ref, [P.vitals(-5), P.start(), P.rate(30, 200.0), fever, P.pain(41, 6)])
    _through_vitals_step(state, _at_1_hz(41.01, 2 * VITALS_KEPT))
    value = state.to_table_value()
    restored = PatientState.from_table_value(P.ref, value)
    assert restored.earlier_abnormal_readings == state.earlier_abnormal_readings
    assert state.earlier_abnormal_readings == [Reading.of(fever)]
    again = clinical_step(restored, fever, RULES, NOW)
    assert (again.applied, again.duplicate) == (False, True)
    assert restored.to_table_value() == value


_EDGES = [  # (heart rate, systolic, temperature, SpO2) about the limits and the baseline's
    *[(hr, 125, 36.8, 98) for hr in (99.9, 100.0, 120.0, 120.1)],
    *[(80, sbp, 36.8, 98) for sbp in (89.9, 90.0, 105.0, 105.1, 144.9, 145.0)],
    *[(80, 125, temp, 98) for temp in (37.9, 38.0)],
    *[(80, 125, 36.8, spo2) for spo2 in (91.9, 92.0)],
]


@pytest.mark.parametrize("batched", [True, False])
def test_the_sets_falling_off_are_kept_exactly_when_r2_finds_something_in_them(
    batched: bool,
) -> None:
    """Sets about each of R2's limits and the baseline's (80 bpm, 125 mmHg: 20 bpm over it, 20
    mmHg either side), values not measured, a value in hundredths: of those falling off the
    newest (one kept here), R2 keeps those ``values_findings`` finds anything in."""
    sets = [P.vitals(10 + i / 60, hr=hr, sbp=sbp, temp=temp, spo2=spo2)
            for i, (hr, sbp, temp, spo2) in enumerate(_EDGES)]  # fmt: skip
    unmeasured = ["heart_rate_bpm", "systolic_mmhg", "temperature_c", "spo2_percent"]
    sets += [
        P.vitals(11 + i / 60, hr=130, sbp=80, temp=38.5, spo2=85).model_copy(update={name: None})
        for i, name in enumerate(unmeasured)
    ]
    # In hundredths (from it on the column holds doubles), and the newest (kept).
    sets += [P.vitals(11.5, temp=38.05), P.vitals(12, hr=70)]
    _, state = run_steps(P.ref, [P.vitals(-5, hr=80, sbp=125), P.start()])
    baseline = state.infusion.baseline if state.infusion else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state_module, "VITALS_KEPT", 1)
        if batched:
            vitals_step(state, sets, RULES, NOW)
        else:
            for vitals in sets:
                clinical_step(state, vitals, RULES, NOW)
    fallen = [Reading.of(v) for v in sets[:-1]]
    abnormal = [r for r in fallen if abnormal_findings(r, baseline, RULES.r2)]
    assert state.earlier_abnormal_readings == abnormal
    assert len(abnormal) == 9 + 4 + 1, "over a limit, the four with one not measured, 38.05"


def test_an_r2_alert_is_not_withdrawn_when_its_set_falls_off_after_a_gap_in_the_readings() -> None:
    """The monitor is off for half an hour after the report: its set falls off the newest only
    once 300 sets came after the gap, beyond the window and grace behind them. It is still the
    set R2 reads for the report, so it is kept (until 2026-12-03 it was dropped, and R2's alert
    withdrawn as no longer supported)."""
    fever = P.vitals(40, hr=130, temp=38.5)
    alerts, state = run_steps(
        P.ref, [P.vitals(-5), P.start(), P.rate(30, 200.0), fever, P.pain(41, 6)]
    )
    assert [phase for _, phase in _r2(alerts)] == [AlertPhase.START]
    later = _through_vitals_step(state, _at_1_hz(75, VITALS_KEPT + 60))
    assert _r2(later) == [], "no end, no withdrawal: its set is still read"
    assert Reading.of(fever) in state.earlier_abnormal_readings


@settings(max_examples=1000, deadline=None)
@given(
    drawn=st.lists(
        st.tuples(
            # Minutes after the one before: mostly on, sometimes a gap, sometimes back.
            st.sampled_from([1.0, 0.1, 7.0, 25.0, -4.0]),
            st.sampled_from([70, 130, 95]),  # heart rate (95: 20 over the baseline's 75)
            st.sampled_from([125, 85]),  # systolic
            st.booleans(),  # settle after it
        ),
        min_size=1,
        max_size=60,
    ),
    kept=st.integers(min_value=1, max_value=6),
    pruned=st.integers(min_value=0, max_value=4),
)
def test_deferred_drops_leave_the_sets_drops_one_by_one_leave(
    drawn: list[tuple[float, int, int, bool]], kept: int, pruned: int
) -> None:
    """``apply_reading`` with a batch's deferred drops, settled anywhere between readings (as a
    batch settles them before the rules read the sets) and at the end, leaves the very state
    that dropping for each reading leaves: the same sets kept, the same abnormal ones kept for
    R2 and pruned, whatever the readings' order, duplicates, values and times (before the
    start: baselines)."""
    events = [P.vitals(-6, hr=75), P.start(), P.rate(30, 200.0), P.pain(45, 6), P.pain(80, 5)]
    _, one_by_one = run_steps(P.ref, events)
    _, deferring = run_steps(P.ref, events)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state_module, "VITALS_KEPT", kept)
        patch.setattr(state_module, "PRUNED_AT_ONCE", pruned)
        deferred: list[datetime] = []
        minute = -10.0
        for step, hr, sbp, settle in drawn:
            minute += step
            reading = Reading.of(P.vitals(minute, hr=hr, sbp=sbp))
            applied = apply_reading(one_by_one, reading, RULES)
            assert apply_reading(deferring, reading, RULES, deferred) == applied
            if settle:
                settle_readings(deferring, RULES, deferred)
        settle_readings(deferring, RULES, deferred)
    assert deferring.earlier_abnormal_readings == one_by_one.earlier_abnormal_readings
    assert list(deferring.readings) == list(one_by_one.readings)
    assert deferring == one_by_one
