"""What :func:`clinical_step` says about each kind of message: applied, duplicate, late, what the
metrics observe, and the arrival stamp the R5 timer reads (from ``now``, for applied events only).
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.clinical_timer import QuietStreamCheck
from schemas.events import PumpStatus
from schemas.reactions import ReactionHistory
from streams.clinical.infusion_state import InfusionState, PumpFact
from streams.clinical.state import VITALS_KEPT, PatientState
from streams.clinical.step import clinical_step
from streams.clinical.vitals_assessment import Reading
from tests.support.clinical_scenarios import NOW, RULES, run_steps
from tests.support.events import Patient

P = Patient("pt-step")


def test_an_applied_event_is_observed_and_stamps_the_arrival() -> None:
    state = PatientState(patient_ref=P.ref)
    step = clinical_step(state, P.start(), RULES, NOW)
    assert (step.applied, step.duplicate, step.late) == (True, False, False)
    assert step.observed == P.start()
    assert (step.before.infusing, step.after.infusing) == (False, True)
    assert step.event_dose_rate_mg_kg_min is None, "only back-pain reports are banded"
    assert state.last_arrival_epoch_s == NOW.timestamp()
    pain = clinical_step(state, P.pain(10, 4), RULES, NOW)
    assert pain.event_dose_rate_mg_kg_min == 1.0


def test_a_duplicate_changes_nothing_not_even_the_arrival() -> None:
    state = PatientState(patient_ref=P.ref)
    clinical_step(state, P.start(), RULES, NOW)
    value = state.to_table_value()
    step = clinical_step(state, P.start(), RULES, NOW + timedelta(hours=1))
    assert (step.applied, step.duplicate, step.observed, step.alerts) == (False, True, None, ())
    assert state.to_table_value() == value


def test_vital_signs_are_deduplicated_by_their_readings_and_not_remembered_by_id() -> None:
    """A monitor at 1 Hz must not fill the remembered ids (nor the snapshots) with its own."""
    _, state = run_steps(P.ref, [P.start(), P.vitals(1), P.rate(30, 84.0), P.vitals(31)])
    assert state.seen_event_ids == [P.start().event_id, P.rate(30, 84.0).event_id]
    value = state.to_table_value()
    again = clinical_step(state, P.vitals(1), RULES, NOW + timedelta(hours=1))
    assert (again.applied, again.duplicate) == (False, True)
    assert state.to_table_value() == value


def test_a_reading_older_than_every_kept_one_changes_nothing_a_rule_reads() -> None:
    """Once ``VITALS_KEPT`` readings are kept, a set older than all of them (a duplicate of a
    trimmed one, its id no longer known) is applied again and trimmed at once."""
    readings = [P.vitals(minute / 10, hr=80 + minute % 7) for minute in range(VITALS_KEPT + 20)]
    _, state = run_steps(P.ref, [P.vitals(-5, hr=70), P.start(), *readings, P.pain(40, 6)])
    vitals, infusion = list(state.readings), state.infusion
    assert len(vitals) == VITALS_KEPT
    assert Reading.of(readings[0]) not in vitals, "trimmed"
    step = clinical_step(state, readings[0], RULES, NOW)
    assert (step.applied, step.alerts) == (True, ())
    assert state.readings == vitals
    assert state.infusion == infusion, "the baseline (minute -5) is untouched"


def test_an_event_older_than_the_grace_is_late_and_still_applied() -> None:
    _, state = run_steps(P.ref, [P.start(), P.rate(30, 84.0), P.vitals(120)])
    within = clinical_step(state, P.vitals(118), RULES, NOW)
    assert (within.applied, within.late) == (True, False)
    late = clinical_step(state, P.pain(40, 6), RULES, NOW)
    assert (late.applied, late.late) == (True, True)
    (alert,) = late.alerts
    assert alert.late_by_min == 80.0


def test_the_ledger_read_back_is_applied_only_when_it_brings_news() -> None:
    events = [P.start(), P.rate(30, 84.0), P.pain(40, 6), P.stop(50)]
    _, documented = run_steps(P.ref, events)
    history = ReactionHistory(patient_ref=P.ref, reactions=tuple(documented.reactions))
    state = PatientState(patient_ref=P.ref)
    step = clinical_step(state, history, RULES, NOW)
    assert (step.applied, step.observed, step.alerts) == (True, None, ())
    assert state.reactions == documented.reactions
    assert state.last_arrival_epoch_s is None, "not an event from the bedside"
    again = clinical_step(state, history, RULES, NOW)
    assert (again.applied, again.duplicate) == (False, False)


def test_a_quiet_stream_check_evaluates_without_stamping_the_arrival() -> None:
    events = [P.start(), P.rate(30, 84.0), P.rate(60, 168.0), P.pain(78, 6), P.rate(85, 84.0)]
    _, state = run_steps(P.ref, events)
    arrived = state.last_arrival_epoch_s
    check = QuietStreamCheck(patient_ref=P.ref, horizon=P.at(116))
    step = clinical_step(state, check, RULES, NOW + timedelta(days=1))
    assert step.applied
    assert step.observed is None
    assert [a.rule for a in step.alerts] == ["R5"]
    assert state.last_arrival_epoch_s == arrived


_facts = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=30),
        st.sampled_from([PumpStatus.RUNNING, PumpStatus.PAUSED, PumpStatus.STOPPED]),
        st.sampled_from([None, 42.0, 84.0, 168.0]),
    ),
    min_size=1,
    max_size=12,
)


@given(arrivals=_facts)
def test_the_kept_rate_history_is_the_one_rebuilt_from_the_stored_facts(
    arrivals: list[tuple[int, PumpStatus, float | None]],
) -> None:
    """Facts arriving in any order, several at one minute: the history ``add_facts`` keeps is the
    one derived afresh from the facts on load, and it is not stored."""
    infusion = InfusionState(infusion_id="inf", context=P.start().context, facts=[])
    for i, (minute, status, rate) in enumerate(arrivals):
        fact = PumpFact(
            infusion_id="inf", event_id=f"e{i % 3}", event_time=P.at(minute), status=status,
            rate_ml_h=rate,
        )  # fmt: skip
        infusion.add_facts([fact])
        rebuilt = InfusionState.model_validate_json(infusion.model_dump_json())
        assert rebuilt.facts == infusion.facts
        assert rebuilt.rate_history == infusion.rate_history
        assert rebuilt == infusion
    assert "_history" not in infusion.model_dump_json()
    keys = [(f.event_time, f.event_id) for f in infusion.facts]
    assert keys == sorted(keys)


def test_an_episode_opened_after_the_infusions_end_was_read_ends_at_once() -> None:
    """Arrival order must not leave an episode open for good: the stop was read before the pain
    report it follows, so the report's episode starts and ends in the same step, documented."""
    from schemas.alerts import AlertPhase
    from tests.support.clinical_scenarios import run_steps
    from tests.support.events import Patient

    p = Patient("pt-order")
    in_order, state_a = run_steps(
        p.ref, [p.start(), p.rate(30, 84.0), p.rate(60, 168.0), p.pain(78, 6), p.stop(90)]
    )
    stop_first, state_b = run_steps(
        p.ref, [p.start(), p.rate(30, 84.0), p.rate(60, 168.0), p.stop(90), p.pain(78, 6)]
    )

    for alerts, state in ((in_order, state_a), (stop_first, state_b)):
        assert [(a.rule, a.phase) for a in alerts] == [
            ("R1", AlertPhase.START),
            ("R1", AlertPhase.END),
        ]
        assert alerts[-1].title.startswith("Ended, infusion stopped")
        assert state.episodes == {}
        assert [(r.rule, r.infusion_id) for r in state.reactions] == [("R1", p.infusion_id())]
