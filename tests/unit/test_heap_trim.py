"""The worker gives the memory it freed back to the system (``streams/worker.py``)."""

from __future__ import annotations

import os
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
