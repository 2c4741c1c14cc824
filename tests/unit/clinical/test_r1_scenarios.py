"""R1 (back pain within the look-back window after a rate increase), one row per clinical situation,
through the pure state and rule functions the clinical agent calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.alerts import Alert, AlertPhase, AlertPriority, RecommendationCode
from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    InfusionStopped,
    Measurement,
    RateChanged,
    RiskFactor,
    SymptomKind,
    SymptomReport,
    VitalSigns,
)
from schemas.ivig_products import IvigProduct
from streams.clinical.correlator import evaluate
from streams.clinical.rules_file import RulesConfig, load_rules
from streams.clinical.state import ClinicalEventModel, PatientState, apply_event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PATIENT = "pt-unit"
RULES = load_rules()


def _context(age: int = 50, risk: tuple[RiskFactor, ...] = ()) -> InfusionContext:
    return InfusionContext(
        product=IvigProduct.OCTAGAM_10, concentration_mg_ml=100, weight_kg=70, age_years=age,
        dose_g_kg=0.4, risk_factors=risk,
    )  # fmt: skip


def _at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def start(minute: float = 0, rate: float = 42.0, **context: object) -> InfusionStarted:
    return InfusionStarted(
        event_id=f"start-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        infusion_id="inf-1", rate_ml_h=rate, context=_context(**context),  # type: ignore[arg-type]
    )  # fmt: skip


def rate(minute: float, rate_ml_h: float, infusion: str = "inf-1") -> RateChanged:
    return RateChanged(
        event_id=f"rate-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        infusion_id=infusion, rate_ml_h=rate_ml_h,
    )  # fmt: skip


def pause(minute: float) -> InfusionPaused:
    return InfusionPaused(
        event_id=f"pause-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        infusion_id="inf-1",
    )  # fmt: skip


def resume(minute: float, rate_ml_h: float) -> InfusionResumed:
    return InfusionResumed(
        event_id=f"resume-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        infusion_id="inf-1", rate_ml_h=rate_ml_h,
    )  # fmt: skip


def stop(minute: float) -> InfusionStopped:
    return InfusionStopped(
        event_id=f"stop-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        infusion_id="inf-1",
    )  # fmt: skip


def done(minute: float) -> InfusionCompleted:
    return InfusionCompleted(
        event_id=f"done-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        infusion_id="inf-1",
    )  # fmt: skip


def pain(
    minute: float,
    nrs: int,
    symptom: SymptomKind = SymptomKind.BACK_PAIN,
    infusion: str | None = None,
) -> SymptomReport:
    return SymptomReport(
        event_id=f"pain-{minute:g}-{nrs}", patient_ref=PATIENT, event_time=_at(minute),
        symptom=symptom, pain_score=nrs, infusion_id=infusion,
    )  # fmt: skip


def vitals(minute: float, hr: float) -> VitalSigns:
    return VitalSigns(
        event_id=f"vitals-{minute:g}", patient_ref=PATIENT, event_time=_at(minute),
        heart_rate_bpm=Measurement(value=hr), systolic_mmhg=Measurement(value=120),
    )  # fmt: skip


def run(events: list[ClinicalEventModel], rules: RulesConfig = RULES) -> list[Alert]:
    """Apply events in the given (arrival) order, as the agent does; collect every alert."""
    state = PatientState(patient_ref=PATIENT)
    alerts: list[Alert] = []
    for event in events:
        if apply_event(state, event):
            alerts += evaluate(state, rules, NOW).alerts
    return alerts


@dataclass(frozen=True)
class Expect:
    phases: tuple[str, ...] = ()
    priority: str | None = None


TITRATION = [start(), rate(30, 84.0), rate(60, 168.0)]

SCENARIOS = [
    pytest.param([*TITRATION, pain(78, 6)], Expect(("start",), "medium"), id="pain-18min-after-increase"),
    pytest.param([*TITRATION, pain(62, 2)], Expect(("start",), "low"), id="mild-pain-low"),
    pytest.param([*TITRATION, pain(65, 3)], Expect(("start",), "low"), id="nrs-3-is-low"),
    pytest.param([*TITRATION, pain(65, 4)], Expect(("start",), "medium"), id="nrs-4-is-medium"),
    pytest.param([*TITRATION, pain(65, 7)], Expect(("start",), "high"), id="nrs-7-is-high"),
    pytest.param([*TITRATION, pain(65, 10)], Expect(("start",), "high"), id="nrs-10-is-high"),
    pytest.param([*TITRATION, pain(120, 6)], Expect(("start",), "medium"), id="pain-at-window-edge-60min"),
    pytest.param([*TITRATION, pain(121, 6)], Expect(), id="pain-after-window-no-alert"),
    pytest.param([start(), pain(20, 6)], Expect(), id="pain-before-any-rate-change"),
    pytest.param([pain(20, 6)], Expect(), id="pain-with-no-infusion"),
    pytest.param([*TITRATION, rate(70, 84.0), pain(80, 6)], Expect(("start",), "medium"), id="pain-after-decrease-still-within-window-of-increase"),
    pytest.param([start(rate=168.0), rate(30, 84.0), pain(40, 6)], Expect(), id="pain-after-decrease-no-alert"),
    pytest.param([*TITRATION, done(90), pain(95, 6)], Expect(), id="pain-after-infusion-completed"),
    pytest.param([*TITRATION, stop(70), pain(75, 6)], Expect(), id="pain-after-infusion-stopped"),
    pytest.param([*TITRATION, pause(65), pain(70, 6)], Expect(("start",), "medium"), id="pain-while-paused-after-increase"),
    pytest.param([start(rate=84.0), pause(10), resume(20, 84.0), pain(30, 6)], Expect(), id="resume-at-same-rate-is-not-an-increase"),
    pytest.param([start(rate=84.0), pause(10), resume(20, 42.0), pain(30, 6)], Expect(), id="resume-lower-is-not-an-increase"),
    pytest.param([start(rate=84.0), pause(10), resume(20, 168.0), pain(30, 6)], Expect(("start",), "medium"), id="resume-above-pre-pause-rate-is-an-increase"),
    pytest.param([*TITRATION, pain(70, 0)], Expect(), id="pain-score-zero"),
    pytest.param([*TITRATION, pain(70, 6, SymptomKind.HEADACHE)], Expect(), id="headache-is-not-r1"),
    pytest.param([*TITRATION, pain(70, 6, infusion="inf-other")], Expect(), id="pain-for-another-infusion"),
    pytest.param([*TITRATION, pain(70, 6, infusion="inf-1")], Expect(("start",), "medium"), id="pain-naming-this-infusion"),
    pytest.param([start(), rate(30, 84.0, infusion="inf-unknown"), pain(40, 6)], Expect(), id="rate-change-of-unknown-infusion-ignored"),
    pytest.param([*TITRATION, pain(70, 6), pain(70, 6)], Expect(("start",), "medium"), id="duplicate-report-one-alert"),
    pytest.param([*TITRATION, pain(70, 4), pain(75, 5)], Expect(("start",), "medium"), id="second-report-same-band-no-update"),
    pytest.param([*TITRATION, pain(70, 4), pain(75, 8)], Expect(("start", "update"), "high"), id="worse-band-updates"),
    pytest.param([*TITRATION, pain(70, 8), pain(75, 4)], Expect(("start",), "high"), id="better-report-no-update"),
    pytest.param([start(), rate(30, 84.0), pain(78, 6), rate(60, 168.0)], Expect(("start", "update"), "medium"), id="late-rate-change-corrects-evidence"),
    pytest.param([start(), pain(40, 6), rate(30, 84.0)], Expect(("start",), "medium"), id="pain-arrives-before-the-step-it-follows"),
    pytest.param([rate(30, 84.0), pain(40, 6), start()], Expect(("start",), "medium"), id="rate-change-arrives-before-the-start"),
    pytest.param([start(), rate(30, 84.0), stop(35), pain(40, 6)], Expect(), id="stop-before-pain-no-alert"),
    pytest.param([start(), rate(30, 84.0), pain(40, 6), stop(35)], Expect(("start", "end"), "medium"), id="late-stop-before-the-pain-withdraws-the-alert"),
    pytest.param([*TITRATION, pain(70, 6), rate(80, 84.0), rate(90, 168.0), pain(100, 6)], Expect(("start", "end", "start"), "medium"), id="rechallenge-after-new-increase-is-new-episode"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "expect"), SCENARIOS)
def test_r1_scenario(events: list[ClinicalEventModel], expect: Expect) -> None:
    alerts = run(events)
    assert tuple(a.phase.value for a in alerts) == expect.phases
    if alerts:
        assert alerts[-1].priority.value == expect.priority
        assert {a.rule for a in alerts} == {"R1"}


def test_alert_carries_the_contract_and_the_evidence() -> None:
    (alert,) = run([*TITRATION, vitals(75, 96.0), pain(78, 6)])
    assert alert.phase is AlertPhase.START
    assert alert.patient_ref == PATIENT
    assert alert.infusion_id == "inf-1"
    assert alert.type.value == "physiological"
    assert alert.title == "Back pain 6/10, 18 min after rate increase to 4 mg/kg/min"
    assert alert.evidence.pain_score == 6
    assert (alert.evidence.rate_before_ml_h, alert.evidence.rate_after_ml_h) == (84.0, 168.0)
    assert alert.evidence.dose_rate_mg_kg_min == 4.0
    assert alert.evidence.minutes_since_rate_change == 18.0
    assert alert.evidence.rate_change_event_id == "rate-60"
    assert alert.evidence.vitals is not None
    assert alert.evidence.vitals.heart_rate_bpm == 96.0
    assert alert.event_time == _at(78)
    assert alert.created_at == NOW
    codes = [r.code for r in alert.recommendations]
    assert codes == [
        RecommendationCode.SLOW_RATE, RecommendationCode.PAUSE,
        RecommendationCode.HYDRATE, RecommendationCode.ANALGESIC,
    ]  # fmt: skip
    assert alert.recommendations[0].params == {"target_rate_ml_h": 84.0, "reduced_rate_ml_h": 84.0}


def test_high_priority_suggests_pausing_first() -> None:
    (alert,) = run([*TITRATION, pain(70, 8)])
    assert alert.priority is AlertPriority.HIGH
    assert alert.recommendations[0].code is RecommendationCode.PAUSE


def test_renal_risk_avoids_nsaids_and_is_listed() -> None:
    events = [start(risk=(RiskFactor.RENAL_DISEASE,)), rate(30, 84.0), pain(40, 5)]
    (alert,) = run(events)  # type: ignore[arg-type]
    analgesic = next(r for r in alert.recommendations if r.code is RecommendationCode.ANALGESIC)
    assert "avoid NSAIDs" in analgesic.text
    assert alert.risk_factors == (RiskFactor.RENAL_DISEASE,)


def test_age_65_is_a_risk_factor_without_declaring_it() -> None:
    (alert,) = run([start(age=65), rate(30, 84.0), pain(40, 5)])  # type: ignore[arg-type]
    assert RiskFactor.AGE_65_PLUS in alert.risk_factors


def test_alert_id_is_deterministic_and_stable_across_phases() -> None:
    first = run([start(), rate(30, 84.0), pain(78, 6), rate(60, 168.0)])
    again = run([start(), rate(30, 84.0), pain(78, 6), rate(60, 168.0)])
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert len({a.alert_id for a in first}) == 1


def test_arrival_order_does_not_change_the_final_evidence() -> None:
    in_order = run([*TITRATION, pain(78, 6)])
    shuffled = run([pain(78, 6), rate(60, 168.0), start(), rate(30, 84.0)])
    assert in_order[-1].evidence == shuffled[-1].evidence
    assert in_order[-1].alert_id == shuffled[-1].alert_id


def test_reapplying_every_event_changes_nothing() -> None:
    events: list[ClinicalEventModel] = [*TITRATION, pain(78, 6)]
    state = PatientState(patient_ref=PATIENT)
    for event in events:
        apply_event(state, event)
    assert len(evaluate(state, RULES, NOW).alerts) == 1
    snapshot = state.model_dump()
    assert not any(apply_event(state, event) for event in events)
    assert evaluate(state, RULES, NOW).alerts == []
    assert state.model_dump() == snapshot


def test_state_survives_the_table_round_trip() -> None:
    state = PatientState(patient_ref=PATIENT)
    for event in [*TITRATION, vitals(65, 90), pain(78, 6)]:
        apply_event(state, event)
    evaluate(state, RULES, NOW)
    restored = PatientState.from_table_value(PATIENT, state.to_table_value())
    assert restored == state
    assert evaluate(restored, RULES, NOW).alerts == []


@given(
    step_minute=st.integers(min_value=1, max_value=120),
    delay_s=st.integers(min_value=-600, max_value=2 * 3600),
    window_s=st.sampled_from([600, 1800, 3600, 5400]),
)
def test_window_fires_iff_pain_within_window_after_step(
    step_minute: int, delay_s: int, window_s: int
) -> None:
    pain_time = _at(step_minute) + timedelta(seconds=delay_s)
    report = SymptomReport(
        event_id="p", patient_ref=PATIENT, event_time=pain_time,
        symptom=SymptomKind.BACK_PAIN, pain_score=5,
    )  # fmt: skip
    alerts = run(
        [start(), rate(step_minute, 84.0), report], RULES.with_lookback_window(window_s / 60)
    )
    assert bool(alerts) == (0 <= delay_s <= window_s)
    if alerts:
        assert alerts[0].evidence.minutes_since_rate_change == round(delay_s / 60, 1)
