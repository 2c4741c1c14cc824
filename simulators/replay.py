"""``pumpstream replay``: send a recording back to the raw topics at its original pace,
``speed`` times faster, or (speed 0) as fast as possible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from simulators.publisher import publish
from simulators.recording import read_recording
from simulators.sim_event import SimEvent


async def replay(
    bootstrap: str,
    directory: Path,
    *,
    speed: float,
    on_sent: Callable[[SimEvent], None] = lambda e: None,
) -> int:
    """Publish every message of the recording in ``directory`` in send order; return the count."""
    events = read_recording(directory)
    return await publish(bootstrap, events, speed=speed, on_sent=on_sent)
