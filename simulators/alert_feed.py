"""Read the ``alerts`` topic: all of it (evaluate) or as it grows (the simulated nurse)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.alerts import Alert
from schemas.topics import ALERTS
from streams.kafka.offsets import end_offsets

log = logging.getLogger(__name__)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(found)]


def _parse(value: bytes | None) -> Alert | None:
    try:
        return Alert.model_validate_json(value or b"")
    except ValidationError as exc:
        log.warning("skipped an alert that does not follow the contract (%d errors)",
                    exc.error_count())  # fmt: skip
        return None


async def read_all_alerts(bootstrap: str, *, timeout_s: float = 30.0) -> list[Alert]:
    """Every alert on the topic now, from the beginning to the current end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await _partitions(consumer, ALERTS.name)
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await end_offsets(bootstrap, parts)  # Tansu under-reports the end
        alerts: list[Alert] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {ALERTS.name} to its end in {timeout_s:.0f} s")
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                alerts.extend(a for r in records if (a := _parse(r.value)) is not None)
        return alerts
    finally:
        await consumer.stop()


async def follow_alerts(
    bootstrap: str, *, from_end: bool = True
) -> AsyncGenerator[list[Alert], None]:
    """Batches of new alerts (possibly empty, every ~100 ms) until the caller stops iterating."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await _partitions(consumer, ALERTS.name)
        consumer.assign(parts)
        # Explicit offsets, not a lazy reset: an alert produced right after this call is seen.
        starts = await (
            end_offsets(bootstrap, parts) if from_end else consumer.beginning_offsets(parts)
        )
        for tp in parts:
            consumer.seek(tp, starts[tp])
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            yield [a for records in batch.values() for r in records if (a := _parse(r.value))]
    finally:
        await consumer.stop()
