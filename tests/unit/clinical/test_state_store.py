"""The in-memory patient states and their checkpoint: one snapshot per dirty patient per commit,
encoded when the commit begins and written before its offsets are committed, recovered values
decoded on first use, a snapshot that restores the same state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clinical import state_store
from streams.clinical.infusion_state import RatePoint
from streams.clinical.state import ADDED_TABLE_FIELDS, VITALS_KEPT, PatientState
from streams.clinical.state_store import PatientStates
from streams.clinical.step import clinical_step
from tests.support.clinical_scenarios import NOW, RULES, SCENARIOS
from tests.support.events import Patient


class _Table:
    """What PatientStates uses of a Faust table (its store) and a changelog to send to."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.changelog: list[tuple[int, str, bytes]] = []

    async def send(self, partition: int, key: str, value: bytes) -> Awaitable[None]:
        self.changelog.append((partition, key, value))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


def _states(table: _Table) -> PatientStates:
    return PatientStates(table, table.send)


P = Patient("pt-store")
Q = Patient("pt-other")


async def test_one_snapshot_per_dirty_patient_per_checkpoint() -> None:
    table = _Table()
    states = _states(table)
    for event in [P.start(), P.rate(30, 84.0), P.vitals(35), Q.start(), P.pain(40, 6)]:
        state = states.get(event.patient_ref)
        clinical_step(state, event, RULES, NOW)
        states.mark_dirty(event.patient_ref, 3 if event.patient_ref == P.ref else 1)
    assert table.changelog == [], "nothing is written per event"
    assert states.checkpoint() == 2
    assert table.changelog == [], "encoded when the commit begins, written before it commits"
    assert await states.write_checkpoint() == 2
    assert sorted((p, k) for p, k, _ in table.changelog) == [(1, Q.ref), (3, P.ref)]
    assert states.checkpoint() == 0, "a checkpoint with nothing dirty writes nothing"
    assert await states.write_checkpoint() == 0
    written = {k: v for _, k, v in table.changelog}
    assert PatientState.from_table_value(P.ref, written[P.ref]) == states.get(P.ref)
    assert states.snapshots_written == 2
    assert states.snapshot_bytes_written == sum(len(v) for v in written.values())


def test_a_recovered_value_is_decoded_once_and_then_kept_as_an_object() -> None:
    original = PatientState(patient_ref=P.ref)
    clinical_step(original, P.start(), RULES, NOW)
    table = _Table()
    table.data[P.ref] = original.to_table_value()  # what changelog recovery leaves in the store
    states = _states(table)
    state = states.get(P.ref)
    assert state == original
    assert table.data[P.ref] is state
    assert [ref for ref, _ in states.items()] == [P.ref]


def test_a_patient_never_seen_gets_a_fresh_state() -> None:
    states = _states(_Table())
    assert states.get("pt-new") == PatientState(patient_ref="pt-new")


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(SCENARIOS)), cut=st.integers(min_value=0, max_value=8))
def test_a_step_on_a_working_copy_never_touches_the_state_it_was_copied_from(
    name: str, cut: int
) -> None:
    """The clinical agent steps a working copy and keeps it only on success, so a step that
    raises half-way must have changed nothing the original holds."""
    events = SCENARIOS[name].build(P)
    state = PatientState(patient_ref=P.ref)
    for event in events[:cut]:
        clinical_step(state, event, RULES, NOW)
    before = state.model_dump_json(), _rate_histories(state)
    for event in events[cut:]:
        copy = state.working_copy()
        clinical_step(copy, event, RULES, NOW)
        assert (state.model_dump_json(), _rate_histories(state)) == before, "the original changed"
        state = copy
        before = state.model_dump_json(), _rate_histories(state)


def _rate_histories(state: PatientState) -> list[list[RatePoint]]:
    """The infusions' rate histories: kept beside the facts, not in the table value."""
    return [list(infusion.rate_history) for infusion in state.infusions()]


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(
        st.integers(min_value=-30, max_value=600), min_size=1, max_size=VITALS_KEPT + 40
    ),
    snapshot_every=st.integers(min_value=1, max_value=50),
    copy_every=st.integers(min_value=1, max_value=50),
)
def test_snapshots_joining_each_readings_json_are_the_same_bytes(
    minutes: list[int], snapshot_every: int, copy_every: int
) -> None:
    """The readings' JSON, encoded once per set as the state takes it and joined by each
    snapshot, gives the bytes encoding the whole state gives, whatever the readings' order,
    duplicates, trimming and working copies (the clinical agent steps a copy)."""
    state = PatientState(patient_ref=P.ref)
    clinical_step(state, P.start(), RULES, NOW)
    for n, minute in enumerate(minutes):
        if n % copy_every == 0:
            original, state = state, state.working_copy()
        clinical_step(state, P.vitals(minute, hr=70 + minute % 40), RULES, NOW)
        if n % copy_every == 0:
            assert original.to_table_value() == _encoded_afresh(original), "the original"
        if n % snapshot_every == 0 or n == len(minutes) - 1:
            assert state.to_table_value() == _encoded_afresh(state)


