"""Export the worker's consumer-group lag per topic as a gauge, measured on a Faust timer.

Lag is measured the way Kafka's own tools do: end offset minus the group's committed offset, per
partition, summed per topic. One consumer and one admin client stay open between measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.kafka_offsets import end_offsets
from streams.metrics import PipelineMetrics

log = logging.getLogger(__name__)


class ConsumerLagProbe:
    """Measures a consumer group's lag on some topics; clients open on first use."""

    def __init__(self, bootstrap: str, group_id: str, topics: Iterable[str]) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topics = tuple(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await consumer.start()
            await admin.start()
            self._consumer, self._admin = consumer, admin
        return self._consumer, self._admin

    async def lag_by_topic(self) -> dict[str, int]:
        consumer, admin = await self._clients()
        partitions = []
        for topic in self.topics:
            known = consumer.partitions_for_topic(topic)
            if not known:
                await consumer._client.force_metadata_update()
                known = consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(known)]
        ends = await end_offsets(self.bootstrap, partitions)  # Tansu under-reports the end
        committed = await admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        lag = dict.fromkeys(self.topics, 0)
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[tp.topic] += max(0, ends[tp] - done)
        return lag

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._consumer is not None:
            await self._consumer.stop()
        self._consumer = self._admin = None


def register_lag_monitor(
    app: faust.App,
    probe: ConsumerLagProbe,
    metrics: PipelineMetrics,
    *,
    interval_s: float,
) -> None:
    """Measure ``probe`` every ``interval_s`` while ``app`` runs and set the lag gauge."""

    async def measure_consumer_lag() -> None:
        try:
            lag = await probe.lag_by_topic()
        except (KafkaError, OSError, TimeoutError) as exc:
            # The broker may be restarting; the next tick reconnects.
            metrics.consumer_lag_errors.inc()
            log.warning("consumer lag not measured: %s", exc)
            await probe.close()
            return
        for topic, messages in lag.items():
            metrics.consumer_lag.labels(topic).set(messages)

    async def close_probe(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await probe.close()

    app.timer(interval_s, name="measure_consumer_lag")(measure_consumer_lag)
    app.on_before_shutdown.connect(close_probe)  # type: ignore[arg-type]
