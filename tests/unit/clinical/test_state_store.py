"""The in-memory patient states and their checkpoint: records per dirty patient per commit (a
base, then deltas and a core when it changed: streams/clinical/state_changelog.py), encoded when
the commit begins and written before its offsets are committed, recovered values assembled on
first use into the same state."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clinical import state, state_changelog, state_store
from streams.clinical.infusion_state import RatePoint
from streams.clinical.state import PatientState
from streams.clinical.state_changelog import (
    Recovered,
    StateDelta,
    assemble,
    core_key,
    decode_delta,
    delta_key,
    encode_delta,
    kind_of,
    regroup,
)
from streams.clinical.state_store import PatientStates, Sender
from streams.clinical.step import clinical_step
from tests.support.clinical_scenarios import NOW, RULES, SCENARIOS
from tests.support.events import Patient


class _Table:
    """What PatientStates uses of a Faust table (its store) and a changelog to send to."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.changelog: list[tuple[int, str, bytes | None]] = []

    async def send(self, partition: int, key: str, value: bytes | None) -> Awaitable[None]:
        self.changelog.append((partition, key, value))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered

    def recovered(self, send: Sender | None = None) -> PatientStates:
        """The states a new worker recovers from this changelog, as Faust's memory store
        applies it (the last value per key; a tombstone deletes), which is also what a
        compacted changelog keeps; then the recovery callback. It writes to the same
        changelog (with ``send``, or as this table does)."""
        table = _Table()
        table.changelog = self.changelog
        for _, key, value in self.changelog:
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value
        regroup(table.data)
        return PatientStates(table, send or table.send)

    def written_keys(self) -> list[str]:
        return [key for _, key, _ in self.changelog]


def _states(table: _Table) -> PatientStates:
    return PatientStates(table, table.send)


P = Patient("pt-store")
Q = Patient("pt-other")


async def test_a_base_per_dirty_patient_first_then_only_what_changed() -> None:
    table = _Table()
    states = _states(table)
    for event in [P.start(), P.rate(30, 84.0), P.vitals(35), Q.start(), P.pain(40, 6)]:
        state = states.get(event.patient_ref)
        clinical_step(state, event, RULES, NOW)
        states.mark_dirty(event.patient_ref, 3 if event.patient_ref == P.ref else 1)
    assert table.changelog == [], "nothing is written per event, only when a commit asks"
    assert await states.write_checkpoint() == 2
    assert sorted((p, k) for p, k, _ in table.changelog) == [(1, Q.ref), (3, P.ref)]
    written = {k: v for _, k, v in table.changelog}
    assert PatientState.from_table_value(P.ref, written[P.ref]) == states.get(P.ref)
    assert await states.write_checkpoint() == 0, "a checkpoint with nothing dirty writes nothing"
    assert states.records_written == Counter(base=2)
    assert states.bytes_written == Counter(base=sum(len(v or b"") for v in written.values()))

    for minute in (41, 42, 43):  # normal vital signs change the sets and scalars alone
        clinical_step(states.get(P.ref), P.vitals(minute), RULES, NOW)
    states.mark_dirty(P.ref, 3)
    await states.write_checkpoint()
    assert table.written_keys()[2:] == [delta_key(P.ref, 2)]
    delta = decode_delta(table.changelog[-1][2] or b"")
    assert [r.event_id for r in delta.readings] == [P.vitals(m).event_id for m in (41, 42, 43)]
    assert delta.last_arrival_epoch_s == states.get(P.ref).last_arrival_epoch_s

    clinical_step(states.get(P.ref), P.rate(50, 60.0), RULES, NOW)  # the core changes
    states.mark_dirty(P.ref, 3)
    await states.write_checkpoint()
    assert table.written_keys()[3:] == [core_key(P.ref), delta_key(P.ref, 3)]
    assert table.recovered().get(P.ref) == states.get(P.ref)

    await _checkpoint(states, [P.vitals(51)], partition=3)
    assert table.written_keys()[5:] == [delta_key(P.ref, 4), delta_key(P.ref, 3)]
    assert table.changelog[-1][2] is None, "a delta without sets, superseded, is removed"
    assert table.recovered().get(P.ref) == states.get(P.ref)