def _encoded_afresh(state: PatientState) -> bytes:
    empty = {name for name in ADDED_TABLE_FIELDS if not getattr(state, name)}
    return state.model_dump_json(exclude=empty).encode()


async def test_the_checkpoint_writes_what_the_state_alone_writes() -> None:
    table = _Table()
    states = _states(table)
    for minute in range(0, 40, 5):
        state = states.get(P.ref)
        clinical_step(state, P.vitals(minute), RULES, NOW)
        states.mark_dirty(P.ref, 0)
        states.checkpoint()
        await states.write_checkpoint()
    assert [value for _, _, value in table.changelog][-1] == states.get(P.ref).to_table_value()
    assert len(table.changelog) == 8


async def test_a_snapshot_encoded_is_the_state_when_the_commit_began() -> None:
    """Events handled while the snapshots are written belong to the next commit: the snapshot
    written is the state as it was when the commit took its offsets."""
    table = _Table()
    states = _states(table)
    state = states.get(P.ref)
    clinical_step(state, P.start(), RULES, NOW)
    states.mark_dirty(P.ref, 0)
    states.checkpoint()
    at_commit = state.to_table_value()
    clinical_step(state, P.rate(30, 84.0), RULES, NOW)  # before the snapshot is written
    states.mark_dirty(P.ref, 0)
    await states.write_checkpoint()
    assert table.changelog == [(0, P.ref, at_commit)]
    states.checkpoint()
    await states.write_checkpoint()
    assert table.changelog[-1] == (0, P.ref, state.to_table_value())


async def test_snapshots_not_yet_written_are_superseded_by_newer_ones() -> None:
    table = _Table()
    states = _states(table)
    for minute in (0, 5):
        state = states.get(P.ref)
        clinical_step(state, P.vitals(minute), RULES, NOW)
        states.mark_dirty(P.ref, 2)
        assert states.checkpoint() == 1
    assert await states.write_checkpoint() == 1
    assert table.changelog == [(2, P.ref, states.get(P.ref).to_table_value())]


async def test_snapshots_are_written_once_the_alerts_of_their_steps_are_delivered() -> None:
    """A snapshot must not reach the broker before the alerts of the steps it holds: killed in
    between, the worker's successor would read those steps again as duplicates and alert
    nothing."""
    table = _Table()
    states = _states(table)
    loop = asyncio.get_running_loop()
    alert: asyncio.Future[None] = loop.create_future()
    clinical_step(states.get(P.ref), P.start(), RULES, NOW)
    states.sent(alert)  # the step's alert, still in the producer's buffer
    states.mark_dirty(P.ref, 0)
    states.checkpoint()
    later: asyncio.Future[None] = loop.create_future()
    states.sent(later)  # a step after the commit began: the next snapshots wait for it
    writing = asyncio.create_task(states.write_checkpoint())
    await asyncio.sleep(0.05)
    assert table.changelog == [], "written before the alert was delivered"
    alert.set_exception(KafkaTimeoutError())  # delivered or failed: either way it is settled
    assert await writing == 1
    assert [k for _, k, _ in table.changelog] == [P.ref]
    states.checkpoint()
    writing = asyncio.create_task(states.write_checkpoint())
    await asyncio.sleep(0.05)
    assert not writing.done(), "the next checkpoint waits for the later step's alert"
    later.set_result(None)
    await writing


async def test_a_commit_gives_up_on_alerts_never_delivered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state_store, "OUTPUTS_TIMEOUT_S", 0.05)
    table = _Table()
    states = _states(table)
    alert: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    states.sent(alert)
    clinical_step(states.get(P.ref), P.start(), RULES, NOW)
    states.mark_dirty(P.ref, 0)
    states.checkpoint()
    with pytest.raises(TimeoutError, match="not delivered"):
        await states.write_checkpoint()
    assert table.changelog == []
    monkeypatch.setattr(state_store, "OUTPUTS_TIMEOUT_S", 120.0)
    alert.set_result(None)  # delivered at last
    assert await states.write_checkpoint() == 1, "kept for the next commit, not dropped"
    assert [k for _, k, _ in table.changelog] == [P.ref]


async def test_a_failed_write_fails_the_commit() -> None:
    table = _Table()

    async def unreachable(partition: int, key: str, value: bytes) -> Awaitable[None]:
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_exception(KafkaTimeoutError())
        return delivered

    states = PatientStates(table, unreachable)
    clinical_step(states.get(P.ref), P.start(), RULES, NOW)
    states.mark_dirty(P.ref, 0)
    states.checkpoint()
    with pytest.raises(KafkaTimeoutError):
        await states.write_checkpoint()
