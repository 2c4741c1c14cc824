"""Records sent many to a produce batch: one aiokafka batch per topic-partition per few
milliseconds, instead of one trip through Faust's producer buffer per record.

What for: the clinical agent writes a validated copy of every raw clinical event it reads (the
validated topics' contract). Through Faust (``Topic.send_soon``) each copy took its own turn
through the producer buffer, ``publish_message`` and aiokafka's ``send``, ~200 us of the
worker's CPU per event, about half of what an unbatched pump event cost in all
(docs/benchmarks.md, "Validated copies in produce batches"). Here a record is appended to a list;
every :data:`LINGER_S` (or when a checkpoint asks) the lists become aiokafka batches
(``create_batch`` / ``send_batch``), one per topic-partition.

What is kept:

- **Order per partition**: records of a topic-partition are sent in the order added, and one
  flush at a time (a lock), so a later batch never overtakes an earlier one.
- **Nothing lost unseen**: each batch's delivery is handed to ``delivered`` (the patient
  states' outputs, which a checkpoint awaits before it writes the states whose steps sent
  them), and :meth:`BatchedSends.flush` submits everything added before it, so a checkpoint
  that flushes first never holds a step whose copy is not on its way. A batch the producer
  could not take or deliver is reported as Faust reports its own failed sends (the app's
  sensors' ``on_send_error``: the worker counts it and stops, docs/reliability.md, "Broker
  faults").

The aiokafka producer is reached through Faust's ``Producer._ensure_producer`` (pinned and
tested in ``tests/unit/kafka/test_batched_sends.py``; docs/benchmarks.md, "Reaching into Faust
and aiokafka").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: How long a record waits for others before its batch is sent. Small against a checkpoint's
#: interval (2.8 s) and invisible to alerts, which do not go this way.
LINGER_S = 0.005

#: ``delivered(future)``: a batch's delivery, to be awaited before what depends on it.
Delivered = Callable[["asyncio.Future[Any]"], None]


class BatchedSends:
    """Records gathered per topic-partition, sent as one aiokafka batch each."""

    def __init__(self, app: Any, delivered: Delivered, linger_s: float = LINGER_S) -> None:
        self._app = app
        self._delivered = delivered
        self._linger_s = linger_s
        #: (topic, partition) -> [(key, value)], in the order added.
        self._records: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: Records handed to the producer (in batches), and batches.
        self.records_sent = 0
        self.batches_sent = 0

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        """``value`` for ``topic``'s ``partition``, sent within :data:`LINGER_S` (never
        waits)."""
        self._records.setdefault((topic, partition), []).append((key, value))
        if self._timer is None:
            self._timer = asyncio.ensure_future(self._flush_later())

    @property
    def waiting(self) -> int:
        """Records added and not yet handed to the producer."""
        return sum(len(records) for records in self._records.values())

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._linger_s)
        finally:
            self._timer = None
        await self.flush()

    async def flush(self) -> None:
        """Hand every record added so far to the producer, each batch's delivery to
        ``delivered``. Never raises: a batch the producer refuses is reported as a failed send
        (see the module's docstring); what else remains is sent."""
        async with self._lock:
            records, self._records = self._records, {}
            if not records:
                return
            batches = list(records.items())
            for n, ((topic, partition), pairs) in enumerate(batches):
                try:
                    producer = self._app.producer._ensure_producer()  # NotReady: not started
                    await self._send(producer, topic, partition, pairs)
                except Exception as exc:
                    self._failed(topic, exc)
                except BaseException:
                    # Cancelled (the worker stopping): what was not handed over is kept for
                    # the next flush, ahead of anything added since (a record of the batch
                    # interrupted may then be sent twice: at least once, as Kafka's are).
                    for where, kept in reversed(batches[n:]):
                        self._records[where] = kept + self._records.get(where, [])
                    raise

    async def _send(
        self, producer: Any, topic: str, partition: int, pairs: list[tuple[bytes | None, bytes]]
    ) -> None:
        batch, count = producer.create_batch(), 0
        for key, value in pairs:
            if batch.append(timestamp=None, key=key, value=value) is None:  # full
                await self._submit(producer, batch, topic, partition, count)
                # An empty batch takes any one record (aiokafka's builder).
                batch, count = producer.create_batch(), 0
                batch.append(timestamp=None, key=key, value=value)
            count += 1
        await self._submit(producer, batch, topic, partition, count)

    async def _submit(
        self, producer: Any, batch: Any, topic: str, partition: int, count: int
    ) -> None:
        delivery = await producer.send_batch(batch, topic, partition=partition)
        delivery.add_done_callback(lambda done: self._check(topic, done))
        self._delivered(delivery)
        self.records_sent += count
        self.batches_sent += 1

    def _check(self, topic: str, delivery: asyncio.Future[Any]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            self._failed(topic, delivery.exception())

    def _failed(self, topic: str, exc: BaseException | None) -> None:
        """Reported as Faust reports a message its producer gave up on."""
        error = exc if exc is not None else RuntimeError("delivery cancelled")
        logger.error("a batch of records for %s was not written: %r", topic, error)
        sensors, producer = self._app.sensors, self._app.producer
        state = sensors.on_send_initiated(producer, topic, None, 0, 0)
        sensors.on_send_error(producer, error, state)
