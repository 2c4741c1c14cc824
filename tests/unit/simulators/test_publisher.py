"""``publish`` returns when it is interrupted even if the Kafka producer never finishes closing.

aiokafka's ``stop()`` can wait for ever for a batch that will not be sent after a send was
interrupted (aio-libs/aiokafka#1101, #1039). That hang cannot be produced on demand against a real
broker, so the producer here is a stand-in whose ``stop()`` never returns (the only stand-in in
this file)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import simulators.publisher as publisher
from simulators.sim_event import SimEvent


class _ProducerThatNeverCloses:
    def __init__(self) -> None:
        self.sent = 0

    async def start(self) -> None:
        return None

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> None:
        self.sent += 1

    async def stop(self) -> None:
        await asyncio.Event().wait()  # for ever


class _Kafka:
    def __init__(self) -> None:
        self.made = _ProducerThatNeverCloses()

    def producer(self, **options: Any) -> _ProducerThatNeverCloses:
        return self.made


def _events(n: int) -> list[SimEvent]:
    return [
        SimEvent(offset_s=float(i), topic="vitals.raw", key=b"pt-1", value=b"{}") for i in range(n)
    ]


async def test_an_interrupted_publish_returns_though_the_producer_never_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher, "STOP_TIMEOUT_S", 0.2)
    kafka = _Kafka()
    task = asyncio.create_task(publisher.publish(kafka, _events(100), speed=1.0))  # type: ignore[arg-type]
    while kafka.made.sent == 0:
        await asyncio.sleep(0.01)
    began = time.monotonic()
    task.cancel()  # Ctrl-C while it waits for the next event's time
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - began < 2
    assert kafka.made.sent == 1
