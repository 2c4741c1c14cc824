"""Patient state kept in memory, written to the changelog once per commit (the checkpoint
pattern of Kafka Streams' record cache and Quix Streams).

The clinical agent used to load each patient's state from its JSON table value and store it back
on every event: the cost of one event grew with the patient's history (docs/benchmarks.md). Now:

- the state is a mutable :class:`PatientState` in the table's memory store (``table.data``,
  which holds Python objects and sends nothing); a value recovered from the changelog is still
  bytes there and is decoded on first use;
- each event marks its patient dirty with the partition it arrived on;
- when Faust begins a commit (:class:`CheckpointSensor`, ``on_commit_initiated``) every dirty
  patient's state goes to the changelog as one snapshot, in the producer's buffer; Faust then
  flushes the producer and only after that commits the source offsets;
- a snapshot joins the JSON of the kept vital-signs sets, each encoded once when the state took
  it (``PatientState.add_reading``; the sets never change): the same bytes, at a fraction of the
  time.

So whatever a committed offset covers is in the changelog, and recovery (the last snapshot, then
the events after the committed offset, duplicates recognised by event id) rebuilds the state
exactly under at-least-once. The agent handles a message without yielding to the event loop
between the step and its output (``send_soon``), so a snapshot never holds a step whose alerts
are not yet in the producer's buffer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust

from streams.clinical.state import PatientState


class PatientStates:
    """The owned patients' states: in memory, snapshotted to the table's changelog on commit."""

    def __init__(self, table: Any) -> None:
        self._table = table
        #: patient_ref -> the partition its events arrive on (its changelog partition).
        self._dirty: dict[str, int] = {}
        self.snapshots_written = 0
        self.snapshot_bytes_written = 0

    def get(self, patient_ref: str) -> PatientState:
        """The patient's state (a new one for a patient not seen before)."""
        store = self._table.data
        value = store.get(patient_ref)
        if isinstance(value, PatientState):
            return value
        state = PatientState.from_table_value(patient_ref, value)
        store[patient_ref] = state
        return state

    def put(self, state: PatientState) -> None:
        """Keep ``state`` as its patient's (a working copy a step succeeded on)."""
        self._table.data[state.patient_ref] = state

    def mark_dirty(self, patient_ref: str, partition: int) -> None:
        self._dirty[patient_ref] = partition

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def items(self) -> Iterator[tuple[str, PatientState]]:
        """Every patient held (decoding any still in their recovered form)."""
        for patient_ref in list(self._table.data.keys()):
            yield patient_ref, self.get(patient_ref)

    def checkpoint(self) -> int:
        """Send one snapshot per dirty patient to the changelog (buffered: the commit flushes the
        producer before it commits offsets); the number sent."""
        dirty, self._dirty = self._dirty, {}
        store = self._table.data
        for patient_ref, partition in dirty.items():
            state = store.get(patient_ref)
            if not isinstance(state, PatientState):
                continue  # recovered from the changelog meanwhile: it holds this state already
            value = state.to_table_value()
            self._table.send_changelog(partition, patient_ref, value)
            self.snapshots_written += 1
            self.snapshot_bytes_written += len(value)
        return len(dirty)


class CheckpointSensor(faust.Sensor):
    """Writes the dirty patients' snapshots when Faust begins a commit (``on_commit_initiated``
    runs before the producer flush and the offset commit in ``Consumer.force_commit``)."""

    def __init__(self, states: PatientStates, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._states = states

    def on_commit_initiated(self, consumer: Any) -> Any:
        # An error here propagates into Faust's commit, which then does not commit: the worker
        # stops, and its successor rebuilds the state from the last snapshot and the events
        # after the last committed offset. Better than committing what no snapshot holds.
        self._states.checkpoint()
        return None


def register_checkpoints(app: faust.App, table: Any) -> PatientStates:
    """The patients' states over ``table`` and the sensor that checkpoints them on commit."""
    states = PatientStates(table)
    app.sensors.add(CheckpointSensor(states))
    return states