async def test_a_delta_holds_the_sets_added_since_the_last_that_are_kept_late_ones_too() -> None:
    """The marks count the newest sets added since the last checkpoint instead of holding them
    (``ChangelogMarks.unwritten_newest``); a late set, older than one written, is held
    (``unwritten_late``). A delta holds both, and sets added and fallen off since, none."""
    table = _Table()
    states = _states(table)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state, "VITALS_KEPT", 5)
        patch.setattr(state_changelog, "VITALS_KEPT", 5)

        async def delta_after(minutes: list[float]) -> list[float]:
            before = len(table.changelog)
            await _checkpoint(states, [P.vitals(m) for m in minutes], partition=0)
            assert table.recovered().get(P.ref) == states.get(P.ref)
            (value,) = [
                v for _, k, v in table.changelog[before:] if v is not None and k != core_key(P.ref)
            ]
            delta = decode_delta(value)
            return [(r.event_time - P.at(0)).total_seconds() / 60 for r in delta.readings]

        await _checkpoint(states, [P.start()], partition=0)  # (a base)
        assert await delta_after([1, 2, 3]) == [1, 2, 3]
        assert await delta_after([4, 2.5]) == [2.5, 4], "a late one, older than 3 written"
        assert await delta_after([5, 4.5]) == [4.5, 5], "4.5 is newer than every one written"
        # 8 sets for 5 kept: 6-8 pushed out 2.5, 3 and 4 (the oldest), then 5.5 came late.
        assert await delta_after([6, 7, 8, 9, 10, 11, 5.5, 12]) == [8, 9, 10, 11, 12]
        assert [v.event_time for v in states.get(P.ref).readings] == [
            P.at(m) for m in (8, 9, 10, 11, 12)
        ]


async def test_recovery_assembles_each_patients_records_and_then_writes_a_base() -> None:
    table = _Table()
    states = _states(table)
    await _checkpoint(states, [P.start(), Q.start()])
    await _checkpoint(states, [P.vitals(1), P.vitals(2), Q.vitals(1)])
    await _checkpoint(states, [P.pain(3, 6), P.vitals(3)])
    recovered_table = _Table()
    recovered_table.data = {k: v for _, k, v in table.changelog if v is not None}
    again = _states(recovered_table)
    await again.regroup_recovered()
    assert sorted(recovered_table.data) == [Q.ref, P.ref], "cores and deltas gathered"
    assert sorted(ref for ref, _ in again.items()) == [Q.ref, P.ref]
    assert again.get(P.ref) == states.get(P.ref)
    assert again.get(Q.ref) == states.get(Q.ref)
    clinical_step(again.get(P.ref), P.vitals(4), RULES, NOW)
    again.mark_dirty(P.ref, 0)
    await again.write_checkpoint()
    assert recovered_table.written_keys()[0] == P.ref, (
        "the first checkpoint after recovery is a base"
    )
    assert set(recovered_table.written_keys()[1:]) == {core_key(P.ref)} | {
        k for k in table.written_keys() if k.startswith(f"{P.ref}/") and k != core_key(P.ref)
    }, "which removes the records it supersedes"
    assert all(v is None for _, _, v in recovered_table.changelog[1:])


