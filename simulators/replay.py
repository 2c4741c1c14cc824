"""``pumpstream replay``: send a recording back to the raw topics at its original pace,
``speed`` times faster, or (speed 0) as fast as possible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from simulators.publisher import publish
from simulators.recording import read_recording
from simulators.sim_event import SimEvent
from streams.kafka.connection import KafkaConnection


async def replay(
    kafka: KafkaConnection,
    directory: Path,
    *,
    speed: float,
    on_sent: Callable[[SimEvent], None] = lambda e: None,
) -> int:
    """Publish every message of the recording in ``directory`` in send order; return the count."""
    events = read_recording(directory)
    return await publish(kafka, events, speed=speed, on_sent=on_sent)
