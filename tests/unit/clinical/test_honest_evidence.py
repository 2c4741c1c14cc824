"""Honest evidence (issue 12, item 3): an alert says "late" only when its own trigger arrived
later than the grace; a late pump event re-derives the evidence of every open episode of the
patient (R2's dose rate included), not only R1's; R3's pause carries its own rationale."""

from __future__ import annotations

from schemas.alerts import AlertPhase, RecommendationCode
from tests.support.clinical_scenarios import run_steps
from tests.support.events import Patient

P = Patient("pt-honest")
TITRATED = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0)]


def test_an_update_long_after_the_onset_is_not_called_late() -> None:
    """The issue's finding: updates more than 2 min after onset were titled "(late: N min)".
    Here the rate step the pain follows is read 40 min late and corrects R1's evidence; the
    report itself was on time, so nothing is called late."""
    events = [P.start(), P.rate(30, 84.0), P.pain(78, 4), P.vitals(100), P.rate(60, 168.0)]
    alerts, _ = run_steps(P.ref, events)
    r1 = [a for a in alerts if a.rule == "R1"]
    assert [a.phase for a in r1] == [AlertPhase.START, AlertPhase.UPDATE]
    assert r1[-1].evidence.rate_after_ml_h == 168.0
    assert all(a.late_by_min is None for a in alerts)
    assert not any("late" in a.title for a in alerts)


def test_a_report_that_arrived_late_is_called_late_by_its_own_lag() -> None:
    events = [*TITRATED, P.vitals(100), P.pain(78, 6)]  # the report read 22 min behind
    alerts, state = run_steps(P.ref, events)
    (start,) = [a for a in alerts if a.rule == "R1"]
    assert start.late_by_min == 22.0
    assert start.title.endswith("(late: 22 min)")
    assert state.late_arrivals == {P.pain(78, 6).event_id: 22.0}


def test_a_late_pump_event_re_derives_r2s_dose_rate_as_well_as_r1s() -> None:
    """Pain with abnormal vitals read before the rate step it follows: R1 and R2 both show the
    dose rate at the report once the step arrives (R2 used to keep the stale one)."""
    events = [P.start(), P.rate(30, 84.0), P.vitals(76, hr=130), P.pain(78, 6), P.rate(60, 168.0)]
    alerts, _ = run_steps(P.ref, events)
    latest = {a.rule: a for a in alerts if a.phase is not AlertPhase.END}
    assert latest["R1"].evidence.dose_rate_mg_kg_min == latest["R2"].evidence.dose_rate_mg_kg_min
    assert latest["R2"].evidence.rate_after_ml_h == 168.0
    assert latest["R2"].late_by_min is None, "the report itself was not late"


def test_r3s_pause_has_its_own_rationale() -> None:
    events = [*TITRATED, P.pain(70, 3, weakness=True, spreading=True)]
    alerts, _ = run_steps(P.ref, events)
    (r3,) = [a for a in alerts if a.rule == "R3"]
    pause = next(r for r in r3.recommendations if r.code is RecommendationCode.PAUSE)
    assert "back pain" not in pause.text
    assert "neurological" in pause.text
