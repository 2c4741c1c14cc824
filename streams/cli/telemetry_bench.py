"""``pumpstream bench telemetry``: a hospital's telemetry through one worker, measured side by side
in one run on the same data (issue 15, item 6; results in docs/benchmarks.md).

Each variant gets a fresh embedded broker: the plain aiokafka ceiling, a naive one-event-per-
message Faust agent (``naive_agent.py``), pumpstream's full path on batched telemetry (per event
loop), unbatched clinical events, readings one per message on vitals.raw and in telemetry.raw
envelopes of one, report -> alert latency under a paced telemetry load, RSS, changelog bytes,
time to ready and to recover, and in process the cost per observation at the start and in the
4th hour of an infusion.

Throughput through a worker is read from its own counters, polled every second: the steady rate
between the first poll that sees them move and the last before they reach the count; group lag 0
is then awaited as the proof that everything was consumed. Beside each speed figure the run
records correctness checks (counts match, every report got its alert, recovery restores identical
state), which the test asserts.

This module orders the variants and builds the figures; beside it, ``telemetry_bench_report``
(parameters, figures, checks, table and JSON), ``_data`` (readings, envelopes, events),
``_processes`` (broker, children, counters), ``_runs`` (the broker and worker runs), ``_latency``
(reports under load) and ``_inprocess`` (per-call costs and profiles).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.topics import TELEMETRY_RAW, VITALS_RAW
from streams.cli.bench_figures import percentile
from streams.cli.telemetry_bench_data import (
    Message,
    TelemetryData,
    check_reading_template,
    clinical_messages,
    envelope,
    iso,
    telemetry_data,
)
from streams.cli.telemetry_bench_inprocess import in_process_figures
from streams.cli.telemetry_bench_latency import Latency, report_latency
from streams.cli.telemetry_bench_processes import PROCESSED, READINGS, Variant
from streams.cli.telemetry_bench_report import (
    Figure,
    Progress,
    TelemetryBenchConfig,
    TelemetryBenchReport,
)
from streams.cli.telemetry_bench_runs import (
    FullPath,
    aiokafka_ceiling,
    counted_rate,
    full_path,
    naive_agent_rate,
)
from streams.kafka.partitioning import partition_of


def machine() -> dict[str, object]:
    import aiokafka
    import faust

    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "faust": faust.__version__,
        "aiokafka": aiokafka.__version__,
        "platform": platform.platform(),
        "started": iso(datetime.now(UTC)),
    }


async def run_telemetry_bench(
    config: TelemetryBenchConfig, run_root: Path, progress: Progress
) -> TelemetryBenchReport:
    """Every variant, one after the other, each on a fresh broker under ``run_root``."""
    check_reading_template()
    report = TelemetryBenchReport(config, machine=machine())
    add, figures = report.checks.extend, report.figures
    seconds = max(1, config.observations // config.patients)
    t0 = datetime.now(UTC) - timedelta(seconds=seconds + 60)
    data = telemetry_data("tel", config.patients, seconds, config.batch_size, config.partitions, t0)
    params = (
        f"{config.patients} patients, {data.observations} observations, envelopes of "
        f"{config.batch_size}, {config.partitions} partitions"
    )
    progress(f"data: {params}, {len(data.envelopes)} envelopes")

    async with Variant(run_root / "ceiling", config) as v:
        ceiling = statistics.median(await aiokafka_ceiling(v, data, config.repeats))
    figures.append(
        Figure(
            "ceiling",
            "1. aiokafka ceiling: getmany + json.loads",
            ceiling,
            "obs/s",
            note=f"median of {config.repeats}; {params}",
        )
    )
    progress(f"aiokafka ceiling: {ceiling:,.0f} observations/s")

    naive: dict[str, float] = {}
    for loop in config.loops if config.comparisons else ():
        async with Variant(run_root / f"naive-{loop}", config) as v:
            naive[loop], check = await naive_agent_rate(v, data, loop)
        add([check])
        figures.append(
            Figure(
                f"naive_{loop}",
                f"2. naive Faust agent, 1 reading/message, {loop}",
                naive[loop],
                "msg/s",
                note=f"{1e6 / max(naive[loop], 1):.0f} us per message",
            )
        )
        progress(f"naive agent ({loop}): {naive[loop]:,.0f} messages/s")

    runs: dict[str, FullPath] = {}
    latency = Latency([], 0.0, [])
    for i, loop in enumerate(config.loops):
        async with Variant(run_root / f"full-{loop}", config) as v:
            runs[loop] = await full_path(v, data, loop, recover=i == 0, progress=progress)
            recovered = runs[loop].worker
            if recovered is not None:
                latency = await report_latency(v, recovered, progress)
        add(runs[loop].checks)
        rate = runs[loop].rate_per_s
        figures.append(
            Figure(
                f"full_path_{loop}",
                f"3. full path, batched telemetry, {loop}",
                rate,
                "obs/s",
                ">= 100,000",
                rate >= 100_000,
                note=f"{rate / ceiling:.1%} of the ceiling (target >= 50 %: "
                f"{'met' if rate >= ceiling / 2 else 'missed'}); "
                + (f"{rate / naive[loop]:.1f}x the naive agent" if loop in naive else ""),
            )
        )
    main = runs[config.loops[0]]

    if config.comparisons:
        await clinical_figure(config, naive, run_root, report)
        await one_per_message(config, data, run_root, report)
    add(latency.checks)
    latency_figures(latency, report)
    await memory_figures(config, data, main, run_root, report, progress)
    in_process_figures(config, data, report)
    report.machine["loadavg_at_end"] = os.getloadavg()
    return report


async def clinical_figure(
    config: TelemetryBenchConfig,
    naive: dict[str, float],
    run_root: Path,
    report: TelemetryBenchReport,
) -> None:
    """Unbatched pump events, read from ``pump.events.raw`` by the clinical agent (one hop)."""
    async with Variant(run_root / "clinical", config) as v:
        messages, total = clinical_messages(config.patients, config.clinical_events)
        clinical, check = await counted_rate(
            v, messages, config.loops[0], "clinical", PROCESSED, total, stage="clinical"
        )
    report.checks.append(check)
    faster = clinical > naive.get(config.loops[0], 0)
    report.figures.append(
        Figure(
            "unbatched_clinical",
            "4. unbatched pump events, raw topic -> clinical",
            clinical,
            "msg/s",
            ">= 10,000",
            clinical >= 10_000,
            note=f"{total} events; faster than the naive agent: {faster}",
        )
    )


def latency_figures(latency: Latency, report: TelemetryBenchReport) -> None:
    ms = [s * 1000 for s in latency.latencies_s]
    for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        value = percentile(ms, q) if ms else float("nan")
        report.figures.append(
            Figure(
                f"latency_{label}",
                f"5. report -> alert {label} under load",
                value,
                "ms",
                "<= 200" if q == 0.99 else "",
                (value <= 200) if q == 0.99 else None,
                note=f"{len(ms)} reports; load achieved {latency.load_per_s:,.0f} obs/s"
                if q == 0.99
                else "",
            )
        )


async def one_per_message(
    config: TelemetryBenchConfig, data: TelemetryData, run_root: Path, report: TelemetryBenchReport
) -> None:
    """The same readings one per message: on ``vitals.raw`` (validated and copied to ``vitals``
    by the clinical agent, as a clinical event is) and on ``telemetry.raw`` in envelopes of one
    (no copy). Both are one Faust hop since the clinical agent reads the raw clinical topics
    (docs/benchmarks.md, "One hop for clinical events"); the difference is the validated copy
    and the per-event path. No infusion runs, so the patient's work is small."""
    readings = data.readings[: config.clinical_events]
    loop = config.loops[0]
    raw: list[Message] = [(VITALS_RAW.name, ref.encode(), r, None) for ref, r in readings]
    one: list[Message] = [
        (
            TELEMETRY_RAW.name,
            None,
            envelope(f"one.{i}", [r]),
            partition_of(ref.encode(), config.partitions),
        )
        for i, (ref, r) in enumerate(readings)
    ]
    async with Variant(run_root / "vitals-raw", config) as v:
        raw_rate, check_raw = await counted_rate(
            v, raw, loop, "vitals.raw", PROCESSED, len(raw), stage="clinical"
        )
    async with Variant(run_root / "envelopes-of-one", config) as v:
        one_rate, check1 = await counted_rate(
            v, one, loop, "envelopes of one", READINGS, len(one), outcome="accepted"
        )
    report.checks.extend([check_raw, check1])
    extra_us = 1e6 / raw_rate - 1e6 / one_rate
    report.figures += [
        Figure(
            "vitals_raw",
            "   readings 1/message, vitals.raw -> clinical (+ copy to vitals)",
            raw_rate,
            "msg/s",
            note=f"{len(raw)} readings, no infusion",
        ),
        Figure(
            "envelopes_of_one",
            "   readings 1/message, telemetry.raw envelopes of 1",
            one_rate,
            "msg/s",
            note=f"vitals.raw costs {extra_us:.0f} us more per message",
        ),
    ]


