"""The broker and worker runs of ``pumpstream bench telemetry``, each on its variant's fresh
broker: the aiokafka ceiling, the naive Faust agent, pumpstream's full path on batched telemetry
with RSS, changelog bytes and recovery on the changelog, and a counter timed to a count for the
unbatched comparisons."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, TELEMETRY_RAW, VITALS_RAW
from streams.cli.telemetry_bench_data import (
    Message,
    TelemetryData,
    envelope,
    one_ref_per_partition,
    pain_event,
    produce,
    reacting_setup,
    start_event,
)
from streams.cli.telemetry_bench_processes import (
    READINGS,
    BenchWorker,
    NaiveAgentProcess,
    Variant,
    alert_arrivals,
    changelog,
    rate_by_counter,
    rss_bytes,
    until,
)
from streams.cli.telemetry_bench_report import Check, Progress
from streams.clinical.state import PatientState
from streams.clinical.state_store import RECOVERED_BASES_PER_CHECKPOINT
from streams.kafka.partitioning import partition_of
from streams.settings import Settings


async def aiokafka_ceiling(v: Variant, data: TelemetryData, repeats: int) -> list[float]:
    """Observations/s of a plain aiokafka consumer reading the envelopes and ``json.loads``-ing
    each (no group, no commits): what the broker and the client can deliver."""
    from aiokafka import TopicPartition

    await produce(v.kafka, ((TELEMETRY_RAW.name, None, value, p) for p, value in data.envelopes))
    rates = []
    for _ in range(repeats):
        consumer = v.kafka.consumer(enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(TELEMETRY_RAW.name, p) for p in range(v.config.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            messages = observations = 0
            began = time.perf_counter()
            while messages < len(data.envelopes) and time.perf_counter() - began < 300:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        observations += len(json.loads(record.value)["vitals"])
                        messages += 1
            rates.append(observations / (time.perf_counter() - began))
        finally:
            await consumer.stop()
    return rates


async def naive_agent_rate(v: Variant, data: TelemetryData, loop: str) -> tuple[float, Check]:
    """Messages/s of the naive Faust agent on the same readings, one per message."""
    await produce(v.kafka, ((VITALS_RAW.name, ref.encode(), r, None) for ref, r in data.readings))
    run_dir = v.run_dir / f"naive-{loop}"
    agent = NaiveAgentProcess(
        v.broker.bootstrap, VITALS_RAW.name, data.observations, run_dir, loop
    ).start()
    try:
        await asyncio.to_thread(agent.wait_ready)
        done = run_dir / "done"
        finished = await until(done.exists, timeout_s=60 + data.observations / 500)
    finally:
        agent.stop()
    if not finished:
        return 0.0, Check(f"naive agent ({loop}) read every message", True, False)
    result = json.loads(done.read_text())
    rate = (result["count"] - 1) / max(result["last_s"] - result["first_s"], 1e-3)
    return rate, Check(f"naive agent ({loop}) read every message", True, True)


@dataclass
class FullPath:
    """What one run of the full path on batched telemetry measured."""

    loop: str
    patients: int
    observations: int
    rate_per_s: float = 0.0
    seconds: float = 0.0
    ready_fresh_s: float = 0.0
    rss_empty: int = 0
    rss_after: int = 0
    #: The worker's peak RSS (VmHWM) while it applied the pre-filled readings.
    rss_peak: int = 0
    broker_rss: int = 0
    changelog_bytes: int = 0
    #: The recovered worker, still running (with ``recover``): the latency run reuses it.
    worker: BenchWorker | None = None
    recovery_ready_s: float = 0.0
    recovered_s: float = 0.0
    checks: list[Check] = field(default_factory=list)


async def full_path(
    v: Variant, data: TelemetryData, loop: str, *, recover: bool, progress: Progress
) -> FullPath:
    """Pre-filled ``telemetry.raw`` through a real worker: each patient's infusion started
    first (a first worker applies the starts and stops), then a second worker reads the
    envelopes; with ``recover`` a third starts on the changelog the second left."""
    kafka, config = v.kafka, v.config
    result = FullPath(loop, len(data.refs), data.observations)
    first = await v.worker("w1", loop)
    try:
        result.ready_fresh_s, result.rss_empty = first.ready_s, rss_bytes(first.process.pid)
        probes = one_ref_per_partition(f"probe-{loop}", config.partitions)
        starts: list[Message] = [
            (
                PUMP_EVENTS_RAW.name,
                ref.encode(),
                start_event(ref, data.t0 - timedelta(minutes=10)),
                None,
            )
            for ref in data.refs
        ]
        await produce(kafka, [*starts, *reacting_setup(probes, datetime.now(UTC))])
        result.checks.append(Check(f"{loop}: starts applied (lag 0)", True, await v.caught_up()))
    finally:
        first.stop()
    bytes_before, _, _ = await changelog(kafka, config)
    await produce(kafka, ((TELEMETRY_RAW.name, None, value, p) for p, value in data.envelopes))
    second = await v.worker("w2", loop)
    try:
        try:
            result.rate_per_s, result.seconds = await rate_by_counter(
                lambda: second.metric(READINGS, outcome="accepted"),
                data.observations,
                timeout_s=120 + data.observations / 200,
                since=second.ready_at,
            )
        except TimeoutError as exc:
            accepted = await asyncio.to_thread(second.metric, READINGS, outcome="accepted")
            raise TimeoutError(
                f"{exc} ({accepted:g} accepted); the worker's log ends:\n{second.log_tail()}"
            ) from exc
        result.checks.append(
            Check(f"{loop}: telemetry consumed (lag 0)", True, await v.caught_up())
        )
        applied = await asyncio.to_thread(second.readings_applied)
        result.checks.append(
            Check(f"{loop}: readings applied once = sent", data.observations, applied)
        )
        result.rss_peak = rss_bytes(second.process.pid, "VmHWM")
        # What the worker holds, once it had a chance to return what it freed (its heap trim).
        await asyncio.sleep(Settings().heap_trim_interval_s + 1)
        result.rss_after, result.broker_rss = rss_bytes(second.process.pid), rss_bytes(v.broker.pid)
        progress(
            f"full path ({loop}): {data.observations} observations at "
            f"{result.rate_per_s:,.0f}/s; worker RSS {result.rss_after / 1e6:.0f} MB"
        )
    finally:
        second.stop()
    bytes_after, states, counts = await changelog(kafka, config)
    result.changelog_bytes = bytes_after - bytes_before
    if recover:
        result.worker = await recovery(v, data, loop, probes, (states, counts), result)
    return result


async def recovery(
    v: Variant,
    data: TelemetryData,
    loop: str,
    probes: list[str],
    before: tuple[dict[str, PatientState], dict[str, int]],
    result: FullPath,
) -> BenchWorker:
    """A fresh worker on the changelog: time to ready, and to the first alerts that need the
    recovered state (back pain of patients whose rate increase only the earlier worker read).
    Each telemetry patient's last reading is then sent again: a duplicate changes nothing, but
    marks the patient dirty, so the worker writes the state it recovered (a base, its first
    checkpoint of the patient), which must be the state the earlier worker's records hold.
    The worker is left running."""
    kafka = v.kafka
    arrivals: dict[str, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(alert_arrivals(kafka, stop, arrivals))
    await asyncio.sleep(0.5)  # the watcher's reader opens at the end of the alerts topic
    began = time.monotonic()
    third = await v.worker("w3", loop)
    try:
        result.recovery_ready_s = third.ready_s
        now = datetime.now(UTC)
        await produce(
            kafka, [(SYMPTOMS_RAW.name, p.encode(), pain_event(p, now), None) for p in probes]
        )
        alerted = await until(lambda: set(probes) <= set(arrivals), timeout_s=120)
        result.recovered_s = max(arrivals.values(), default=time.monotonic()) - began
        result.checks.append(
            Check(f"{loop}: recovered state raised every probe's R1", True, alerted)
        )
        by_partition: dict[int, list[bytes]] = defaultdict(list)
        for ref in data.refs:
            by_partition[partition_of(ref.encode(), v.config.partitions)].append(
                data.last_reading[ref]
            )
        await produce(
            kafka,
            (
                (TELEMETRY_RAW.name, None, envelope(f"again.{p}", readings), p)
                for p, readings in by_partition.items()
            ),
        )
        duplicates_read = await until(
            lambda: third.metric(READINGS, outcome="accepted") >= len(data.refs), timeout_s=60
        )
        result.checks.append(Check(f"{loop}: duplicates read after restart", True, duplicates_read))
        result.checks.append(
            Check(f"{loop}: consumed after restart (lag 0)", True, await v.caught_up())
        )
        stop.set()
        await watcher
        # Lag 0: the commit has been made, so the records it covers are on the changelog.
        _, after, counts = await changelog(kafka, v.config)
        states_before, counts_before = before
        # A duplicate changes nothing: what a recovered patient writes is its whole state (a
        # base), at most RECOVERED_BASES_PER_CHECKPOINT a commit, and nothing for the others.
        # The probes are recovered patients too, and a commit may write theirs from the same
        # budget (run 9: 196 telemetry patients and the 4 probes in one commit).
        recovered = [*data.refs, *probes]
        rewritten = sum(counts.get(r, 0) > counts_before.get(r, 0) for r in recovered)
        whole = min(len(recovered), RECOVERED_BASES_PER_CHECKPOINT)
        identical = sum(r in after and after.get(r) == states_before.get(r) for r in data.refs)
        result.checks.append(
            Check(
                f"{loop}: states rewritten whole after restart (at least)",
                whole,
                min(rewritten, whole),
            )
        )
        result.checks.append(Check(f"{loop}: recovered state identical", len(data.refs), identical))
        return third
    except BaseException:  # left running only when returned: no child outlives the run
        stop.set()
        third.stop()
        raise


async def counted_rate(
    v: Variant,
    messages: list[Message],
    loop: str,
    name: str,
    counter: str,
    expected: int,
    **labels: str,
) -> tuple[float, Check]:
    """Pre-fill ``messages``, start a worker, and time ``counter`` to ``expected``."""
    await produce(v.kafka, messages)
    worker = await v.worker(name, loop)
    try:
        rate, _ = await rate_by_counter(
            lambda: worker.metric(counter, **labels),
            expected,
            timeout_s=120 + expected / 100,
            since=worker.ready_at,
        )
        caught_up = await v.caught_up()
        counted = await asyncio.to_thread(worker.metric, counter, **labels)
    finally:
        worker.stop()
    return rate, Check(
        f"{name}: {counter}{labels} = sent (lag 0: {caught_up})",
        expected,
        int(counted) if caught_up else -1,
    )
