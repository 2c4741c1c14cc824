"""Technical alerts for blind spots (issue 12, item 5), through ``clinical_step``: a lost
``infusion_started`` and a monitor silent mid-infusion each raise a per-patient technical alert,
which ends when the feed is back."""

from __future__ import annotations

from schemas.alerts import AlertPhase, AlertType
from streams.clinical.state import PatientState
from streams.clinical.step import clinical_step
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
    assert _technical(alerts) == [("T1", "start")]
    (t1,) = [a for a in alerts if a.rule == "T1"]
    assert t1.patient_ref == P.ref
    assert "start never arrived" in t1.title
    alerts, _ = run_steps(P.ref, [*events, P.start()], technical=True)
    assert _technical(alerts) == [("T1", "start"), ("T1", "end")]


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


def test_vitals_behind_in_event_time_but_just_read_are_no_silence() -> None:
    """A replay or a burst reads the pump topic ahead of the vitals topic: not a silent monitor."""
    events = [P.start(), P.vitals(1), P.rate(30, 84.0), P.pain(40, 0), P.rate(60, 120.0)]
    alerts, _ = run_steps(P.ref, events, technical=True)  # all read at one moment
    assert _technical(alerts) == []


def test_regular_vitals_raise_nothing() -> None:
    events = [P.start(), *(P.vitals(m) for m in range(0, 90, 5)), P.rate(30, 84.0)]
    alerts, _ = run_steps(P.ref, events, technical=True)
    assert _technical(alerts) == []