async def test_recovered_patients_are_written_whole_a_few_per_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker that recovered thousands of patients must not write each whole state in its
    first commit: beyond the budget, a recovered patient goes on with deltas."""
    table = _Table()
    states = _states(table)
    await _checkpoint(states, [P.start(), Q.start(), P.vitals(1), Q.vitals(1)])
    await _checkpoint(states, [P.vitals(2), Q.vitals(2)])
    monkeypatch.setattr(state_store, "RECOVERED_BASES_PER_CHECKPOINT", 1)
    again = table.recovered()
    already = len(table.changelog)
    await _checkpoint(again, [P.vitals(3), Q.vitals(3)])
    kinds = sorted(kind_of(k) for _, k, v in table.changelog[already:] if v is not None)
    assert kinds == ["base", "delta"], "one written whole, one a delta (its core is unchanged)"
    assert again.records_written == Counter(base=1, delta=1, tombstone=1)
    third = table.recovered()
    assert third.get(P.ref) == again.get(P.ref)
    assert third.get(Q.ref) == again.get(Q.ref)
    already = len(table.changelog)
    await _checkpoint(again, [P.vitals(4), Q.vitals(4)])
    assert sorted(kind_of(k) for _, k, v in table.changelog[already:] if v is not None) == [
        "base",
        "delta",
    ], "the other's turn"


async def _checkpoint(states: PatientStates, events: list[Any], partition: int = 0) -> None:
    for event in events:
        clinical_step(states.get(event.patient_ref), event, RULES, NOW)
        states.mark_dirty(event.patient_ref, partition)
    await states.write_checkpoint()


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


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("vitals"), st.integers(min_value=-20, max_value=400)),
            st.tuples(st.just("pain"), st.integers(min_value=0, max_value=400)),
            st.tuples(st.just("rate"), st.integers(min_value=1, max_value=400)),
            st.tuples(st.just("checkpoint"), st.just(0)),
            st.tuples(st.just("fail"), st.just(0)),
            st.tuples(st.just("tombstones fail"), st.just(0)),
            st.tuples(st.just("restart"), st.just(0)),
        ),
        max_size=120,
    ),
    kept=st.integers(min_value=2, max_value=12),
    rebases=st.integers(min_value=0, max_value=1),
)
def test_the_changelog_holds_the_state_after_every_commit(
    steps: list[tuple[str, int]], kept: int, rebases: int
) -> None:
    """Whatever the events (sets late, duplicate, trimmed off the kept ones, abnormal ones kept
    for R2), commits, failed writes (of everything, or of the tombstones alone) and restarts
    (a worker going on with deltas from what it recovered, or writing it whole): recovering
    the changelog as it stands after each commit that wrote its records gives the state as it
    was when that commit began."""
    asyncio.run(_commits(steps, kept, rebases))


async def _commits(steps: list[tuple[str, int]], kept: int, rebases: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state, "VITALS_KEPT", kept)
        patch.setattr(state_changelog, "VITALS_KEPT", kept)
        patch.setattr(state_store, "RECOVERED_BASES_PER_CHECKPOINT", rebases)
        table = _Table()
        failing = ""

        async def send(partition: int, key: str, value: bytes | None) -> Awaitable[None]:
            if failing == "fail" or (failing == "tombstones fail" and value is None):
                raise KafkaTimeoutError()
            return await table.send(partition, key, value)

        states = PatientStates(table, send)
        clinical_step(states.get(P.ref), P.start(), RULES, NOW)
        states.mark_dirty(P.ref, 0)
        for kind, minute in [*steps, ("checkpoint", 0)]:
            if kind == "restart":
                states = table.recovered(send)
                continue
            if kind in ("checkpoint", "fail", "tombstones fail"):
                failing = kind
                expected = states.get(P.ref).model_copy(deep=True)
                try:
                    await states.write_checkpoint()
                except KafkaTimeoutError:
                    assert failing != "checkpoint"
                    if failing == "fail":
                        continue
                # (Tombstones that failed leave deltas recovery does not need.)
                assert table.recovered().get(P.ref) == expected
                continue
            event = {
                "vitals": lambda m: P.vitals(m, hr=70 + (m * 7) % 70),
                "pain": lambda m: P.pain(m, 6),
                "rate": lambda m: P.rate(m, 60.0 + m % 5),
            }[kind](minute)
            clinical_step(states.get(P.ref), event, RULES, NOW)
            states.mark_dirty(P.ref, 0)
        compacted = {k: v for _, k, v in table.changelog}
        # (The core, ``ref/c``, is not a delta. Counted with them, kept + 1 deltas and a core
        # failed the bound: hypothesis found two late sets, the second falling off at once.)
        deltas = [
            k
            for k, v in compacted.items()
            if v is not None and k.startswith(f"{P.ref}/") and k != core_key(P.ref)
        ]
        assert len(deltas) <= kept + 1, "a delta stays only while a set of it is kept"


async def test_a_checkpoint_yields_between_slices_and_waits_for_what_steps_sent_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit of many patients lets other work in between slices; a step handled meanwhile
    is either in this checkpoint or the next, and its alerts are delivered before any record
    is written."""
    monkeypatch.setattr(state_store, "SLICE", 2)
    table = _Table()
    states = _states(table)
    patients = [Patient(f"pt-{n}") for n in range(6)]
    await _checkpoint(states, [p.start() for p in patients])
    for patient in patients:
        clinical_step(states.get(patient.ref), patient.vitals(1), RULES, NOW)
        states.mark_dirty(patient.ref, 0)
    already = len(table.changelog)
    alert: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def a_step_meanwhile() -> None:
        await asyncio.sleep(0)  # the checkpoint has encoded its first slice
        first = patients[0]
        clinical_step(states.get(first.ref), first.pain(2, 6), RULES, NOW)
        states.sent(alert)
        states.mark_dirty(first.ref, 0)

    stepping = asyncio.create_task(a_step_meanwhile())
    writing = asyncio.create_task(states.write_checkpoint())
    await stepping
    await asyncio.sleep(0.05)
    assert not writing.done(), "waits for the alert"
    assert len(table.changelog) == already
    alert.set_result(None)
    assert await writing == len(patients)
    assert states.dirty_count == 1, "the patient stepped meanwhile goes again with the next"
    await states.write_checkpoint()
    again = table.recovered()
    for patient in patients:
        assert again.get(patient.ref) == states.get(patient.ref)


def test_a_record_older_than_the_base_is_ignored() -> None:
    """A core or delta left over from before a base (its tombstone never written) changes
    nothing."""
    original = PatientState(patient_ref=P.ref)
    clinical_step(original, P.start(), RULES, NOW)
    clinical_step(original, P.vitals(1), RULES, NOW)
    original.changelog_seq = 5
    stale = PatientState(patient_ref=P.ref)
    clinical_step(stale, P.vitals(0, hr=150), RULES, NOW)
    recovered = Recovered(
        base=original.to_table_value(),
        core=b'{"seq":4,"core":%s}' % stale.model_dump_json().encode(),
        deltas=[encode_delta(StateDelta(seq=5, readings=stale.readings, last_arrival_epoch_s=1.0))],
    )
    assert assemble(P.ref, recovered) == original