async def memory_figures(
    config: TelemetryBenchConfig,
    data: TelemetryData,
    main: FullPath,
    run_root: Path,
    report: TelemetryBenchReport,
    progress: Progress,
) -> None:
    """RSS for N active infusions (the main run when it had exactly those), changelog bytes per
    observation, time to ready and to recover."""
    run = main
    if (config.infusions, config.readings_per_infusion) != (
        config.patients,
        len(data.readings) // config.patients,
    ):
        rss_data = telemetry_data(
            "rss",
            config.infusions,
            config.readings_per_infusion,
            config.batch_size,
            config.partitions,
            datetime.now(UTC) - timedelta(seconds=config.readings_per_infusion + 60),
        )
        async with Variant(run_root / "rss", config) as v:
            run = await full_path(v, rss_data, config.loops[0], recover=False, progress=progress)
        report.checks.extend(run.checks)
    per_infusion = (run.rss_after - run.rss_empty) / run.patients
    at_10k = (run.rss_empty + 10_000 * per_infusion) / 1e6
    bytes_per_obs = main.changelog_bytes / main.observations
    # The state-dependent part of recovery (beyond a fresh worker's join), scaled linearly.
    state_part_s = max(0.0, main.recovered_s - main.ready_fresh_s)
    recovered_10k = main.ready_fresh_s + state_part_s * 10_000 / max(main.patients, 1)
    note = (
        f"{run.patients} infusions x {run.observations // run.patients} readings at 1 Hz, "
        "taken a heap trim interval after the last"
    )
    report.figures += [
        Figure("rss_worker_empty", "6. worker RSS, ready, no patients", run.rss_empty / 1e6, "MB"),
        Figure(
            "rss_worker", "6. worker RSS after N infusions", run.rss_after / 1e6, "MB", note=note
        ),
        Figure(
            "rss_worker_peak",
            "6. worker peak RSS (VmHWM) while applying them",
            run.rss_peak / 1e6,
            "MB",
            note="the backlog buffered at once: the topic was pre-filled",
        ),
        Figure("rss_per_infusion", "6. worker RSS per infusion", per_infusion, "B"),
        Figure(
            "rss_worker_10k",
            "6. worker RSS extrapolated to 10,000 infusions",
            at_10k,
            "MB",
            "<= 250",
            at_10k <= 250,
        ),
        Figure(
            "rss_broker",
            "6. broker (Tansu) RSS after N infusions",
            run.broker_rss / 1e6,
            "MB",
            note="memory storage: holds every topic, changelog included",
        ),
        Figure(
            "changelog_bytes_per_obs",
            "7. changelog bytes per observation",
            bytes_per_obs,
            "B/obs",
            "<= 50",
            bytes_per_obs <= 50,
            note=f"{main.changelog_bytes:,} B of changelog records for {main.observations} obs",
        ),
        Figure(
            "ready_fresh",
            "8. time to ready, fresh worker",
            main.ready_fresh_s,
            "s",
            "<= 8",
            main.ready_fresh_s <= 8,
        ),
        Figure(
            "ready_recovering",
            "8. time to ready, changelog of N patients",
            main.recovery_ready_s,
            "s",
            note=f"N = {main.patients} (+ probes)",
        ),
        Figure(
            "recovered",
            "8. start -> first alert needing recovered state",
            main.recovered_s,
            "s",
            note=f"N = {main.patients}",
        ),
        Figure(
            "recovered_10k",
            "8. recovery extrapolated to 10,000 patients",
            recovered_10k,
            "s",
            "<= 10",
            recovered_10k <= 10,
            note="fresh ready + max(0, recovered - fresh ready) x 10,000 / N",
        ),
    ]


def run(config: TelemetryBenchConfig, json_path: Path, progress: Progress) -> TelemetryBenchReport:
    """The command: run the bench in a temporary directory and write the JSON."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pumpstream-bench-telemetry-") as tmp:
        report = asyncio.run(run_telemetry_bench(config, Path(tmp), progress))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(report.to_json(), encoding="utf-8")
    return report
