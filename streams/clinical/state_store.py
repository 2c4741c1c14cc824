"""Patient state kept in memory, written to the changelog once per commit (the checkpoint
pattern of Kafka Streams' record cache and Quix Streams).

The clinical agent used to load each patient's state from its JSON table value and store it back
on every event: the cost of one event grew with the patient's history (docs/benchmarks.md). Now:

- the state is a mutable :class:`PatientState` in the table's memory store (``table.data``,
  which holds Python objects and sends nothing); a value recovered from the changelog is still
  bytes there and is decoded on first use;
- each event marks its patient dirty with the partition it arrived on;
- when Faust begins a commit (:class:`CheckpointSensor`, ``on_commit_initiated``, in the same
  step as it takes the offsets to commit) every dirty patient's state is encoded as one
  snapshot; the worker's consumer then hands them to the producer before anything is committed
  (``PumpstreamApp.before_offsets_commit``, streams/kafka/transport.py); Faust flushes the
  producer and only after that commits the source offsets;
- a snapshot joins the JSON of the kept vital-signs sets, each encoded once when the state took
  it (``PatientState.add_reading``; the sets never change): the same bytes, at a fraction of the
  time.

The snapshots go to the producer directly, once what the steps they hold sent is delivered (the
futures of their alerts, :meth:`PatientStates.sent`), not through Faust's producer buffer
(``send_changelog``): that buffer sends one message at a time, and a commit's thousands of
snapshots queued there held up every alert behind them (report -> alert p99 2.6-5.3 s under
10,000 readings/s; 0.5-0.8 s now: docs/benchmarks.md).

So whatever a committed offset covers is in the changelog, and recovery (the last snapshot, then
the events after the committed offset, duplicates recognised by event id) rebuilds the state
exactly under at-least-once. The agent handles a message without yielding to the event loop
between the step and its output (``send_soon``, its future handed to :meth:`PatientStates.sent`),
so a snapshot never holds a step whose alerts are not yet in the producer's buffer, and it is
written only once they are delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import faust

from streams.clinical.state import PatientState
from streams.kafka.transport import PumpstreamApp

#: How long a commit waits for the alerts of the steps it snapshots before it gives up (and
#: commits nothing): longer than the producer's retries of a reachable broker.
OUTPUTS_TIMEOUT_S = 120.0

#: Sends one snapshot (changelog partition, patient ref, value); returns its delivery to await.
Sender = Callable[[int, str, bytes], Awaitable[Awaitable[Any]]]


class PatientStates:
    """The owned patients' states: in memory, snapshotted to the table's changelog on commit."""

    def __init__(self, table: Any, send: Sender) -> None:
        self._table = table
        self._send = send
        #: What steps sent (alerts, ledger records) since the last checkpoint began, and what
        #: the steps of the snapshots not yet written sent: delivered before those snapshots.
        self._outputs: list[asyncio.Future[Any]] = []
        self._pending_outputs: list[asyncio.Future[Any]] = []
        #: patient_ref -> the partition its events arrive on (its changelog partition).
        self._dirty: dict[str, int] = {}
        #: patient_ref -> (changelog partition, snapshot): encoded, not yet handed to the producer.
        self._pending: dict[str, tuple[int, bytes]] = {}
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

    def sent(self, delivery: asyncio.Future[Any]) -> None:
        """A step's output (``send_soon``'s future): the next snapshots wait for it."""
        self._outputs.append(delivery)

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def items(self) -> Iterator[tuple[str, PatientState]]:
        """Every patient held (decoding any still in their recovered form)."""
        for patient_ref in list(self._table.data.keys()):
            yield patient_ref, self.get(patient_ref)

    def checkpoint(self) -> int:
        """Encode one snapshot per dirty patient, as the patient is now (without yielding: the
        commit takes its offsets in the same step); :meth:`write_checkpoint` sends them. The
        number encoded."""
        dirty, self._dirty = self._dirty, {}
        self._pending_outputs += self._outputs
        self._outputs = []
        store = self._table.data
        encoded = 0
        for patient_ref, partition in dirty.items():
            state = store.get(patient_ref)
            if not isinstance(state, PatientState):
                continue  # recovered from the changelog meanwhile: it holds this state already
            self._pending.pop(patient_ref, None)  # a newer snapshot goes after the older ones
            self._pending[patient_ref] = (partition, state.to_table_value())
            encoded += 1
        return encoded

    async def write_checkpoint(self) -> int:
        """Hand the encoded snapshots to the producer and wait until the broker has them (an
        error stops the commit); the number written. Called before offsets are committed."""
        pending, self._pending = self._pending, {}
        outputs, self._pending_outputs = self._pending_outputs, []
        # What the snapshotted steps sent (their alerts and ledger records, in Faust's producer
        # buffer) reaches the broker before the snapshots do: a worker killed in between must
        # not leave a snapshot holding a step whose alerts were never sent (its successor would
        # read the step again as a duplicate and send nothing). A failed send is reported where
        # every failed send is (streams/kafka/produce_failures.py); it does not stop the commit.
        try:
            if outputs:
                _, undelivered = await asyncio.wait(outputs, timeout=OUTPUTS_TIMEOUT_S)
                if undelivered:
                    raise TimeoutError(
                        f"{len(undelivered)} alerts or ledger records not delivered within "
                        f"{OUTPUTS_TIMEOUT_S:.0f} s: the snapshots that hold their steps are "
                        "not written and the offsets not committed (the next worker reads "
                        "them again)"
                    )
            deliveries = []
            for patient_ref, (partition, value) in pending.items():
                deliveries.append(await self._send(partition, patient_ref, value))
                self.snapshots_written += 1
                self.snapshot_bytes_written += len(value)
            await asyncio.gather(*deliveries)
        except BaseException:
            # Nothing is committed: the snapshots and what they wait for stay for the next
            # commit (one encoded since is newer and wins), should the worker go on.
            for patient_ref, item in pending.items():
                self._pending.setdefault(patient_ref, item)
            self._pending_outputs[:0] = [o for o in outputs if not o.done()]
            raise
        return len(pending)


class CheckpointSensor(faust.Sensor):
    """Encodes the dirty patients' snapshots when Faust begins a commit (``on_commit_initiated``
    runs in ``Consumer.force_commit`` right before it takes the offsets to commit, without
    yielding in between)."""

    def __init__(self, states: PatientStates, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._states = states

    def on_commit_initiated(self, consumer: Any) -> Any:
        # An error here propagates into Faust's commit, which then does not commit: the worker
        # stops, and its successor rebuilds the state from the last snapshot and the events
        # after the last committed offset. Better than committing what no snapshot holds.
        self._states.checkpoint()
        return None


def register_checkpoints(app: PumpstreamApp, table: Any) -> PatientStates:
    """The patients' states over ``table``, the sensor that encodes their snapshots when a
    commit begins and the hook that writes them before its offsets are committed."""

    states = PatientStates(table, changelog_sender(app, table))
    app.sensors.add(CheckpointSensor(states))
    app.before_offsets_commit.append(states.write_checkpoint)
    return states


def changelog_sender(app: faust.App, table: Any) -> Sender:
    """Send a snapshot to ``table``'s changelog with the app's producer, the key and value
    serialised as Faust's ``send_changelog`` does (recovery decodes them so); the delivery to
    await."""
    changelog = table.changelog_topic
    topic = changelog.get_topic_name()

    async def send(partition: int, patient_ref: str, value: bytes) -> Awaitable[Any]:
        key, _ = changelog.prepare_key(patient_ref, table.key_serializer)
        body, _ = changelog.prepare_value(value, table.value_serializer)
        delivery: Awaitable[Any] = await app.producer.send(topic, key, body, partition, None, None)
        return delivery

    return send
