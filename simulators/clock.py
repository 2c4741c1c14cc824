"""Simulated time and seeded randomness: the same seed gives the same day, at any speed.

Simulated time is seconds from the scenario's start; nothing reads the wall clock except
:class:`PacedClock`, which maps simulated seconds onto wall seconds for live runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta


def derive_rng(seed: int, *names: str | int) -> random.Random:
    """An independent random stream per (seed, names): one patient's draws never shift
    another's, so adding a fault or a chair leaves the rest of the day unchanged."""
    label = ":".join(str(n) for n in (seed, *names)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(label).digest()[:8], "big"))


@dataclass(frozen=True, slots=True)
class SimClock:
    """Simulated seconds from ``start`` <-> timezone-aware datetimes."""

    start: datetime

    def at(self, offset_s: float) -> datetime:
        # Millisecond resolution: what device clocks and HL7 timestamps carry.
        return self.start + timedelta(milliseconds=round(offset_s * 1000))

    def offset_of(self, when: datetime) -> float:
        return (when - self.start).total_seconds()


class PacedClock:
    """Simulated seconds advancing ``speed`` times faster than the wall clock."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"a paced clock needs speed > 0, got {speed}")
        self.speed = speed
        self._began = time.monotonic()

    def now_s(self) -> float:
        """Simulated seconds since this clock was created."""
        return (time.monotonic() - self._began) * self.speed

    async def sleep_until(self, offset_s: float) -> None:
        delay = (offset_s - self.now_s()) / self.speed
        if delay > 0:
            await asyncio.sleep(delay)
