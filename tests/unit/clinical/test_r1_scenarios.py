"""R1 (back pain within the look-back window after a rate increase), one row per clinical situation,
through the clinical step the agent calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.alerts import Alert, AlertPhase, AlertPriority, RecommendationCode
from schemas.clinical_timer import QuietStreamCheck
from schemas.events import RiskFactor, SymptomKind
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import ClinicalEventModel, PatientState
from streams.clinical.step import clinical_step
from tests.support.clinical_scenarios import NOW, RULES, run_steps
from tests.support.events import Patient

P = Patient("pt-unit")


def run(events: list[ClinicalEventModel], rules: RulesConfig = RULES) -> list[Alert]:
    """Every event through the clinical step in the given (arrival) order; every alert."""
    alerts, _ = run_steps(P.ref, events, rules)
    return alerts


@dataclass(frozen=True)
class Expect:
    phases: tuple[str, ...] = ()
    priority: str | None = None


TITRATION = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0)]

SCENARIOS = [
    pytest.param([*TITRATION, P.pain(78, 6)], Expect(("start",), "medium"), id="pain-18min-after-increase"),
    pytest.param([*TITRATION, P.pain(62, 2)], Expect(("start",), "low"), id="mild-pain-low"),
    pytest.param([*TITRATION, P.pain(65, 3)], Expect(("start",), "low"), id="nrs-3-is-low"),
    pytest.param([*TITRATION, P.pain(65, 4)], Expect(("start",), "medium"), id="nrs-4-is-medium"),
    pytest.param([*TITRATION, P.pain(65, 7)], Expect(("start",), "high"), id="nrs-7-is-high"),
    pytest.param([*TITRATION, P.pain(65, 10)], Expect(("start",), "high"), id="nrs-10-is-high"),
    pytest.param([*TITRATION, P.pain(120, 6)], Expect(("start",), "medium"), id="pain-at-window-edge-60min"),
    pytest.param([*TITRATION, P.pain(121, 6)], Expect(), id="pain-after-window-no-alert"),
    pytest.param([P.start(), P.pain(20, 6)], Expect(), id="pain-before-any-rate-change"),
    pytest.param([P.pain(20, 6)], Expect(), id="pain-with-no-infusion"),
    pytest.param([*TITRATION, P.rate(70, 84.0), P.pain(80, 6)], Expect(("start",), "medium"), id="pain-after-decrease-still-within-window-of-increase"),
    pytest.param([P.start(rate=168.0), P.rate(30, 84.0), P.pain(40, 6)], Expect(), id="pain-after-decrease-no-alert"),
    pytest.param([*TITRATION, P.done(90), P.pain(95, 6)], Expect(), id="pain-after-infusion-completed"),
    pytest.param([*TITRATION, P.stop(70), P.pain(75, 6)], Expect(), id="pain-after-infusion-stopped"),
    pytest.param([*TITRATION, P.pause(65), P.pain(70, 6)], Expect(("start",), "medium"), id="pain-while-paused-after-increase"),
    pytest.param([P.start(rate=84.0), P.pause(10), P.resume(20, 84.0), P.pain(30, 6)], Expect(), id="resume-at-same-rate-is-not-an-increase"),
    pytest.param([P.start(rate=84.0), P.pause(10), P.resume(20, 42.0), P.pain(30, 6)], Expect(), id="resume-lower-is-not-an-increase"),
    pytest.param([P.start(rate=84.0), P.pause(10), P.resume(20, 168.0), P.pain(30, 6)], Expect(("start",), "medium"), id="resume-above-pre-pause-rate-is-an-increase"),
    pytest.param([*TITRATION, P.pain(70, 0)], Expect(), id="pain-score-zero"),
    pytest.param([*TITRATION, P.pain(70, 6, symptom=SymptomKind.HEADACHE)], Expect(), id="headache-is-not-r1"),
    pytest.param([*TITRATION, P.pain(70, 6, infusion="other")], Expect(), id="pain-for-another-infusion"),
    pytest.param([*TITRATION, P.pain(70, 6, infusion="a")], Expect(("start",), "medium"), id="pain-naming-this-infusion"),
    pytest.param([P.start(), P.rate(30, 84.0, infusion="unknown"), P.pain(40, 6)], Expect(), id="rate-change-of-unknown-infusion-ignored"),
    pytest.param([*TITRATION, P.pain(70, 6), P.pain(70, 6)], Expect(("start",), "medium"), id="duplicate-report-one-alert"),
    pytest.param([*TITRATION, P.pain(70, 4), P.pain(75, 5)], Expect(("start",), "medium"), id="second-report-same-band-no-update"),
    pytest.param([*TITRATION, P.pain(70, 4), P.pain(75, 8)], Expect(("start", "update"), "high"), id="worse-band-updates"),
    pytest.param([*TITRATION, P.pain(70, 8), P.pain(75, 4)], Expect(("start",), "high"), id="better-report-no-update"),
    pytest.param([P.start(), P.rate(30, 84.0), P.pain(78, 6), P.rate(60, 168.0)], Expect(("start", "update"), "medium"), id="late-rate-change-corrects-evidence"),
    pytest.param([P.start(), P.pain(40, 6), P.rate(30, 84.0)], Expect(("start",), "medium"), id="pain-arrives-before-the-step-it-follows"),
    pytest.param([P.rate(30, 84.0), P.pain(40, 6), P.start()], Expect(("start",), "medium"), id="rate-change-arrives-before-the-start"),
    pytest.param([P.start(), P.rate(30, 84.0), P.stop(35), P.pain(40, 6)], Expect(), id="stop-before-pain-no-alert"),
    pytest.param([P.start(), P.rate(30, 84.0), P.pain(40, 6), P.stop(35)], Expect(("start", "end"), "medium"), id="late-stop-before-the-pain-withdraws-the-alert"),
    pytest.param([*TITRATION, P.pain(70, 6), P.rate(80, 84.0), P.rate(90, 168.0), P.pain(100, 6)], Expect(("start", "end", "start"), "medium"), id="rechallenge-after-new-increase-is-new-episode"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "expect"), SCENARIOS)
def test_r1_scenario(events: list[ClinicalEventModel], expect: Expect) -> None:
    alerts = run(events)
    assert tuple(a.phase.value for a in alerts) == expect.phases
    if alerts:
        assert alerts[-1].priority.value == expect.priority
        assert {a.rule for a in alerts} == {"R1"}


def test_alert_carries_the_contract_and_the_evidence() -> None:
    (alert,) = run([*TITRATION, P.vitals(75, hr=96.0), P.pain(78, 6)])
    assert alert.phase is AlertPhase.START
    assert alert.patient_ref == P.ref
    assert alert.infusion_id == P.infusion_id()
    assert alert.type.value == "physiological"
    assert alert.title == "Back pain 6/10, 18 min after rate increase to 4 mg/kg/min"
    assert alert.evidence.pain_score == 6
    assert (alert.evidence.rate_before_ml_h, alert.evidence.rate_after_ml_h) == (84.0, 168.0)
    assert alert.evidence.dose_rate_mg_kg_min == 4.0
    assert alert.evidence.minutes_since_rate_change == 18.0
    assert alert.evidence.rate_change_event_id == f"{P.ref}-rate-60"
    assert alert.evidence.vitals is not None
    assert alert.evidence.vitals.heart_rate_bpm == 96.0
    assert alert.event_time == P.at(78)
    assert alert.created_at == NOW
    codes = [r.code for r in alert.recommendations]
    assert codes == [
        RecommendationCode.SLOW_RATE, RecommendationCode.PAUSE,
        RecommendationCode.HYDRATE, RecommendationCode.ANALGESIC,
    ]  # fmt: skip
    assert alert.recommendations[0].params == {"target_rate_ml_h": 84.0, "reduced_rate_ml_h": 84.0}


def test_high_priority_suggests_pausing_first() -> None:
    (alert,) = run([*TITRATION, P.pain(70, 8)])
    assert alert.priority is AlertPriority.HIGH
    assert alert.recommendations[0].code is RecommendationCode.PAUSE


def test_renal_risk_avoids_nsaids_and_is_listed() -> None:
    events = [P.start(risk=(RiskFactor.RENAL_DISEASE,)), P.rate(30, 84.0), P.pain(40, 5)]
    (alert,) = run(events)
    analgesic = next(r for r in alert.recommendations if r.code is RecommendationCode.ANALGESIC)
    assert "avoid NSAIDs" in analgesic.text
    assert alert.risk_factors == (RiskFactor.RENAL_DISEASE,)


def test_age_65_is_a_risk_factor_without_declaring_it() -> None:
    (alert,) = run([P.start(age=65), P.rate(30, 84.0), P.pain(40, 5)])
    assert RiskFactor.AGE_65_PLUS in alert.risk_factors


def test_alert_id_is_deterministic_and_stable_across_phases() -> None:
    first = run([P.start(), P.rate(30, 84.0), P.pain(78, 6), P.rate(60, 168.0)])
    again = run([P.start(), P.rate(30, 84.0), P.pain(78, 6), P.rate(60, 168.0)])
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert len({a.alert_id for a in first}) == 1


def test_arrival_order_does_not_change_the_final_evidence() -> None:
    in_order = run([*TITRATION, P.pain(78, 6)])
    shuffled = run([P.pain(78, 6), P.rate(60, 168.0), P.start(), P.rate(30, 84.0)])
    assert in_order[-1].evidence == shuffled[-1].evidence
    assert in_order[-1].alert_id == shuffled[-1].alert_id


def test_reapplying_every_event_changes_nothing() -> None:
    events: list[ClinicalEventModel] = [*TITRATION, P.pain(78, 6)]
    state = PatientState(patient_ref=P.ref)
    assert sum(len(clinical_step(state, e, RULES, NOW).alerts) for e in events) == 1
    snapshot = state.model_dump()
    again = [clinical_step(state, event, RULES, NOW) for event in events]
    assert all(step.duplicate and not step.applied and not step.alerts for step in again)
    assert _reevaluated(state) == ()
    assert state.model_dump() == snapshot


def _reevaluated(state: PatientState) -> tuple[Alert, ...]:
    """The alerts of one more evaluation of ``state`` with nothing new (a timer check at the
    patient's own newest event time)."""
    assert state.watermark is not None
    check = QuietStreamCheck(patient_ref=state.patient_ref, horizon=state.watermark)
    return clinical_step(state, check, RULES, NOW).alerts


def test_state_survives_the_table_round_trip() -> None:
    state = PatientState(patient_ref=P.ref)
    for event in [*TITRATION, P.vitals(65, hr=90), P.pain(78, 6)]:
        clinical_step(state, event, RULES, NOW)
    restored = PatientState.from_table_value(P.ref, state.to_table_value())
    assert restored == state
    assert restored.infusion is not None
    assert state.infusion is not None
    assert restored.infusion.rate_history == state.infusion.rate_history
    assert _reevaluated(restored) == ()


@given(
    step_minute=st.integers(min_value=1, max_value=120),
    delay_s=st.integers(min_value=-600, max_value=2 * 3600),
    window_s=st.sampled_from([600, 1800, 3600, 5400]),
)
def test_window_fires_iff_pain_within_window_after_step(
    step_minute: int, delay_s: int, window_s: int
) -> None:
    report = P.pain(step_minute + delay_s / 60, 5)
    assert report.event_time == P.at(step_minute) + timedelta(seconds=delay_s)
    alerts = run(
        [P.start(), P.rate(step_minute, 84.0), report], RULES.with_lookback_window(window_s / 60)
    )
    assert bool(alerts) == (0 <= delay_s <= window_s)
    if alerts:
        assert alerts[0].evidence.minutes_since_rate_change == round(delay_s / 60, 1)