async def test_records_are_written_once_the_alerts_of_their_steps_are_delivered() -> None:
    """A checkpoint must not reach the broker before the alerts of the steps it holds: killed in
    between, the worker's successor would read those steps again as duplicates and alert
    nothing."""
    table = _Table()
    states = _states(table)
    alert: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clinical_step(states.get(P.ref), P.start(), RULES, NOW)
    states.sent(alert)  # the step's alert, still in the producer's buffer
    states.mark_dirty(P.ref, 0)
    writing = asyncio.create_task(states.write_checkpoint())
    await asyncio.sleep(0.05)
    assert table.changelog == [], "written before the alert was delivered"
    alert.set_exception(KafkaTimeoutError())  # delivered or failed: either way it is settled
    assert await writing == 1
    assert [k for _, k, _ in table.changelog] == [P.ref]
    assert await states.write_checkpoint() == 0, "nothing waits twice"


async def test_what_a_step_held_back_is_handed_over_before_the_records_wait_for_it() -> None:
    """A step's output that is held back to be sent in a batch (the validated copies:
    streams/kafka/batched_sends.py) has no delivery yet when the step ends: the checkpoint
    asks for it first (``before_outputs``), then waits for its delivery like an alert's."""
    table = _Table()
    states = _states(table)
    copy: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    held_back = [copy]

    async def hand_over() -> None:
        for delivery in held_back:
            states.sent(delivery)
        held_back.clear()

    states.before_outputs.append(hand_over)
    clinical_step(states.get(P.ref), P.start(), RULES, NOW)
    states.mark_dirty(P.ref, 0)
    writing = asyncio.create_task(states.write_checkpoint())
    await asyncio.sleep(0.05)
    assert held_back == [], "not asked for what was held back"
    assert table.changelog == [], "written before the held-back copy was delivered"
    copy.set_result(None)
    assert await writing == 1
    assert [k for _, k, _ in table.changelog] == [P.ref]


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
    with pytest.raises(TimeoutError, match="not delivered"):
        await states.write_checkpoint()
    assert table.changelog == []
    monkeypatch.setattr(state_store, "OUTPUTS_TIMEOUT_S", 120.0)
    alert.set_result(None)  # delivered at last
    assert states.dirty_count == 1, "kept for the next commit, not dropped"
    assert await states.write_checkpoint() == 1
    assert [k for _, k, _ in table.changelog] == [P.ref]


async def test_a_failed_write_fails_the_commit_and_the_next_one_writes_a_base() -> None:
    table = _Table()
    reachable = True

    async def send(partition: int, key: str, value: bytes | None) -> Awaitable[None]:
        if reachable:
            return await table.send(partition, key, value)
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_exception(KafkaTimeoutError())
        return delivered

    states = PatientStates(table, send)
    await _checkpoint(states, [P.start(), P.vitals(1)])
    reachable = False
    clinical_step(states.get(P.ref), P.vitals(2), RULES, NOW)
    states.mark_dirty(P.ref, 0)
    with pytest.raises(KafkaTimeoutError):
        await states.write_checkpoint()
    reachable = True
    assert states.dirty_count == 1
    await states.write_checkpoint()
    # A base again (the delta may be lost or written), which removes that delta.
    assert table.written_keys() == [P.ref, P.ref, delta_key(P.ref, 2)]
    assert table.changelog[-1][2] is None
    assert table.recovered().get(P.ref) == states.get(P.ref)


async def test_a_tombstone_that_failed_never_removes_a_record_written_since() -> None:
    """A core removed with a base (its tombstone failed, kept for the next commit) and then
    written again must stay: the old tombstone is dropped, not sent after the new core."""
    table = _Table()
    tombstones_fail = False

    async def send(partition: int, key: str, value: bytes | None) -> Awaitable[None]:
        if value is None and tombstones_fail:
            raise KafkaTimeoutError()
        return await table.send(partition, key, value)

    states = PatientStates(table, send)
    await _checkpoint(states, [P.start()])
    await _checkpoint(states, [P.rate(5, 84.0)])  # a core
    again = table.recovered(send)
    tombstones_fail = True
    with pytest.raises(KafkaTimeoutError):
        await _checkpoint(again, [P.vitals(6)])  # a base: its core tombstone fails
    tombstones_fail = False
    await _checkpoint(again, [P.rate(7, 60.0)])  # a new core
    assert table.recovered().get(P.ref) == again.get(P.ref)
