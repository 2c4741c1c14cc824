"""``pumpstream bench simulate``: how fast the simulator runs and how much load mode sends.

Measured, never asserted; results go to docs/benchmarks.md ("Simulator").
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from simulators.infusion_centre import InfusionCentre
from simulators.scenario import load_scenario
from simulators.simulated_day import simulate_day


def _median_s(runs: int, action: object) -> float:
    assert callable(action)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run_bench_simulate(chairs: int, repeats: int, load_devices: int) -> Iterator[str]:
    day = load_scenario("infusion-day")
    big = day.model_copy(update={"chairs": chairs})
    with tempfile.TemporaryDirectory(prefix="pumpstream-bench-sim-") as tmp:
        out = Path(tmp)
        centre = InfusionCentre(day, 7)
        centre.run()
        messages = len(centre.emitted)
        engine_s = _median_s(repeats, lambda: InfusionCentre(day, 7).run())
        yield (f"infusion-day (24 chairs), simulation only: {engine_s * 1000:.0f} ms "
               f"for {messages} messages ({messages / engine_s:,.0f} msg/s)")  # fmt: skip
        json_s = _median_s(repeats, lambda: simulate_day(day, 7, out / "json", hl7=False))
        yield f"infusion-day to files, JSON + truth: {json_s:.2f} s"
        full_s = _median_s(repeats, lambda: simulate_day(day, 7, out / "full"))
        yield f"infusion-day to files, JSON + HL7 v2 + truth: {full_s:.2f} s"
        big_centre = InfusionCentre(big, 7)
        big_s = _median_s(1, big_centre.run)
        big_messages = len(big_centre.emitted)
        yield (f"{chairs} chairs, simulation only: {big_s:.2f} s for {big_messages} messages "
               f"({big_messages / big_s:,.0f} msg/s)")  # fmt: skip
    if load_devices:
        yield from _bench_load(load_devices)


def _bench_load(devices: int) -> Iterator[str]:
    from simulators.load_generator import run_load
    from streams.cli.local.embedded_broker import EmbeddedBroker
    from streams.kafka.admin import ensure_topics

    with (
        tempfile.TemporaryDirectory(prefix="pumpstream-bench-load-") as tmp,
        EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker,
    ):
        asyncio.run(ensure_topics(broker.connection, partitions=4))
        for interval_s in (1.0, 0.1):
            result = asyncio.run(
                    run_load(broker.connection, pumps=devices, monitors=devices,
                             interval_s=interval_s, duration_s=10.0)
                )  # fmt: skip
            yield f"load {devices} pumps + {devices} monitors every {interval_s:g} s: " + (
                result.summary()
            )
