"""``BatchedSends`` (streams/kafka/batched_sends.py) on the embedded broker, with a real aiokafka
producer: records arrive whole and in the order added per partition, many to a produce batch;
one added alone goes out after the linger; overlapping flushes keep the order; a batch the
producer refuses is reported as a failed send and the others still go; a flush cancelled midway
keeps what it had not handed over.

The Faust app is stood in for by what the class uses of it (``producer._ensure_producer()``
and ``sensors``); that Faust's producer still answers ``_ensure_producer`` with its aiokafka
producer is pinned in tests/unit/kafka/test_faust_patches.py."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from streams.cli.local.embedded_broker import EmbeddedBroker
from streams.kafka.batched_sends import BatchedSends
from tests.support.kafka_client import create_topics, read_until

TOPIC = "batched.copies"


@dataclass
class _Sensors:
    """What BatchedSends reports a failed send to (as Faust's sensor delegate is called)."""

    errors: list[tuple[str, BaseException]] = field(default_factory=list)

    def on_send_initiated(self, producer: Any, topic: str, *rest: Any) -> str:
        return topic

    def on_send_error(self, producer: Any, exc: BaseException, state: str) -> None:
        self.errors.append((state, exc))


class _FaustProducer:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    def _ensure_producer(self) -> AIOKafkaProducer:
        return self.producer


@dataclass
class _App:
    producer: _FaustProducer
    sensors: _Sensors = field(default_factory=_Sensors)


@pytest.fixture
async def app(broker: EmbeddedBroker) -> AsyncIterator[_App]:
    await create_topics(broker.connection, TOPIC, partitions=2)
    producer = broker.connection.producer(acks="all")
    await producer.start()
    try:
        yield _App(_FaustProducer(producer))
    finally:
        await producer.stop()


def _values_by_partition(records: list[Any]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = defaultdict(list)
    for record in records:
        out[record.partition].append(record.value)
    return dict(out)


async def test_records_arrive_whole_in_order_per_partition_many_to_a_batch(
    app: _App, broker: EmbeddedBroker
) -> None:
    deliveries: list[asyncio.Future[Any]] = []
    sends = BatchedSends(app, deliveries.append, linger_s=60)  # only the flushes send
    sent: dict[int, list[bytes]] = {0: [], 1: []}
    for n in range(3000):
        partition = n % 3 % 2  # uneven: 2,000 and 1,000
        value = f"{n:05d}-".encode() + b"x" * 200
        sends.add(TOPIC, partition, f"k{n % 7}".encode(), value)
        sent[partition].append(value)
        if n == 1500:
            await sends.flush()  # a flush midway: the order holds across batches
    assert sends.waiting == 1499
    await sends.flush()
    assert sends.waiting == 0
    await asyncio.gather(*deliveries)
    records = await read_until(broker.connection, TOPIC, lambda rs: len(rs) >= 3000)
    assert len(records) == 3000
    assert _values_by_partition(records) == sent
    assert sends.records_sent == 3000
    # ~200-byte records fill aiokafka's 16 kB batches: several batches per flush and
    # partition, far fewer than records.
    assert 4 < sends.batches_sent == len(deliveries) < 100
    assert app.sensors.errors == []


async def test_a_record_added_alone_goes_out_after_the_linger(
    app: _App, broker: EmbeddedBroker
) -> None:
    deliveries: list[asyncio.Future[Any]] = []
    sends = BatchedSends(app, deliveries.append, linger_s=0.01)
    sends.add(TOPIC, 1, b"pt-1", b"alone")
    records = await read_until(broker.connection, TOPIC, lambda rs: len(rs) >= 1, timeout_s=10)
    assert [(r.partition, r.key, r.value) for r in records] == [(1, b"pt-1", b"alone")]
    assert len(deliveries) == 1
    assert deliveries[0].done()


async def test_a_batch_the_producer_refuses_is_reported_and_the_others_still_go(
    app: _App, broker: EmbeddedBroker
) -> None:
    deliveries: list[asyncio.Future[Any]] = []
    sends = BatchedSends(app, deliveries.append, linger_s=60)
    sends.add(TOPIC, 7, b"pt-x", b"to a partition the topic does not have")
    sends.add(TOPIC, 0, b"pt-0", b"fine")
    await sends.flush()  # never raises
    assert [topic for topic, _ in app.sensors.errors] == [TOPIC]
    await asyncio.gather(*deliveries)
    records = await read_until(broker.connection, TOPIC, lambda rs: len(rs) >= 1, timeout_s=10)
    assert [r.value for r in records] == [b"fine"]


async def test_a_flush_cancelled_midway_keeps_what_it_had_not_handed_over(
    app: _App, broker: EmbeddedBroker
) -> None:
    """The worker stopping cancels a flush while it waits for the producer: the records of that
    partition and after are sent by the next flush, in order, ahead of any added since."""
    real = app.producer.producer
    calls = 0

    class _CancelledOnce:
        def create_batch(self) -> Any:
            return real.create_batch()

        async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:  # the second partition's batch: the first is handed over
                raise asyncio.CancelledError
            return await real.send_batch(batch, topic, partition=partition)

    app.producer = _FaustProducer(_CancelledOnce())  # type: ignore[arg-type]
    deliveries: list[asyncio.Future[Any]] = []
    sends = BatchedSends(app, deliveries.append, linger_s=60)
    sends.add(TOPIC, 0, b"a", b"a1")
    sends.add(TOPIC, 1, b"b", b"b1")
    sends.add(TOPIC, 1, b"b", b"b2")
    with pytest.raises(asyncio.CancelledError):
        await sends.flush()
    assert sends.waiting == 2
    sends.add(TOPIC, 1, b"b", b"b3")
    await sends.flush()
    await asyncio.gather(*deliveries)
    records = await read_until(broker.connection, TOPIC, lambda rs: len(rs) >= 4, timeout_s=10)
    assert _values_by_partition(records) == {0: [b"a1"], 1: [b"b1", b"b2", b"b3"]}


async def test_a_flush_waits_for_the_one_under_way_so_no_batch_overtakes_another(
    app: _App, broker: EmbeddedBroker
) -> None:
    """The linger's flush and a checkpoint's may overlap: the second waits for the first, so a
    partition's later batch is never handed to the producer before an earlier one."""
    real = app.producer.producer
    slowed = False

    class _SlowOnce:
        def create_batch(self) -> Any:
            return real.create_batch()

        async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
            nonlocal slowed
            if not slowed:
                slowed = True
                await asyncio.sleep(0.2)  # the first flush waits on the producer
            return await real.send_batch(batch, topic, partition=partition)

    app.producer = _FaustProducer(_SlowOnce())  # type: ignore[arg-type]
    deliveries: list[asyncio.Future[Any]] = []
    sends = BatchedSends(app, deliveries.append, linger_s=60)
    sends.add(TOPIC, 0, b"a", b"first")
    first = asyncio.create_task(sends.flush())
    await asyncio.sleep(0.05)
    sends.add(TOPIC, 0, b"a", b"second")
    await sends.flush()
    await first
    await asyncio.gather(*deliveries)
    records = await read_until(broker.connection, TOPIC, lambda rs: len(rs) >= 2, timeout_s=10)
    assert [r.value for r in records] == [b"first", b"second"]
