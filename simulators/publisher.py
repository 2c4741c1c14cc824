"""Send simulated messages to Kafka on an accelerated clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from simulators.sim_event import SimEvent
from streams.kafka.connection import KafkaConnection

#: How long closing the producer may take before it is abandoned.
STOP_TIMEOUT_S = 10.0


async def publish(
    kafka: KafkaConnection,
    events: Sequence[SimEvent],
    *,
    speed: float,
    on_sent: Callable[[SimEvent], None] = lambda e: None,
) -> int:
    """Send ``events`` in order, each when ``offset_s / speed`` wall seconds have passed
    (``speed <= 0``: as fast as possible). Returns the number sent."""
    producer = kafka.producer(acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        pending = []
        for event in events:
            if speed > 0:
                delay = started + event.offset_s / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await producer.send_and_wait(
                    event.topic, key=event.key, value=event.value, partition=event.partition
                )
            else:
                # As fast as possible: let the producer batch; per-partition order is kept.
                pending.append(
                    await producer.send(
                        event.topic, key=event.key, value=event.value, partition=event.partition
                    )
                )
            on_sent(event)
        await asyncio.gather(*pending)
        return len(events)
    finally:
        # Nothing is pending here (every send was awaited), but after a send interrupted
        # half-way (Ctrl-C) aiokafka's stop() can wait for ever for a batch that will not be
        # sent (aio-libs/aiokafka#1101, #1039). So it is bounded.
        closing = asyncio.ensure_future(producer.stop())
        _, still_closing = await asyncio.wait({closing}, timeout=STOP_TIMEOUT_S)
        for task in still_closing:
            task.cancel()  # abandoned: its flush waits for a batch that will not be sent
