"""Patient state kept in memory, written to the changelog once per commit (the checkpoint
pattern of Kafka Streams' record cache and Quix Streams).

The clinical agent used to load each patient's state from its JSON table value and store it back
on every event: the cost of one event grew with the patient's history (docs/benchmarks.md). Now:

- the state is a mutable :class:`PatientState` in the table's memory store (``table.data``,
  which holds Python objects and sends nothing); what recovery read from the changelog is
  gathered per patient (``state_changelog.regroup``) and assembled on first use;
- each event marks its patient dirty with the partition it arrived on;
- once a commit has taken the offsets to commit, and before it commits them, the worker's
  consumer awaits :meth:`PatientStates.write_checkpoint` (``PumpstreamApp.before_offsets_commit``,
  streams/kafka/transport.py). It encodes every dirty patient's checkpoint, ``SLICE`` patients
  per turn of the event loop: the vital-signs sets added since the last one and the scalars (a
  delta), the rest of the state when it changed (the core), or the whole state (a base: a new
  patient, after a failed write, recovered patients ``RECOVERED_BASES_PER_CHECKPOINT`` a
  commit; ``state_changelog.py``), and hands the records to the producer; Faust then flushes
  the producer and only after that commits the source offsets.

The records go to the producer directly, once what the steps they hold sent is delivered (the
futures of their alerts, :meth:`PatientStates.sent`), not through Faust's producer buffer
(``send_changelog``): that buffer sends one message at a time, and a commit's thousands of
snapshots queued there held up every alert behind them (report -> alert p99 2.6-5.3 s under
10,000 readings/s: docs/benchmarks.md).

So whatever a committed offset covers is in the changelog, and recovery (the records, then the
events after the committed offset, duplicates recognised by event id) rebuilds the state
exactly under at-least-once. The agent handles a message without yielding to the event loop
between the step and its output (``send_soon``, its future handed to :meth:`PatientStates.sent`),
so a checkpoint never holds a step whose alerts are not yet in the producer's buffer, and it is
written only once they are delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

import faust

from streams.clinical.state import PatientState
from streams.clinical.state_changelog import (
    Recovered,
    assemble,
    encode_checkpoint,
    is_part_key,
    kind_of,
    regroup,
)
from streams.kafka.transport import PumpstreamApp

logger = logging.getLogger(__name__)

#: How long a commit waits for the alerts of the steps it checkpoints before it gives up (and
#: commits nothing): longer than the producer's retries of a reachable broker.
OUTPUTS_TIMEOUT_S = 120.0

#: Patients encoded, and records sent, per turn of the event loop during a checkpoint: a few
#: milliseconds each (docs/benchmarks.md, "Report -> alert under load").
SLICE = 8

_T = TypeVar("_T")


async def _in_slices(items: Iterable[_T]) -> AsyncIterator[_T]:
    """``items``, letting the event loop run other work after every ``SLICE`` of them."""
    for n, item in enumerate(items, start=1):
        yield item
        if n % SLICE == 0:
            await asyncio.sleep(0)


#: Counts one record written: its kind (base, core, delta, tombstone) and its value's bytes.
Counted = Callable[[str, int], None]


def _not_counted(kind: str, size: int) -> None:
    return None


#: Recovered patients written whole (a base) per checkpoint at most: a worker that recovered
#: 10,000 patients would otherwise write them all (~22 kB each) in its first commits.
RECOVERED_BASES_PER_CHECKPOINT = 200

#: Sends one record (changelog partition, key, value or None for a tombstone); returns its
#: delivery to await.
Sender = Callable[[int, str, bytes | None], Awaitable[Awaitable[Any]]]


class PatientStates:
    """The owned patients' states: in memory, checkpointed to the table's changelog on commit
    (a base, a core and deltas: ``state_changelog.py``)."""

    def __init__(self, table: Any, send: Sender, counted: Counted | None = None) -> None:
        self._table = table
        self._send = send
        self._counted = counted or _not_counted
        #: What steps sent (alerts, ledger records) since the last checkpoint began, and what
        #: the steps of the records not yet written sent: delivered before those records.
        self._outputs: list[asyncio.Future[Any]] = []
        self._pending_outputs: list[asyncio.Future[Any]] = []
        #: Awaited before a checkpoint takes the outputs: each hands over what it holds back
        #: (``streams/kafka/batched_sends.py``), so that its deliveries are among them.
        self.before_outputs: list[Callable[[], Awaitable[None]]] = []
        #: patient_ref -> the partition its events arrive on (its changelog partition).
        self._dirty: dict[str, int] = {}
        #: Encoded, not yet handed to the producer, in order: (partition, patient_ref, records);
        #: and the tombstones (partition, key), sent once the records are delivered.
        self._pending: list[tuple[int, str, list[tuple[str, bytes]]]] = []
        self._pending_tombstones: list[tuple[int, str]] = []
        #: Records and their values' bytes written, by kind (``state_changelog.kind_of``).
        self.records_written: Counter[str] = Counter()
        self.bytes_written: Counter[str] = Counter()

    def get(self, patient_ref: str) -> PatientState:
        """The patient's state (a new one for a patient not seen before)."""
        store = self._table.data
        value = store.get(patient_ref)
        if isinstance(value, PatientState):
            return value
        if isinstance(value, Recovered):
            state = assemble(patient_ref, value)
        elif isinstance(value, bytes):  # a base alone (or a value an older version wrote)
            state = assemble(patient_ref, Recovered(value))
        else:
            state = PatientState(patient_ref=patient_ref)
        store[patient_ref] = state
        return state

    def put(self, state: PatientState) -> None:
        """Keep ``state`` as its patient's (a working copy a step succeeded on)."""
        self._table.data[state.patient_ref] = state

    def mark_dirty(self, patient_ref: str, partition: int) -> None:
        self._dirty[patient_ref] = partition

    def sent(self, delivery: asyncio.Future[Any]) -> None:
        """A step's output (``send_soon``'s future): the next records wait for it."""
        self._outputs.append(delivery)

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def items(self) -> Iterator[tuple[str, PatientState]]:
        """Every patient held (assembling any still in their recovered form)."""
        for key in list(self._table.data.keys()):
            if not is_part_key(key):
                yield key, self.get(key)

    async def regroup_recovered(self) -> None:
        """After recovery: gather each patient's core and deltas under the patient's key, to be
        assembled on first use (a table's recovery callback; Faust does not report its
        errors, so they are logged here)."""
        try:
            regrouped = regroup(self._table.data)
        except Exception:
            logger.exception("could not gather the recovered patient states")
            raise
        logger.info("recovered the changelog records of %d patients", regrouped)

    async def write_checkpoint(self) -> int:
        """Encode the records of every dirty patient (as the patient is now), hand them to the
        producer and wait until the broker has them (an error stops the commit), then the
        tombstones; the number of patients written. Called once a commit has taken the offsets
        to commit, before they are committed.

        A patient's records may hold events handled after the commit took its offsets (the
        encoding yields to the event loop every ``SLICE`` patients, so that a commit of
        thousands of patients does not stall a report behind it): a successor re-reads those
        events after the committed offset and recognises them as applied, as it does those of a
        checkpoint written before a crash that stopped the commit. What every step handled until
        the encoding ended sent is delivered before any record is written."""
        encoded = await self._encode()
        pending, self._pending = self._pending, []
        outputs, self._pending_outputs = self._pending_outputs, []
        # What the checkpointed steps sent (their alerts and ledger records, in Faust's producer
        # buffer) reaches the broker before the records do: a worker killed in between must
        # not leave a checkpoint holding a step whose alerts were never sent (its successor
        # would read the step again as a duplicate and send nothing). A failed send is reported
        # where every failed send is (streams/kafka/produce_failures.py); it does not stop the
        # commit.
        try:
            if outputs:
                _, undelivered = await asyncio.wait(outputs, timeout=OUTPUTS_TIMEOUT_S)
                if undelivered:
                    raise TimeoutError(
                        f"{len(undelivered)} alerts or ledger records not delivered within "
                        f"{OUTPUTS_TIMEOUT_S:.0f} s: the checkpoints that hold their steps are "
                        "not written and the offsets not committed (the next worker reads "
                        "them again)"
                    )
            deliveries = []
            async for partition, _, records in _in_slices(pending):
                for key, value in records:
                    deliveries.append(await self._send(partition, key, value))
            await asyncio.gather(*deliveries)
        except BaseException:
            # Nothing is committed. What was encoded may be partly written: each patient's next
            # checkpoint writes its whole state (a base, newer than anything written before),
            # and waits for what these steps sent, should the worker go on.
            store = self._table.data
            for partition, patient_ref, _ in pending:
                state = store.get(patient_ref)
                if isinstance(state, PatientState):
                    state.changelog_marks.needs_base = True
                    self._dirty.setdefault(patient_ref, partition)
            self._pending_outputs[:0] = [o for o in outputs if not o.done()]
            raise
        for _, _, records in pending:
            for key, value in records:
                self._count(kind_of(key), len(value))
        await self._write_tombstones()
        return encoded

    async def _encode(self) -> int:
        """Encode the dirty patients' records, ``SLICE`` patients per turn of the event loop; the
        number of patients encoded. A patient stepped meanwhile is dirty again (the next
        checkpoint writes what this one did not hold)."""
        dirty, self._dirty = self._dirty, {}
        store = self._table.data
        encoded = 0
        rebases = RECOVERED_BASES_PER_CHECKPOINT
        async for patient_ref, partition in _in_slices(dirty.items()):
            state = store.get(patient_ref)
            if not isinstance(state, PatientState):
                continue  # recovered from the changelog since: it holds this state already
            checkpoint = encode_checkpoint(state, rebase=rebases > 0)
            rebases -= checkpoint.base
            if checkpoint.records:
                self._pending.append((partition, patient_ref, checkpoint.records))
            self._pending_tombstones += [(partition, key) for key in checkpoint.tombstones]
            encoded += 1
        # A tombstone left from a commit whose tombstones failed must not follow a record
        # written again under its key since (a core): it would remove the new one.
        if self._pending_tombstones:
            rewritten = {key for _, _, records in self._pending for key, _ in records}
            self._pending_tombstones = [
                (partition, key)
                for partition, key in self._pending_tombstones
                if key not in rewritten
            ]
        # Every step handled until now: the records may hold any of them.
        for hand_over in self.before_outputs:
            await hand_over()
        self._pending_outputs += self._outputs
        self._outputs = []
        return encoded

    def _count(self, kind: str, size: int) -> None:
        self.records_written[kind] += 1
        self.bytes_written[kind] += size
        self._counted(kind, size)

    async def _write_tombstones(self) -> None:
        """Remove the deltas the records just written made unneeded (a failure keeps them for
        the next commit: a delta left over changes nothing recovery assembles)."""
        tombstones, self._pending_tombstones = self._pending_tombstones, []
        try:
            deliveries = [await self._send(p, key, None) async for p, key in _in_slices(tombstones)]
            await asyncio.gather(*deliveries)
        except BaseException:
            self._pending_tombstones[:0] = tombstones
            raise
        for _ in tombstones:
            self._count("tombstone", 0)


def register_checkpoints(
    app: PumpstreamApp, table: Any, counted: Counted | None = None
) -> PatientStates:
    """The patients' states over ``table``, the hook that writes their checkpoints once a
    commit has taken its offsets and before they are committed, and the recovery callback
    that gathers each patient's records."""

    states = PatientStates(table, changelog_sender(app, table), counted)
    app.before_offsets_commit.append(states.write_checkpoint)
    table.on_recover(states.regroup_recovered)
    return states


def changelog_sender(app: faust.App, table: Any) -> Sender:
    """Send a record to ``table``'s changelog with the app's producer, the key and value
    serialised as Faust's ``send_changelog`` does (recovery decodes them so; a tombstone's value
    is None); the delivery to await."""
    changelog = table.changelog_topic
    topic = changelog.get_topic_name()

    async def send(partition: int, table_key: str, value: bytes | None) -> Awaitable[Any]:
        key, _ = changelog.prepare_key(table_key, table.key_serializer)
        body = None if value is None else changelog.prepare_value(value, table.value_serializer)[0]
        delivery: Awaitable[Any] = await app.producer.send(topic, key, body, partition, None, None)
        return delivery

    return send
