"""How the correlator makes episodes independent of arrival order (docs/clinical-rules.md,
"Arrival order"), one mechanism per test: the current infusion is the latest started, earlier
infusions keep judging their own late events, an ending shown wrong by a late event is corrected
(and the ledger with it), an R8 run over before it is read still makes its episode, R5 follows
event time, and the memory of ended episodes is bounded and reads states stored before it.
test_arrival_order.py checks the outcome over every arrival order of every scenario."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from schemas.alerts import AckResponse, ActionTaken, Alert, AlertPhase
from schemas.clinical_timer import QuietStreamCheck
from streams.clinical.episodes import EndedEpisode
from streams.clinical.state import (
    EARLIER_INFUSIONS_KEPT,
    ENDED_EPISODES_KEPT,
    PatientState,
)
from streams.clinical.step import clinical_step
from tests.support.clinical_scenarios import NOW, RULES, run_steps
from tests.support.events import Patient

P = Patient("pt-late")
TITRATED = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0)]


def phases(alerts: Sequence[Alert]) -> list[tuple[str, str, str]]:
    """(rule, phase, the end's reason or the infusion letter) of each alert."""
    shown = []
    for a in alerts:
        what = a.title.split(":")[0].removeprefix("Ended, ") if a.phase is AlertPhase.END else ""
        shown.append((a.rule, a.phase.value, what or a.infusion_id[-1]))
    return shown


def test_a_start_read_late_does_not_replace_the_infusion_that_started_after_it() -> None:
    _, state = run_steps(P.ref, [P.start(2000, infusion="b"), P.start()])
    assert state.infusion is not None
    assert state.infusion.infusion_id == P.infusion_id("b")
    assert [i.infusion_id for i in state.earlier_infusions] == [P.infusion_id("a")]


def test_an_earlier_infusions_reaction_read_after_the_next_start_is_documented() -> None:
    """Infusion a's events all arrive after b's start: a's R1 episode is judged against a's own
    rate history, ended (the next infusion started, then corrected: a was stopped first),
    documented, and R7 advises on b."""
    events = [P.start(2000, infusion="b"), *TITRATED, P.pain(78, 6), P.stop(90)]
    alerts, state = run_steps(P.ref, events)
    assert phases(alerts) == [
        ("R1", "start", "a"),
        ("R1", "end", "a new infusion started"),
        ("R7", "start", "b"),
        ("R1", "end", "infusion stopped"),
    ]
    assert [(r.rule, r.infusion_id, r.outcome) for r in state.reactions] == [
        ("R1", P.infusion_id("a"), "infusion stopped")
    ]
    assert list(state.episodes) == ["R7"]


def test_a_false_positive_read_after_the_end_corrects_the_ending_and_the_ledger() -> None:
    """The nurse's "false positive" (event time 45) is read after the completion ended the
    episode and the next infusion's R7 cited it: the end is published again with the nurse's
    reason, the record says false positive, and R7 (which ignores such reactions) is withdrawn."""
    ack = P.ack(45, "R1", f"{P.ref}-pain-40", AckResponse.FALSE_POSITIVE)
    events = [P.start(), P.rate(30, 84.0), P.pain(40, 6), P.done(100), P.start(2000, infusion="b")]
    _, state = run_steps(P.ref, events)
    documented = [(r.outcome, r.nurse_response) for r in state.reactions]
    assert documented == [("infusion completed", None)]
    step = clinical_step(state, ack, RULES, NOW)
    assert phases(step.alerts) == [
        ("R1", "end", "marked false positive by the nurse"),
        ("R7", "end", "withdrawn"),
    ]
    assert step.ledger_changed
    assert step.reactions == (), "corrected, not newly documented"
    (record,) = state.reactions
    assert (record.outcome, record.nurse_response) == (
        "marked false positive by the nurse",
        AckResponse.FALSE_POSITIVE,
    )
    assert record.ended_time == P.at(45)
    assert state.episodes == {}


def test_an_r8_run_over_before_it_is_read_starts_and_ends() -> None:
    alerts, state = run_steps(P.ref, [P.rate(30, 525.0), P.rate(40, 400.0), P.start()])
    assert phases(alerts) == [("R8", "start", "a"), ("R8", "end", "withdrawn")]
    (ended,) = state.ended_episodes
    assert not ended.withdrawn, "back within limits: the run ended, it was not withdrawn"


def test_r5_is_withdrawn_when_a_late_report_shows_the_pain_eased() -> None:
    events = [*TITRATED, P.pain(78, 6), P.vitals(120), P.rate(85, 84.0)]
    alerts, state = run_steps(P.ref, events)
    assert phases(alerts) == [("R1", "start", "a"), ("R5", "start", "a")]
    step = clinical_step(state, P.pain(100, 3), RULES, NOW)
    assert phases(step.alerts) == [("R5", "end", "withdrawn")]
    assert list(state.episodes) == ["R1"]


def test_r5_counts_from_the_first_pain_even_when_it_is_read_last() -> None:
    """The report at 100 opened the episode (after the slowing at 85, so no R5); the report at 78
    read later moves the episode's onset before the slowing: R5 is due at 115."""
    events = [*TITRATED, P.rate(85, 84.0), P.pain(100, 6), P.pain(78, 6), P.vitals(120)]
    alerts, _ = run_steps(P.ref, events)
    assert [a.rule for a in alerts if a.phase is AlertPhase.START] == ["R1", "R5"]


def test_an_ack_counts_for_the_episode_whichever_alert_id_it_names() -> None:
    """The nurse paused for the alert the report at 78 opens (its id); here the report at 105 was
    read first and opened the episode under its own id. The ack still starts R5's clock."""
    ack = P.ack(80, "R1", f"{P.ref}-pain-78", AckResponse.TRUE_POSITIVE, ActionTaken.PAUSED)
    events = [*TITRATED, ack, P.pain(105, 7), P.pain(78, 7), P.vitals(115)]
    alerts, state = run_steps(P.ref, events)
    assert [a.rule for a in alerts if a.phase is AlertPhase.START] == ["R1", "R5"]
    assert state.episodes["R1"].actions == [ActionTaken.PAUSED]


def test_r5_due_by_the_timer_stays_due_when_the_episode_ends_later() -> None:
    """The timer found the streams quiet at 116, past R5's due time (115): R5 fired. The stop at
    150 read next ends it with the infusion; it does not withdraw it (no event of the patient
    lies between 115 and 150, but the timer's horizon does)."""
    _, state = run_steps(P.ref, [*TITRATED, P.pain(78, 6), P.rate(85, 84.0)])
    check = QuietStreamCheck(patient_ref=P.ref, horizon=P.at(116))
    assert phases(clinical_step(state, check, RULES, NOW).alerts) == [("R5", "start", "a")]
    assert state.quiet_horizon == P.at(116)
    step = clinical_step(state, P.stop(150), RULES, NOW)
    assert phases(step.alerts) == [
        ("R1", "end", "infusion stopped"),
        ("R5", "end", "infusion stopped"),
    ]


def test_a_state_stored_before_the_memory_does_not_reopen_its_ended_episodes() -> None:
    """A value recorded by the pre-move code: its R1 episode ended (``closed_until``) and no
    ended-episode memory exists. The report behind it is still a finding; it is not published
    again, and the next ending keeps that as a floor."""
    data = Path(__file__).parents[2] / "support" / "data" / "pre_move_clinical_states.json"
    recorded = json.loads(data.read_text())["episode-ends-when-infusion-stopped"]["state"]
    state = PatientState.from_table_value("pt-golden", recorded.encode())
    assert state.ended_episodes == []
    assert state.episodes == {}
    g = Patient("pt-golden")
    assert clinical_step(state, g.vitals(95), RULES, NOW).alerts == ()
    assert clinical_step(state, g.pain(85, 6), RULES, NOW).alerts == (), "before the stop"


def test_the_memory_of_ended_episodes_folds_the_oldest_into_a_floor() -> None:
    state = PatientState(patient_ref=P.ref)
    for i in range(ENDED_EPISODES_KEPT + 3):
        state.remember_ended(
            EndedEpisode(
                alert_id=f"a{i}", rule="R1", infusion_id="inf", trigger_event_id=f"t{i}",
                onset_time=P.at(i), ended_time=P.at(i) + timedelta(seconds=30), outcome="x",
            )
        )  # fmt: skip
    floor, *kept = state.ended_episodes
    assert (floor.trigger_event_id, floor.ended_time) == ("", P.at(3) + timedelta(seconds=30))
    assert [e.alert_id for e in kept] == [f"a{i}" for i in range(4, ENDED_EPISODES_KEPT + 3)]
    assert len(state.ended_episodes) == ENDED_EPISODES_KEPT


def test_earlier_infusions_kept_are_bounded() -> None:
    letters = "abcde"
    starts = [P.start(1000 * i, infusion=letter) for i, letter in enumerate(letters)]
    _, state = run_steps(P.ref, starts)
    assert state.infusion is not None
    assert state.infusion.infusion_id == P.infusion_id("e")
    kept = [i.infusion_id for i in state.earlier_infusions]
    assert kept == [P.infusion_id(x) for x in letters[-1 - EARLIER_INFUSIONS_KEPT : -1]]
    assert state.infusions_seen == [P.infusion_id(x) for x in letters]


def test_a_state_without_the_new_fields_is_stored_as_before() -> None:
    _, state = run_steps(P.ref, [*TITRATED, P.pain(78, 6)])
    value = json.loads(state.to_table_value())
    assert not {"earlier_infusions", "ended_episodes", "quiet_horizon"} & value.keys()
    assert PatientState.from_table_value(P.ref, state.to_table_value()) == state
