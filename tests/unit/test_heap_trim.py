"""The worker gives the memory it freed back to the system (``streams/worker.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import faust
import pytest

from streams.worker import heap_trimmer, register_heap_trim


def _rss() -> int:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(heap_trimmer() is None, reason="the C library has no malloc_trim (not glibc)")
def test_freed_memory_between_live_blocks_goes_back_to_the_system() -> None:
    """What a worker's heap looks like after a backlog: most blocks freed, a few live ones
    scattered among them, so glibc cannot return the pages by itself."""
    trim = heap_trimmer()
    assert trim is not None
    trim()
    blocks = [bytearray(4096) for _ in range(20_000)]  # 80 MB, each above pymalloc's 512 B
    kept = blocks[::8]
    del blocks
    held = _rss()
    assert trim(), "malloc_trim returned nothing"
    released = held - _rss()
    assert released > 40e6, f"only {released / 1e6:.1f} MB of ~70 MB freed went back"
    assert len(kept) == 2_500  # (alive until here)


def test_the_worker_registers_the_trim_as_a_timer_unless_told_not_to() -> None:
    app = faust.App("heap-trim-test", broker="kafka://127.0.0.1:9", autodiscover=False)
    assert not register_heap_trim(app, 0)
    assert _timers(app) == []
    assert register_heap_trim(app, 10.0) is (heap_trimmer() is not None)
    assert _timers(app) == (["trim_heap"] if heap_trimmer() is not None else [])


def _timers(app: faust.App) -> list[str]:
    # (Faust keeps the app's timers and tasks in a private list: nothing public lists them.)
    return [task.__name__ for task in app._app_tasks]


_ARENAS_PROBE = """
import ctypes, ctypes.util, sys, threading
from streams.worker import limit_malloc_arenas
if sys.argv[1] != "0":
    assert limit_malloc_arenas(int(sys.argv[1]))
def allocate() -> None:
    blocks = [bytearray(100_000) for _ in range(10)]  # (below the mmap threshold: a heap's)
threads = [threading.Thread(target=allocate) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()  # (to stderr, "Arena N:" each)
"""


@pytest.mark.skipif(heap_trimmer() is None, reason="the C library is not glibc")
@pytest.mark.parametrize(("limit", "expected"), [(0, range(2, 6)), (1, range(1, 2))])
def test_threads_share_the_malloc_arenas_the_setting_allows(limit: int, expected: range) -> None:
    """Four threads allocating take an arena each by default (``PUMPSTREAM_MALLOC_ARENAS=0``),
    and share the main one with the worker's default (1)."""
    probe = subprocess.run(
        [sys.executable, "-c", _ARENAS_PROBE, str(limit)],
        capture_output=True,
        text=True,
        check=True,
    )
    arenas = [line for line in probe.stderr.splitlines() if line.startswith("Arena ")]
    assert len(arenas) in expected, probe.stderr
