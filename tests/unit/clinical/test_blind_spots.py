"""Technical alerts for blind spots (issue 12, item 5), through ``clinical_step``: a lost
``infusion_started`` and a monitor silent mid-infusion each raise a per-patient technical alert,
which ends when the feed is back."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.alerts import AckResponse, AlertPhase, AlertType
from streams.clinical import step as step_module
from streams.clinical.blind_spots import on_inferred_infusion, pump_may_fall_silent
from streams.clinical.state import PatientState
from streams.clinical.step import clinical_step, vitals_step
from tests.support.clinical_scenarios import RULES, run_steps
from tests.support.events import Patient

P = Patient("pt-blind")


def _technical(alerts: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(a.rule, a.phase.value) for a in alerts if a.type is AlertType.TECHNICAL]


def test_pump_events_without_their_start_raise_t1_after_the_wait_and_it_ends_with_the_start() -> (
    None
):
    events = [P.rate(30, 84.0), P.vitals(32), P.vitals(50), P.rate(60, 168.0)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    assert _technical(alerts) == [("T1", "start"), ("T1", "update")]
    t1 = next(a for a in alerts if a.rule == "T1")
    assert t1.patient_ref == P.ref
    assert "start never arrived" in t1.title
    alerts, _ = run_steps(P.ref, [*events, P.start()], technical=True)
    assert _technical(alerts) == [("T1", "start"), ("T1", "update"), ("T1", "end")]


def test_t1_says_what_the_pump_events_show_and_what_stays_unknown() -> None:
    """Inferred from the pump alone: running, the rates in mL/h and the increases; never a
    dose rate (no product, concentration or weight)."""
    events = [P.rate(30, 84.0), P.vitals(40), P.rate(50, 168.0), P.pause(55)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    t1 = [a for a in alerts if a.rule == "T1"]
    assert [a.phase.value for a in t1] == ["start", "update", "update"]
    first, increased, paused = t1
    assert "pump running at 84 mL/h, no rate increase seen" in first.title
    assert first.evidence.rate_after_ml_h == 84.0
    assert first.evidence.rate_before_ml_h is None
    assert "pump running at 168 mL/h, 1 rate increase (84 -> 168 mL/h)" in increased.title
    assert (
        increased.evidence.rate_before_ml_h,
        increased.evidence.rate_after_ml_h,
        increased.evidence.rate_change_event_id,
    ) == (84.0, 168.0, f"{P.ref}-rate-50")
    assert increased.event_time == P.at(50)
    assert "pump paused (last 168 mL/h)" in paused.title
    assert {a.alert_id for a in t1} == {first.alert_id}, "one episode"
    assert {a.priority for a in t1} == {first.priority}, "updates never raise the priority"
    for alert in t1:
        assert "no product, concentration, weight" in alert.title
        assert alert.evidence.dose_rate_mg_kg_min is None
        assert alert.evidence.limit_mg_kg_min is None
        assert "Not known: product, concentration, weight" in alert.recommendations[0].text
    # Resumed above the pre-pause rate: a second increase.
    more = [*events, P.resume(60, 210.0), P.vitals(62)]
    alerts, _ = run_steps(P.ref, more, technical=True)
    last = [a for a in alerts if a.rule == "T1"][-1]
    assert "pump running at 210 mL/h, 2 rate increases (last 168 -> 210 mL/h)" in last.title


def test_t1_with_no_rate_in_its_events_says_the_rate_is_not_known() -> None:
    alerts, _ = run_steps(P.ref, [P.pause(30), P.vitals(40)], technical=True)
    (t1,) = [a for a in alerts if a.rule == "T1"]
    assert "pump paused, rate not known; dose not known" in t1.title
    assert t1.evidence.rate_after_ml_h is None


def test_t1_is_not_updated_by_events_that_change_nothing_it_shows() -> None:
    events = [P.rate(30, 84.0), P.vitals(40), P.vitals(45), P.pain(50, 0), P.vitals(60)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    assert _technical(alerts) == [("T1", "start")]


def test_within_the_wait_a_start_read_late_raises_nothing() -> None:
    alerts, _ = run_steps(P.ref, [P.rate(30, 84.0), P.vitals(33), P.start()], technical=True)
    assert _technical(alerts) == []


def _live(events: list) -> list:  # type: ignore[type-arg]
    """Each event arriving at its event time (a live feed): the agent's clock moves with it."""
    state = PatientState(patient_ref=P.ref)
    alerts = []
    for event in events:
        alerts += clinical_step(state, event, RULES, event.event_time).alerts
    return alerts


