"""What each rule's alert says (evidence, recommendations, titles), the ledger's records, the R5
timer path, and the dose-rate arithmetic, through the clinical step the agent calls."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.alerts import AckResponse, Alert, AlertPhase, RecommendationCode
from schemas.clinical_timer import QuietStreamCheck
from schemas.clinical_units import dose_rate_mg_kg_min, rate_ml_h_for_dose_rate
from schemas.events import RiskFactor, SymptomKind
from streams.clinical.quiet_streams import quiet_patients_due
from streams.clinical.state import ClinicalEventModel, PatientState
from streams.clinical.step import clinical_step
from tests.support.clinical_scenarios import NOW, RULES, run_steps
from tests.support.events import Patient, at

P = Patient("pt-detail")


def run(events: list[ClinicalEventModel]) -> tuple[list[Alert], PatientState]:
    return run_steps(P.ref, events)


def quiet_check(state: PatientState, horizon: datetime) -> tuple[Alert, ...]:
    """The R5 timer's check of ``state`` with ``horizon`` as the time known to have passed."""
    check = QuietStreamCheck(patient_ref=state.patient_ref, horizon=horizon)
    return clinical_step(state, check, RULES, NOW).alerts


def codes(alert: Alert) -> list[str]:
    return [r.code.value for r in alert.recommendations]


def test_r4_lists_risk_factors_prefers_acetaminophen_and_emphasises_hydration() -> None:
    (alert,), _ = run([P.start(risk=(RiskFactor.RENAL_DISEASE,)), P.rate(30, 84.0), P.pain(40, 5)])
    assert alert.risk_factors == (RiskFactor.RENAL_DISEASE,)
    assert alert.modifiers == ("R4",)
    texts = {r.code: r for r in alert.recommendations}
    assert "avoid NSAIDs" in texts[RecommendationCode.ANALGESIC].text
    assert texts[RecommendationCode.HYDRATE].params == {"emphasised": True}
    assert "renal disease" in texts[RecommendationCode.HYDRATE].text


def test_without_renal_risk_an_nsaid_is_offered() -> None:
    (alert,), _ = run([P.start(), P.rate(30, 84.0), P.pain(40, 5)])
    analgesic = next(r for r in alert.recommendations if r.code is RecommendationCode.ANALGESIC)
    assert "NSAID" in analgesic.text
    assert "avoid" not in analgesic.text
    assert alert.modifiers == ()


def test_r2_shows_the_abnormal_vitals_against_the_baseline() -> None:
    alerts, _ = run([P.vitals(-10, hr=70), P.start(), P.vitals(40, hr=96), P.pain(41, 4)])
    (alert,) = alerts
    assert alert.rule == "R2"
    assert codes(alert)[:2] == ["pause", "notify_prescriber"]
    assert alert.evidence.abnormal_vitals == ("heart rate 96 bpm, +26 over baseline 70",)
    assert alert.evidence.baseline_vitals is not None
    assert alert.evidence.baseline_vitals.heart_rate_bpm == 70
    assert alert.title == "Back pain 4/10 with heart rate 96 bpm, +26 over baseline 70"


def test_r2_ignores_a_baseline_older_than_allowed() -> None:
    alerts, _ = run([P.vitals(-300, hr=70), P.start(), P.vitals(40, hr=96), P.pain(41, 4)])
    assert alerts == []


def test_r3_names_guillain_barre_or_aseptic_meningitis() -> None:
    (gbs,), _ = run([P.start(), P.symptom(40, SymptomKind.OTHER, weakness=True)])
    assert codes(gbs) == ["pause", "notify_prescriber", "neurology_consult"]
    assert "Guillain-Barre" in gbs.recommendations[-1].text
    meningism, _ = run(
        [P.start(), P.done(100), P.symptom(600, SymptomKind.HEADACHE, neck_stiffness=True,
                                           severe_headache=True)]
    )  # fmt: skip
    (alert,) = meningism
    assert codes(alert) == ["notify_prescriber", "neurology_consult"], "no pause after the end"
    assert "aseptic meningitis" in alert.recommendations[-1].text
    assert alert.title.endswith("after IVIG: clinician review")


def test_r5_offers_second_line_options_with_the_pain_at_the_action() -> None:
    events = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0), P.pain(78, 6), P.rate(85, 84.0),
              P.pain(100, 5), P.vitals(120)]  # fmt: skip
    alerts, _ = run(events)
    r5 = next(a for a in alerts if a.rule == "R5")
    assert codes(r5) == ["second_line_pain"]
    assert "lidocaine" in r5.recommendations[0].text
    assert (r5.evidence.pain_score_at_action, r5.evidence.pain_score) == (6, 5)
    assert r5.evidence.minutes_since_action == 30
    assert r5.event_time == at(120)
    assert r5.late_by_min is None


def test_r5_timer_fires_when_the_streams_go_quiet() -> None:
    events = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0), P.pain(78, 6), P.rate(85, 84.0)]
    alerts, state = run(events)
    assert [a.rule for a in alerts] == ["R1"]
    assert quiet_check(state, at(114)) == (), "not due yet"
    (r5,) = quiet_check(state, at(116))
    assert (r5.rule, r5.event_time, r5.evidence.pain_score) == ("R5", at(115), None)
    assert "not reassessed" in r5.title
    assert quiet_check(state, at(200)) == (), "checked once"


