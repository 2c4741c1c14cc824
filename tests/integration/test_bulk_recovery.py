"""The patients' table reads its newly assigned changelog partitions in bulk
(``streams/kafka/bulk_recovery.py``), on the embedded broker: the table holds what Faust's
recovery would (each key's last value, tombstones applied, each key's partition known), and Faust
is told where the bulk read stopped, so that its own recovery only reads what came after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import TP

from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.kafka.bulk_recovery import BULK_RECOVERY_STORE, BulkRecoveryStore
from streams.kafka.connection import KafkaConnection
from streams.kafka.transport import PumpstreamApp
from tests.support.kafka_client import create_topics

pytestmark = pytest.mark.integration

#: Per partition, the (key, value) records written in order; None is a tombstone.
WRITTEN: dict[int, list[tuple[str, bytes | None]]] = {
    0: [("a", b"1"), ("b", b"2"), ("a", b"3"), ("b", None), ("c", b"4")],
    1: [("d", b"5"), *((f"p{n}", f"{n}".encode()) for n in range(3000)), ("d", b"6")],
}


def _table(broker: EmbeddedBroker, *, connected: bool = True) -> Any:
    app = PumpstreamApp(
        "bulk-test", fetch_max_wait_ms=40, broker=f"kafka://{broker.bootstrap}", store="memory://"
    )
    if connected:
        app.recover_to_true_ends(broker.connection)
    return app.Table(
        "state", default=None, key_type=str, value_type=bytes, store=BULK_RECOVERY_STORE
    )


async def _write(broker: EmbeddedBroker, table: Any) -> str:
    """The records, encoded as Faust's ``send_changelog`` does, in batches (Tansu's reported
    end then falls short of the true one)."""
    changelog = table.changelog_topic
    name = changelog.get_topic_name()
    await create_topics(broker.connection, name, partitions=2)
    producer = broker.connection.producer(linger_ms=20)
    await producer.start()
    try:
        sent = []
        for partition, records in WRITTEN.items():
            for key, value in records:
                raw_key, _ = changelog.prepare_key(key, table.key_serializer)
                raw = None if value is None else changelog.prepare_value(value, None)[0]
                sent.append(await producer.send(name, raw, key=raw_key, partition=partition))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return str(name)


def _expected(partitions: set[int]) -> dict[str, bytes]:
    kept: dict[str, bytes] = {}
    for partition in sorted(partitions):
        for key, value in WRITTEN[partition]:
            if value is None:
                kept.pop(key, None)
            else:
                kept[key] = value
    return kept


@pytest.fixture
async def written(broker: EmbeddedBroker) -> tuple[Any, str]:
    """The bulk store of a table whose changelog holds :data:`WRITTEN`, and the changelog."""
    table = _table(broker)
    name = await _write(broker, table)
    assert isinstance(table.data, BulkRecoveryStore)
    return table.data, name


async def test_newly_assigned_partitions_are_read_whole_and_faust_starts_after_them(
    written: tuple[Any, str],
) -> None:
    store, name = written
    tps = {TP(name, 0), TP(name, 1), TP("vitals", 0)}
    await store.on_rebalance(tps, set(), tps)
    assert dict(store.data) == _expected({0, 1})
    assert {key: store._key_partition[key] for key in ("a", "c", "d")} == {"a": 0, "c": 0, "d": 1}
    assert store.persisted_offset(TP(name, 0)) == len(WRITTEN[0]) - 1
    assert store.persisted_offset(TP(name, 1)) == len(WRITTEN[1]) - 1
    assert store.persisted_offset(TP("vitals", 0)) is None


async def test_only_newly_assigned_partitions_are_read_and_the_next_rebalance_forgets(
    written: tuple[Any, str],
) -> None:
    store, name = written
    await store.on_rebalance({TP(name, 0), TP(name, 1)}, set(), {TP(name, 0)})
    assert dict(store.data) == _expected({0})
    assert store.persisted_offset(TP(name, 1)) is None  # Faust's recovery reads it
    # Kept through the next rebalance: Faust goes on from where its own recovery got to.
    await store.on_rebalance({TP(name, 0), TP(name, 1)}, set(), set())
    assert store.persisted_offset(TP(name, 0)) is None


async def test_without_a_recovery_connection_faust_recovers_as_before(
    broker: EmbeddedBroker,
) -> None:
    table = _table(broker, connected=False)
    name = await _write(broker, table)
    tps = {TP(name, 0), TP(name, 1)}
    await table.data.on_rebalance(tps, set(), tps)
    assert dict(table.data.data) == {}
    assert table.data.persisted_offset(TP(name, 0)) is None


async def test_a_failed_bulk_read_leaves_the_partitions_to_faust(
    written: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The broker cannot be reached for the bulk read: nothing is applied, no offset is reported,
    and Faust's own recovery (which waits for the broker) reads the partitions."""
    store, name = written
    store.app.recover_to_true_ends(KafkaConnection(f"127.0.0.1:{free_port()}"))
    tps = {TP(name, 0), TP(name, 1)}
    await store.on_rebalance(tps, set(), tps)
    assert dict(store.data) == {}
    assert store.persisted_offset(TP(name, 0)) is None
    assert "bulk read of the changelog failed" in caplog.text
