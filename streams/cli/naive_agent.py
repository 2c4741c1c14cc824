"""The naive baseline of ``pumpstream bench telemetry``: a minimal Faust app that reads one event
per Kafka message, decodes it with ``json.loads`` and counts it (memory store, raw value
serializer, nothing else), run as its own process like the worker.

It is what Faust costs per message before pumpstream does any work (issue 15 asks that the full
path be faster per observation than this). It writes ``ready`` once it holds its partitions and
``done`` (a JSON object: first and last event times, count) once it has read ``--expect`` events,
so the benchmark times it from outside without a commit interval's uncertainty.

    python -m streams.cli.naive_agent BOOTSTRAP TOPIC EXPECT RUN_DIR [asyncio|uvloop]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import faust

from streams.worker import new_event_loop

#: Tansu holds a group join for half the session timeout (as the worker's app: streams/app.py).
SESSION_TIMEOUT_S = 6.0


def naive_app(bootstrap: str, topic: str, expect: int, run_dir: Path) -> faust.App:
    """The app: one agent that decodes and counts, and writes ``done`` after ``expect``."""
    app = faust.App(
        "pumpstream-naive",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        autodiscover=False,
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=4.0,
        web_enabled=False,
        datadir=str(run_dir / "naive-data"),
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    counted = {"n": 0, "first": 0.0}

    async def count(stream: Any) -> None:
        async for value in stream:
            json.loads(value)
            counted["n"] += 1
            if counted["n"] == 1:
                counted["first"] = time.time()
            if counted["n"] == expect:
                done = {"count": expect, "first_s": counted["first"], "last_s": time.time()}
                (run_dir / "done").write_text(json.dumps(done), encoding="utf-8")

    async def ready(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        (run_dir / "ready").write_text(str(time.time()), encoding="utf-8")

    app.agent(source, name="naive")(count)
    app.on_rebalance_complete.connect(ready)  # type: ignore[arg-type]
    return app


def main(argv: list[str]) -> None:
    bootstrap, topic, expect, run_dir = argv[0], argv[1], int(argv[2]), Path(argv[3])
    loop_kind = argv[4] if len(argv) > 4 else "uvloop"
    run_dir.mkdir(parents=True, exist_ok=True)
    loop = new_event_loop(loop_kind)
    asyncio.set_event_loop(loop)
    app = naive_app(bootstrap, topic, expect, run_dir)
    faust.Worker(app, loglevel="warning", loop=loop, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
