"""Waiting for a condition in async tests, without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``condition`` every ``interval_s`` until it holds or ``timeout_s`` passed; whether it
    holds at the end (the caller asserts it, with its own message)."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(interval_s)
    return condition()
