"""``BatchedSends`` with a real Faust app whose producer has not started: the refused batch
reaches the app's sensors as Faust's own failed sends do (the worker's produce-failure sensor
counts it and stops the worker: streams/worker.py). The sends themselves are tested on the
broker (tests/integration/test_batched_sends_on_broker.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from streams.kafka.batched_sends import BatchedSends
from streams.kafka.produce_failures import ProduceFailureSensor


async def test_a_batch_the_producer_cannot_take_reaches_the_apps_sensors() -> None:
    app = faust.App("batched-sends-test", broker="kafka://127.0.0.1:9")
    failures: list[tuple[str, BaseException]] = []
    app.sensors.add(ProduceFailureSensor(lambda topic, exc: failures.append((topic, exc))))
    deliveries: list[asyncio.Future[Any]] = []
    sends = BatchedSends(app, deliveries.append, linger_s=60)
    sends.add("pump.events", 1, b"pt-1", b"{}")
    sends.add("vitals", 0, b"pt-2", b"{}")
    await sends.flush()  # never raises
    assert [topic for topic, _ in failures] == ["pump.events", "vitals"]
    assert all("not yet started" in str(exc) for _, exc in failures)
    assert deliveries == []
    assert sends.waiting == 0
