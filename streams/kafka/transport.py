"""The Faust app class pumpstream runs: Faust's own, with the consumer's fetch wait configurable.

Faust hard-codes ``fetch_max_wait_ms=1500`` for a worker's consumer. A broker may hold a fetch
that long even when data is waiting (Tansu does: a plain aiokafka consumer measured 1233 ms median
produce -> consume at 1500 ms, 36 ms at 100 ms; docs/benchmarks.md), and an event crosses two
consumer hops before it becomes an alert, so the default alone spends the whole p99 <= 1 s target
(DOMAIN.md §4). ``PUMPSTREAM_CONSUMER_FETCH_MAX_WAIT_MS`` sets it; a lower wait costs more idle
fetch requests, not throughput.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.kafka.connection import KafkaConnection
from streams.kafka.offsets import end_offsets


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; there is no public setter
        # after construction, and Faust constructs it.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer

    async def _highwaters(self, partitions: Iterable[Any]) -> Mapping[Any, int]:
        """Where each changelog partition ends, for table recovery: the true end.

        Faust replays a table's changelog up to the end ListOffsets reports, and Tansu reports
        one past the *first* record of a partition's last batch (streams/kafka/offsets.py): a
        worker taking partitions over would start from a state short of that batch's other
        writes and never see them, since the events behind them are committed. Measured with
        the chaos harness: a 30 s broker outage (both workers rejoin) lost episodes this way."""
        kafka: KafkaConnection | None = getattr(self.app, "recovery_connection", None)
        if kafka is None or self.consumer.in_transaction:
            return await super()._highwaters(list(partitions))
        asked = {TopicPartition(tp.topic, tp.partition): tp for tp in partitions}
        ends = await end_offsets(kafka, list(asked))
        return {asked[tp]: end for tp, end in ends.items()}


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class PumpstreamApp(faust.App):
    """A ``faust.App`` whose worker consumer waits at most ``fetch_max_wait_ms`` per fetch."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms
        #: When set (:meth:`recover_to_true_ends`), table recovery reads changelogs to their
        #: true end rather than the end the broker reports.
        self.recovery_connection: KafkaConnection | None = None

    def recover_to_true_ends(self, kafka: KafkaConnection) -> None:
        self.recovery_connection = kafka

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def raw_topic(app: faust.App, *names: str) -> Any:
    """A topic carrying bytes that Faust must not decode (a decoding error would crash the agent
    and its supervisor would restart it on the same message forever): pumpstream parses them."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