def test_ended_episode_is_documented_and_r7_caps_the_next_infusion() -> None:
    events = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0), P.pain(78, 6), P.rate(85, 84.0),
              P.pain(95, 7), P.pain(110, 0), P.start(3000, infusion="b")]  # fmt: skip
    alerts, state = run(events)
    assert [(a.rule, a.phase.value) for a in alerts] == [("R1", "start"), ("R1", "update"),
                                                         ("R1", "end"), ("R7", "start")]  # fmt: skip
    (record,) = state.reactions
    assert (record.rule, record.peak_pain_score, record.outcome) == (
        "R1",
        7,
        "pain resolved (0/10)",
    )
    assert (record.rate_at_onset_ml_h, record.dose_rate_at_onset_mg_kg_min) == (168.0, 4.0)
    assert record.minutes_since_rate_step == 18.0
    assert record.actions_taken == ("slowed",)
    assert record.last_tolerated_dose_rate_mg_kg_min == 2.0
    r7 = alerts[-1]
    assert codes(r7) == ["premedicate", "cap_rate", "lower_concentration"]
    # Cap: the last tolerated 2 mg/kg/min (below 0.75 x the 4 mg/kg/min onset) = 84 mL/h.
    assert r7.recommendations[1].params == {"cap_mg_kg_min": 2.0, "cap_rate_ml_h": 84.0}
    assert r7.type.value == "advisory"
    assert alerts[2].title.startswith("Ended, pain resolved (0/10): Back pain")


def test_nurse_marking_false_positive_ends_the_episode_and_is_recorded() -> None:
    events = [P.start(), P.rate(30, 84.0), P.pain(40, 5),
              P.ack(45, "R1", f"{P.ref}-pain-40", AckResponse.FALSE_POSITIVE)]  # fmt: skip
    alerts, state = run(events)
    assert [a.phase for a in alerts] == [AlertPhase.START, AlertPhase.END]
    assert state.reactions[0].nurse_response is AckResponse.FALSE_POSITIVE


def test_a_late_alert_says_so_in_its_title() -> None:
    alerts, _ = run([P.start(), P.rate(30, 84.0), P.vitals(120), P.pain(40, 6)])
    (alert,) = alerts
    assert alert.late_by_min == 80.0
    assert alert.title.endswith("(late: 80 min)")


def test_r8_names_the_limit_and_updates_when_the_rate_rises_further() -> None:
    alerts, _ = run([P.start(), P.rate(30, 525.0), P.rate(40, 600.0)])
    assert [(a.rule, a.phase.value) for a in alerts] == [("R8", "start"), ("R8", "update")]
    assert alerts[0].title == (
        "Dose rate 12.5 mg/kg/min is above the Octagam 10% label maximum of 12 mg/kg/min"
    )
    assert alerts[0].recommendations[0].params == {
        "target_rate_ml_h": 504.0,
        "limit_mg_kg_min": 12.0,
    }


def test_every_alert_names_the_rules_version() -> None:
    alerts, _ = run([P.start(), P.rate(30, 525.0)])
    assert alerts[0].rules_version == RULES.version == "ivig-back-pain/2026.11.1"


@given(
    rate_ml_h=st.floats(min_value=0.1, max_value=1000),
    concentration=st.sampled_from([50.0, 100.0, 200.0]),
    weight_kg=st.floats(min_value=2, max_value=350),
)
def test_dose_rate_and_pump_rate_are_inverse(
    rate_ml_h: float, concentration: float, weight_kg: float
) -> None:
    dose = dose_rate_mg_kg_min(rate_ml_h, concentration, weight_kg)
    assert dose == rate_ml_h * concentration / weight_kg / 60
    assert (
        abs(rate_ml_h_for_dose_rate(dose, concentration, weight_kg) - rate_ml_h) < 1e-9 * rate_ml_h
    )


@given(seconds_after=st.integers(min_value=-1800, max_value=3 * 3600), pain=st.integers(1, 10))
def test_r1_fires_iff_pain_is_within_the_window_after_the_step(
    seconds_after: int, pain: int
) -> None:
    report = P.pain(30 + seconds_after / 60, pain)
    alerts, _ = run([P.start(), P.rate(30, 84.0), report])
    r1 = [a for a in alerts if a.rule == "R1"]
    assert bool(r1) == (0 <= seconds_after <= 3600)
    if r1:
        band = "low" if pain <= 3 else "medium" if pain <= 6 else "high"
        assert r1[0].priority.value == band


def test_dose_rate_for_a_ten_percent_product_is_point_six_ml_kg_h_per_mg_kg_min() -> None:
    # DOMAIN.md §2: for a 10 % product, mL/kg/h = 0.6 x mg/kg/min.
    assert rate_ml_h_for_dose_rate(1.0, 100.0, 1.0) == 0.6
    assert timedelta(minutes=RULES.r1.lookback_window_min) == timedelta(hours=1)


def test_the_timer_asks_only_for_quiet_patients_with_a_due_check() -> None:
    events = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0), P.pain(78, 6), P.rate(85, 84.0)]
    _, state = run(events)
    quiet = state.model_copy(update={"last_arrival_epoch_s": at(100).timestamp()})
    busy = state.model_copy(update={"last_arrival_epoch_s": at(116).timestamp()})
    empty = PatientState(patient_ref="empty")
    items = [("quiet", quiet), ("busy", busy), ("empty", empty)]
    assert quiet_patients_due(items, RULES, at(114), grace_s=120) == [], "not due before 115"
    assert quiet_patients_due(items, RULES, at(117), grace_s=120) == ["quiet"]
