"""Vital signs in telemetry batches (:func:`vitals_step`) call for exactly what the same readings
one by one (:func:`clinical_step`) call for, although the rules run once per batch and only when
readings can matter: the same episodes started and ended, the same final state, for every
clinical scenario with readings of any values and times inserted anywhere. And readings never
change what the metrics read of an infusion (its snapshot), which a batch's step does not carry."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.alerts import Alert, AlertPhase
from schemas.events import VitalSigns
from streams.clinical import state as state_module
from streams.clinical.infusion_snapshot import InfusionSnapshot
from streams.clinical.state import PRUNED_AT_ONCE, VITALS_KEPT, ClinicalEventModel, PatientState
from streams.clinical.step import clinical_step, vitals_step
from tests.support.clinical_scenarios import NOW, RULES, SCENARIOS
from tests.support.events import Patient

P = Patient("pt-batch")

readings = st.lists(
    st.tuples(
        st.integers(min_value=-30, max_value=260),  # minute
        st.sampled_from([70, 80, 95, 128]),  # heart rate
        st.sampled_from([36.8, 38.3]),  # temperature
        st.sampled_from([125, 85]),  # systolic
        st.integers(min_value=0, max_value=40),  # arrival position among the scenario's events
    ),
    min_size=1,
    max_size=40,
)


def _arrivals(name: str, drawn: list[tuple[int, int, float, int, int]]) -> list[ClinicalEventModel]:
    events: list[ClinicalEventModel] = list(SCENARIOS[name].build(P))
    extra = sorted(drawn, key=lambda d: d[4])
    for offset, (minute, hr, temp, sbp, position) in enumerate(extra):
        vitals = P.vitals(minute + 0.5, hr=hr, temp=temp, sbp=sbp)
        events.insert(min(position + offset, len(events)), vitals)
    return events


def _one_by_one(events: list[ClinicalEventModel]) -> tuple[list[Alert], PatientState]:
    state = PatientState(patient_ref=P.ref)
    alerts: list[Alert] = []
    for event in events:
        alerts += clinical_step(state, event, RULES, NOW).alerts
    return alerts, state


def _batched(
    events: list[ClinicalEventModel], *, one_at_a_time: bool = False
) -> tuple[list[Alert], PatientState]:
    """Consecutive readings go as one batch, as a telemetry message delivers them (or each
    alone, as the clinical agent steps a reading of ``vitals.raw`` or ``vitals``)."""
    state = PatientState(patient_ref=P.ref)
    alerts: list[Alert] = []
    batch: list[VitalSigns] = []
    for event in [*events, None]:
        if isinstance(event, VitalSigns):
            batch.append(event)
            if not one_at_a_time:
                continue
            alerts += vitals_step(state, batch, RULES, NOW).alerts
            batch = []
            continue
        if batch:
            before = InfusionSnapshot.of(state)
            alerts += vitals_step(state, batch, RULES, NOW).alerts
            assert InfusionSnapshot.of(state) == before, "readings changed the infusion's snapshot"
            batch = []
        if event is not None:
            alerts += clinical_step(state, event, RULES, NOW).alerts
    return alerts, state


def _transitions(alerts: list[Alert]) -> set[tuple[str, AlertPhase]]:
    return {(a.alert_id, a.phase) for a in alerts if a.phase is not AlertPhase.UPDATE}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SCENARIOS)),
    drawn=readings,
    one_at_a_time=st.booleans(),
    # (The sets kept and pruned at once made few, so that sets fall off and are kept for R2
    # and pruned, as at 1 Hz over hours: 300 and 60 hold every set of these scenarios.)
    kept=st.sampled_from([VITALS_KEPT, 1, 2, 4, 8]),
    pruned=st.sampled_from([PRUNED_AT_ONCE, 0, 1, 3]),
)
def test_batched_readings_call_for_what_readings_one_by_one_call_for(
    name: str,
    drawn: list[tuple[int, int, float, int, int]],
    one_at_a_time: bool,
    kept: int,
    pruned: int,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state_module, "VITALS_KEPT", kept)
        patch.setattr(state_module, "PRUNED_AT_ONCE", pruned)
        _check_batched_against_one_by_one(name, drawn, one_at_a_time=one_at_a_time)


def _check_batched_against_one_by_one(
    name: str, drawn: list[tuple[int, int, float, int, int]], *, one_at_a_time: bool
) -> None:
    events = _arrivals(name, drawn)
    single_alerts, single_state = _one_by_one(events)
    batch_alerts, batch_state = _batched(events, one_at_a_time=one_at_a_time)
    if one_at_a_time:  # nothing to fold: the very same alerts, in the same order
        assert batch_alerts == single_alerts
    assert _transitions(batch_alerts) == _transitions(single_alerts)
    assert batch_state == single_state
    # The latest word on each episode is the same (an update may be folded into a later one).
    last_single = {a.alert_id: a for a in single_alerts}
    last_batch = {a.alert_id: a for a in batch_alerts}
    assert {k: (a.phase, a.priority, a.title) for k, a in last_batch.items()} == {
        k: (a.phase, a.priority, a.title) for k, a in last_single.items()
    }


def test_readings_with_no_report_near_and_no_open_episode_skip_the_rules() -> None:
    """The point of the batch path: a quiet patient's reading costs no rule evaluation."""
    state = PatientState(patient_ref=P.ref)
    clinical_step(state, P.start(), RULES, NOW)
    step = vitals_step(state, [P.vitals(10), P.vitals(11)], RULES, NOW)
    assert step.applied
    assert not step.alerts
    assert step.before is None, "readings take no snapshot"
    assert step.after is None
    assert len(state.readings) == 2


def test_an_abnormal_reading_near_a_report_raises_r2_from_a_batch() -> None:
    state = PatientState(patient_ref=P.ref)
    for event in [P.start(), P.pain(30, 4)]:
        clinical_step(state, event, RULES, NOW)
    step = vitals_step(state, [P.vitals(34), P.vitals(35, temp=38.3)], RULES, NOW)
    assert [(a.rule, a.phase) for a in step.alerts] == [("R2", AlertPhase.START)]


def test_a_repeated_batch_changes_nothing() -> None:
    state = PatientState(patient_ref=P.ref)
    clinical_step(state, P.start(), RULES, NOW)
    batch = [P.vitals(10), P.vitals(11)]
    assert vitals_step(state, batch, RULES, NOW).applied
    again = vitals_step(state, batch, RULES, NOW)
    assert again.duplicate
    assert not again.applied
    assert again.duplicate_count == 2


def test_a_batch_read_partly_again_counts_its_readings_applied_already() -> None:
    """After a rebalance a worker reads again what it had not committed; each reading applied
    already is counted (``pumpstream_duplicate_events_total``), the new ones are applied."""
    state = PatientState(patient_ref=P.ref)
    clinical_step(state, P.start(), RULES, NOW)
    first, second, third = P.vitals(10), P.vitals(11), P.vitals(12)
    assert vitals_step(state, [first, second], RULES, NOW).duplicate_count == 0
    step = vitals_step(state, [first, second, third], RULES, NOW)
    assert step.applied
    assert step.duplicate_count == 2
    assert len(state.readings) == 3
