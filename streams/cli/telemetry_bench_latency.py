"""Report -> alert latency under load for ``pumpstream bench telemetry``: back-pain reports of
reacting patients, one a second, while a paced telemetry load flows through the worker."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, TELEMETRY_RAW
from streams.cli.telemetry_bench_data import (
    envelope,
    iso,
    pain_event,
    produce,
    reacting_setup,
    reading_json,
    start_event,
)
from streams.cli.telemetry_bench_processes import (
    BenchWorker,
    Variant,
    alert_arrivals,
    until,
)
from streams.cli.telemetry_bench_report import Check, Progress
from streams.kafka.connection import KafkaConnection
from streams.kafka.partitioning import partition_of

#: Largest envelope the paced load sends (ingest's default limit is 256 kB; a reading ~240 B).
LOAD_ENVELOPE_MAX = 500


@dataclass
class Latency:
    latencies_s: list[float]
    load_per_s: float
    checks: list[Check]


async def paced_load(
    kafka: KafkaConnection, refs: list[str], per_s: float, partitions: int, stop: asyncio.Event
) -> tuple[int, float]:
    """Send readings of ``refs`` round robin at ``per_s`` (every 0.1 s, one envelope per
    partition) until ``stop``; the readings sent and the seconds it took."""
    owner = {ref: partition_of(ref.encode(), partitions) for ref in refs}
    producer = kafka.producer(acks=1, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    tick_s, cursor, sent, tick = 0.1, 0, 0, 0
    began = time.monotonic()
    try:
        while not stop.is_set():
            delay = began + tick * tick_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            at = iso(datetime.now(UTC))
            groups: dict[int, list[bytes]] = defaultdict(list)
            for _ in range(int(per_s * tick_s)):
                ref = refs[cursor % len(refs)]
                groups[owner[ref]].append(reading_json(ref, cursor // len(refs), at, 72.0))
                cursor += 1
            pending = []
            for partition, readings in groups.items():
                for i in range(0, len(readings), LOAD_ENVELOPE_MAX):
                    chunk = readings[i : i + LOAD_ENVELOPE_MAX]
                    value = envelope(f"load.{tick}.{partition}.{i}", chunk)
                    pending.append(
                        await producer.send(TELEMETRY_RAW.name, value=value, partition=partition)
                    )
                    sent += len(chunk)
            await asyncio.gather(*pending)
            tick += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent, time.monotonic() - began


async def report_latency(v: Variant, worker: BenchWorker, progress: Progress) -> Latency:
    """Back-pain reports of reacting patients, one a second, while the paced load flows:
    report's produce ack -> its R1/R2 alert read back. On the recovered worker of the full path
    (it holds the telemetry patients too); stops it."""
    config, kafka = v.config, v.kafka
    checks: list[Check] = []
    try:
        applied_before = await asyncio.to_thread(worker.readings_applied)
        load_refs = [f"load-{i:05d}" for i in range(config.patients)]
        reacting = [f"rep-{i:03d}" for i in range(config.reports)]
        now = datetime.now(UTC)
        await produce(
            kafka,
            [
                *(
                    (
                        PUMP_EVENTS_RAW.name,
                        r.encode(),
                        start_event(r, now - timedelta(minutes=30)),
                        None,
                    )
                    for r in load_refs
                ),
                *reacting_setup(reacting, now),
            ],
        )
        checks.append(Check("latency: starts applied (lag 0)", True, await v.caught_up()))
        stop_load, stop_watch = asyncio.Event(), asyncio.Event()
        arrivals: dict[str, float] = {}
        watcher = asyncio.create_task(alert_arrivals(kafka, stop_watch, arrivals))
        load = asyncio.create_task(
            paced_load(kafka, load_refs, config.load_per_s, config.partitions, stop_load)
        )
        # The load reaches its steady state before the first report.
        await asyncio.sleep(0.5 if not config.comparisons else 2.0)
        acked: dict[str, float] = {}
        producer = kafka.producer(acks=1, linger_ms=0)
        await producer.start()
        try:
            for ref in reacting:
                due = time.monotonic() + 1.0
                await producer.send_and_wait(
                    SYMPTOMS_RAW.name, key=ref.encode(), value=pain_event(ref, datetime.now(UTC))
                )
                acked[ref] = time.monotonic()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        finally:
            await producer.stop()
        checks.append(
            Check(
                "latency: every report got its alert",
                True,
                await until(lambda: set(reacting) <= set(arrivals), 60),
            )
        )
        stop_load.set()
        sent, elapsed = await load
        progress(f"latency: {len(reacting)} reports under {sent / elapsed:,.0f} observations/s")
        stop_watch.set()
        await watcher
        checks.append(Check("latency: load consumed (lag 0)", True, await v.caught_up()))
        applied = await asyncio.to_thread(worker.readings_applied)
        checks.append(
            Check("latency: load readings applied once = sent", sent, int(applied - applied_before))
        )
    finally:
        worker.stop()
    latencies = [arrivals[r] - acked[r] for r in acked if r in arrivals]
    return Latency(latencies, sent / elapsed, checks)