def test_vitals_silent_mid_infusion_raise_t2_once_and_it_ends_when_they_return() -> None:
    events = [P.start(), P.vitals(1), P.rate(30, 84.0), P.pain(40, 0), P.rate(60, 120.0)]
    assert _technical(_live(events)) == [("T2", "start")], "silent 59 min while the pump went on"
    alerts = _live([*events, P.pain(65, 0), P.vitals(70)])
    assert _technical(alerts) == [("T2", "start"), ("T2", "end")]
    assert all(a.phase is not AlertPhase.UPDATE for a in alerts if a.rule == "T2")
    t2 = next(a for a in alerts if a.rule == "T2")
    assert t2.title == "No vital signs for 29 min during the infusion: check the monitor"


def test_vitals_behind_in_event_time_but_just_read_are_no_silence() -> None:
    """A replay or a burst reads the pump topic ahead of the vitals topic: not a silent monitor."""
    events = [P.start(), P.vitals(1), P.rate(30, 84.0), P.pain(40, 0), P.rate(60, 120.0)]
    alerts, _ = run_steps(P.ref, events, technical=True)  # all read at one moment
    assert _technical(alerts) == []


def test_regular_vitals_raise_nothing() -> None:
    events = [P.start(), *(P.vitals(m) for m in range(0, 90, 5)), P.rate(30, 84.0)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    assert _technical(alerts) == []


def _status_reports(minutes: range, rate: float = 42.0) -> list:  # type: ignore[type-arg]
    """A pump that reports its status periodically (PCD-01 while infusing): the rate in force."""
    return [P.rate(m, rate) for m in minutes]


def test_a_status_reporting_pump_gone_silent_raises_t3_and_it_ends_when_it_reports_again() -> None:
    reports = _status_reports(range(1, 6))  # every minute: silent after max(10 min, 3 intervals)
    vitals = [P.vitals(m) for m in range(6, 40, 2)]
    alerts = _live([P.start(), *reports, *vitals])
    assert _technical(alerts) == [("T3", "start")], "no status for 10+ min while vitals went on"
    [t3] = [a for a in alerts if a.rule == "T3"]
    assert t3.priority.value == "medium"
    assert "check the pump" in t3.title
    alerts = _live([P.start(), *reports, *vitals, P.rate(41, 42.0)])
    assert _technical(alerts) == [("T3", "start"), ("T3", "end")]


def test_a_pump_that_reports_only_changes_is_never_called_silent() -> None:
    events = [P.start(), P.rate(30, 84.0), *(P.vitals(m) for m in range(0, 300, 5))]
    assert _technical(_live(events)) == []


def test_pump_events_behind_in_event_time_but_just_read_are_no_silence() -> None:
    events = [P.start(), *_status_reports(range(1, 6)), *(P.vitals(m) for m in range(6, 40, 2))]
    alerts, _ = run_steps(P.ref, events, technical=True)  # all read at one moment
    assert _technical(alerts) == []


def test_t3_starts_from_a_telemetry_batch_as_from_readings_one_by_one() -> None:
    state = PatientState(patient_ref=P.ref)
    for event in [P.start(), *_status_reports(range(1, 6))]:
        clinical_step(state, event, RULES, event.event_time)
    later = [P.vitals(m) for m in range(30, 33)]
    step = vitals_step(state, later, RULES, later[-1].event_time)
    assert _technical(list(step.alerts)) == [("T3", "start")]


def _r1(alerts: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(a.phase.value, a.priority.value, a.alert_id) for a in alerts if a.rule == "R1"]


def test_back_pain_after_an_inferred_rate_increase_raises_r1_in_ml_h() -> None:
    """The start is missing, so the rules know no dose; R1 needs none: back pain within the
    look-back window after a rate increase the pump itself showed is R1, judged in mL/h."""
    events = [P.rate(30, 84.0), P.vitals(32), P.rate(40, 168.0), P.pain(50, 6)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    (r1,) = [a for a in alerts if a.rule == "R1"]
    assert r1.phase is AlertPhase.START
    assert r1.type is AlertType.PHYSIOLOGICAL
    assert r1.priority.value == "medium"
    assert r1.title == (
        "Back pain 6/10, 10 min after rate increase to 168 mL/h "
        "(infusion start missing: dose not known)"
    )
    assert r1.event_time == P.at(50)
    assert (r1.evidence.rate_before_ml_h, r1.evidence.rate_after_ml_h) == (84.0, 168.0)
    assert r1.evidence.rate_change_event_id == f"{P.ref}-rate-40"
    assert r1.evidence.symptom_event_id == f"{P.ref}-pain-50"
    assert r1.evidence.minutes_since_rate_change == 10.0
    assert r1.evidence.dose_rate_mg_kg_min is None, "no dose rate is invented"
    codes = [r.code.value for r in r1.recommendations]
    assert codes == ["slow_rate", "pause", "hydrate", "analgesic"]
    assert "84 mL/h" in r1.recommendations[0].text, "back to the last tolerated rate"
    # T1 is open beside it and says R1 judges in mL/h.
    t1 = [a for a in alerts if a.rule == "T1"]
    assert t1
    assert "R1 judges back pain after a rate increase" in t1[0].recommendations[0].text


def test_inferred_r1_follows_r1s_bands_and_episodes() -> None:
    base = [P.rate(30, 84.0), P.vitals(32), P.rate(40, 168.0)]
    # Pain without a recent increase (outside the look-back window) is no R1.
    alerts, _ = run_steps(P.ref, [*base, P.vitals(200), P.pain(201, 6)], technical=True)
    assert _r1(alerts) == []
    # Worse pain: the same episode, updated to the higher band (a re-page); same band: nothing.
    worse = [*base, P.pain(50, 5), P.pain(55, 5), P.pain(58, 8)]
    alerts, _ = run_steps(P.ref, worse, technical=True)
    phases = _r1(alerts)
    assert [(phase, priority) for phase, priority, _ in phases] == [
        ("start", "medium"),
        ("update", "high"),
    ]
    assert len({alert_id for *_, alert_id in phases}) == 1
    high = [a for a in alerts if a.rule == "R1"][-1]
    assert [r.code.value for r in high.recommendations][:2] == ["pause", "slow_rate"]
    # Pain reported resolved ends it.
    alerts, _ = run_steps(P.ref, [*worse, P.pain(70, 0)], technical=True)
    assert [phase for phase, *_ in _r1(alerts)] == ["start", "update", "end"]
    assert alerts[-1].title.startswith("Ended, pain resolved")
    # A further increase with pain: the first episode ends, another starts.
    again = [*worse, P.rate(65, 210.0), P.pain(70, 6)]
    alerts, _ = run_steps(P.ref, again, technical=True)
    phases = _r1(alerts)
    assert [phase for phase, *_ in phases] == ["start", "update", "end", "start"]
    assert phases[2][2] == phases[0][2] != phases[3][2]
    ended = [a for a in alerts if a.rule == "R1" and a.phase is AlertPhase.END]
    assert ended[0].title.startswith("Ended, new episode: pain after a further rate increase")


def test_inferred_r1_waits_for_t1_and_r1_proper_carries_it_on_when_the_start_arrives() -> None:
    """Within T1's wait the start may simply be read late: nothing is inferred. Once the start
    arrives, R1 proper judges the infusion from it and carries the open episode on under the
    same alert id (the page gains the dose rate; no end is published)."""
    early = [P.rate(30, 84.0), P.rate(31, 168.0), P.pain(32, 6)]
    alerts, _ = run_steps(P.ref, early, technical=True)
    assert _r1(alerts) == []
    events = [P.rate(30, 84.0), P.vitals(32), P.rate(40, 168.0), P.pain(50, 6), P.start()]
    alerts, state = run_steps(P.ref, events, technical=True)
    r1 = [a for a in alerts if a.rule == "R1"]
    assert [(a.phase.value, on_inferred_infusion(a)) for a in r1] == [
        ("start", True),
        ("start", False),
    ]
    assert r1[0].alert_id == r1[1].alert_id == state.episodes["R1"].alert_id
    assert r1[1].evidence.dose_rate_mg_kg_min is not None
    assert not [k for k in state.technical_alerts if k.startswith("R1")]


def test_inferred_r1_ends_when_the_infusion_completes_and_ignores_pain_after_it() -> None:
    events = [P.rate(30, 84.0), P.vitals(32), P.rate(40, 168.0), P.pain(50, 6), P.done(60)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    assert [a.phase.value for a in alerts if a.rule == "R1"] == ["start", "end"]
    assert alerts[-1].title.startswith("Ended, infusion completed")
    after = [P.rate(30, 84.0), P.vitals(32), P.rate(40, 168.0), P.stop(45), P.pain(50, 6)]
    alerts, _ = run_steps(P.ref, after, technical=True)
    assert _r1(alerts) == [], "pain after the pump stopped is no R1"


def test_a_nurse_dismissing_the_inferred_r1_ends_it_and_r1_proper_does_not_page_it_again() -> None:
    """Marked false positive, the inferred R1 ends as R1's episodes do; its id is the one R1
    proper gives the same report, so once the start arrives R1 proper reads the answer too and
    publishes the episode already ended (the alerting stage ignores a page it closed)."""
    events = [P.rate(30, 84.0), P.vitals(32), P.rate(40, 168.0), P.pain(50, 6)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    (inferred,) = [a for a in alerts if a.rule == "R1"]
    ack = P.ack(55, "R1", P.pain(50, 6).event_id, AckResponse.FALSE_POSITIVE)
    assert ack.alert_id == inferred.alert_id, "the id R1 proper gives the same report"
    dismissed = [*events, ack]
    alerts, _ = run_steps(P.ref, dismissed, technical=True)
    assert [a.phase.value for a in alerts if a.rule == "R1"] == ["start", "end"]
    assert alerts[-1].title.startswith("Ended, marked false positive by the nurse")
    alerts, state = run_steps(P.ref, [*dismissed, P.start()], technical=True)
    proper = [a for a in alerts if a.rule == "R1" and not on_inferred_infusion(a)]
    assert {a.alert_id for a in proper} == {inferred.alert_id}
    assert [a.phase.value for a in proper] == ["start", "end"]
    assert proper[-1].title.startswith("Ended, marked false positive by the nurse")
    assert "R1" not in state.episodes, "no R1 left open"


def test_readings_skip_the_technical_checks_for_a_quiet_pump_that_reports_only_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An hour of readings through ``vitals_step`` (as telemetry arrives) after the last rate
    change must not each run every technical check: they cannot raise T3 for such a pump, and
    it once cost a quarter of a reading in the 4th hour. For a status-reporting pump gone
    quiet they still do."""
    calls: list[int] = []
    real = step_module.technical_alerts

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    changes_only = PatientState(patient_ref=P.ref)
    _live_on(changes_only, [P.start(), P.rate(5, 84.0)])
    assert not pump_may_fall_silent(changes_only)
    monkeypatch.setattr(step_module, "technical_alerts", counted)
    for minute in range(20, 80):
        vitals_step(changes_only, [P.vitals(minute)], RULES, P.at(minute))
    assert calls == []
    reporting = PatientState(patient_ref=P.ref)
    _live_on(reporting, [P.start(), *_status_reports(range(1, 6))])
    assert pump_may_fall_silent(reporting)
    calls.clear()
    for minute in range(20, 23):
        vitals_step(reporting, [P.vitals(minute)], RULES, P.at(minute))
    assert len(calls) == 3


def _live_on(state: PatientState, events: list) -> None:  # type: ignore[type-arg]
    for event in events:
        clinical_step(state, event, RULES, event.event_time)
