"""Giving the memory a worker freed back to the operating system (glibc's ``malloc_trim``).

A telemetry worker frees most of what it allocates within seconds: fetched batches, decoded
envelopes, a commit's encoded records. glibc's allocator keeps the pages of what was freed for
reuse and returns only the top of its heap, so the resident size stays at the worker's
highest use since it started: after a backlog of 200,000 readings for 2,000 patients, 40 MB of
a worker's 195 MB (after a full collection) was free memory glibc held, 20 kB per infusion
(docs/benchmarks.md, "Memory: what the worker held"). ``malloc_trim(0)`` returns every free
page of every arena; measured there: 3.9 ms for those 40 MB, 0.2 ms with nothing to return.

Elsewhere (musl, macOS) there is no ``malloc_trim``: :func:`heap_trimmer` says so and the
worker does without.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

import faust

log = logging.getLogger(__name__)


def heap_trimmer() -> Callable[[], bool] | None:
    """A call that returns the free memory of every malloc arena to the system (True when any
    was returned), or None when the C library has no ``malloc_trim``."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> bool:
        return bool(trim(0))

    return release


def register_heap_trim(app: faust.App, interval_s: float) -> bool:
    """Trim the heap every ``interval_s`` while ``app`` runs (on its event loop: a few
    milliseconds at most); False, and nothing registered, when the interval is 0 or the C
    library cannot."""
    release = heap_trimmer() if interval_s > 0 else None
    if release is None:
        if interval_s > 0:
            log.info("memory is not returned to the system: the C library has no malloc_trim")
        return False

    async def trim_heap() -> None:
        release()

    app.timer(interval_s, name="trim_heap")(trim_heap)
    return True
