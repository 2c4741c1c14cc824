"""Read topics outside any consumer group, over all their partitions: to their true end, or
following them as they grow.

One reader for the demo, the benchmarks, the reaction ledger, the episode board, the simulated
nurse and the tests. "The end" is always the true one (:func:`streams.kafka.offsets.end_offsets`),
since the embedded broker under-reports it after a batched produce (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.kafka import offsets
from streams.kafka.connection import KafkaConnection

#: Where a reader starts: each partition's first record, its true end (only what is written
#: after :meth:`TopicReader.open`), or its first record at or after a moment (else its end).
Start = Literal["beginning", "end"] | datetime

#: aiokafka's own default: how long the broker may hold a fetch waiting for data.
DEFAULT_FETCH_MAX_WAIT_MS = 500


def _offset_found(found: Any) -> int | None:
    """The offset in an ``offsets_for_times`` answer; None when no record is that recent. Tansu
    answers that with offset 0 and timestamp -1 where Kafka answers None (measured here, Tansu
    0.6.0), which would start the reader at the beginning."""
    if found is None or found.timestamp < 0:
        return None
    return int(found.offset)


class TopicReader:
    """Reads ``topics`` (every partition of each) from ``start``; open it with ``async with`` or
    :meth:`open` / :meth:`close`. Partitions are looked up once, when it opens."""

    def __init__(
        self,
        kafka: KafkaConnection,
        topics: str | Iterable[str],
        *,
        start: Start = "beginning",
        fetch_max_wait_ms: int = DEFAULT_FETCH_MAX_WAIT_MS,
    ) -> None:
        self.kafka = kafka
        self.topics = (topics,) if isinstance(topics, str) else tuple(topics)
        self.start = start
        self.partitions: list[TopicPartition] = []
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._consumer: AIOKafkaConsumer | None = None

    async def open(self) -> Self:
        consumer = self.kafka.consumer(
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            self.partitions = [
                tp for topic in self.topics for tp in await offsets.partitions_of(consumer, topic)
            ]
            consumer.assign(self.partitions)
            await self._seek_to_start(consumer)
        except BaseException:
            await self.close()
            raise
        return self

    async def _seek_to_start(self, consumer: AIOKafkaConsumer) -> None:
        if not self.partitions:
            return
        if self.start == "beginning":
            await consumer.seek_to_beginning(*self.partitions)
            return
        # Explicit offsets, not a lazy reset: a record written right after open() is read.
        starts: dict[TopicPartition, int | None]
        if self.start == "end":
            starts = dict.fromkeys(self.partitions)
        else:
            since_ms = int(self.start.timestamp() * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(self.partitions, since_ms))
            starts = {tp: _offset_found(found.get(tp)) for tp in self.partitions}
        missing = [tp for tp, offset in starts.items() if offset is None]
        ends = await offsets.end_offsets(self.kafka, missing)
        for tp, offset in starts.items():
            consumer.seek(tp, ends[tp] if offset is None else offset)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _opened(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("open the TopicReader first")
        return self._consumer

    async def read(self, *, timeout_ms: int = 200) -> list[ConsumerRecord[bytes, bytes]]:
        """The next records of any partition, in offset order per partition; empty when none
        came within ``timeout_ms``."""
        consumer = self._opened()
        if not self.partitions:
            await asyncio.sleep(timeout_ms / 1000)
            return []
        batch: dict[Any, list[ConsumerRecord[bytes, bytes]]] = await consumer.getmany(
            timeout_ms=timeout_ms
        )
        return [record for records in batch.values() for record in records]

    async def follow(
        self, *, timeout_ms: int = 200
    ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        """Batches of records as they are written (empty every ``timeout_ms`` when none came),
        until the caller stops iterating."""
        while True:
            yield await self.read(timeout_ms=timeout_ms)

    async def true_end(self) -> dict[TopicPartition, int]:
        """The true end of each partition now."""
        self._opened()
        return await offsets.end_offsets(self.kafka, self.partitions)

    async def has_reached(self, ends: Mapping[TopicPartition, int]) -> bool:
        """Whether every partition has been read up to ``ends`` (from :meth:`true_end`)."""
        consumer = self._opened()
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def read_to_end(self, *, timeout_s: float = 30.0) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record from the current position up to (at least) the true end as it is now; raise
        :class:`TimeoutError` if that takes longer than ``timeout_s``."""
        ends = await self.true_end()
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while not await self.has_reached(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not read {', '.join(self.topics)} to its end in {timeout_s:g} s"
                )
            records += await self.read()
        return records


async def read_topic(
    kafka: KafkaConnection, topics: str | Iterable[str], *, timeout_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from the beginning to the true end as it is now (empty when a
    topic does not exist)."""
    async with TopicReader(kafka, topics) as reader:
        return await reader.read_to_end(timeout_s=timeout_s)
