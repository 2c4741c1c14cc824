"""The Faust app class pumpstream runs: Faust's own, with the consumer's fetch wait configurable.

Faust hard-codes ``fetch_max_wait_ms=1500`` for a worker's consumer. A broker may hold a fetch
that long even when data is waiting (Tansu does: a plain aiokafka consumer measured 1233 ms median
produce -> consume at 1500 ms, 36 ms at 100 ms; docs/benchmarks.md), and an event crosses two
consumer hops before it becomes an alert, so the default alone spends the whole p99 <= 1 s target
(DOMAIN.md §4). ``PUMPSTREAM_CONSUMER_FETCH_MAX_WAIT_MS`` sets it; a lower wait costs more idle
fetch requests, not throughput.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; there is no public setter
        # after construction, and Faust constructs it.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer


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

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def raw_topic(app: faust.App, *names: str) -> Any:
    """A topic carrying bytes that Faust must not decode (a decoding error would crash the agent
    and its supervisor would restart it on the same message forever): pumpstream parses them."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
