"""``pumpstream fuzz``: hostile input through a live worker, every input accounted for.

The embedded broker and one ``pumpstream worker``; ``--inputs`` seeded hostile raw messages
(``fuzz_inputs.py``) across the three raw topics. All but the last ``--burst`` (20,000) go to
every partition, with a valid patient's pump events; once the worker has consumed them, the
burst goes to every partition but the patient's, then the patient's pain report. Measured:

- **accounting**, per raw topic, on the topics (every record read: validated + dead-lettered +
  set aside by the ingest guard = sent) and in the worker's ``/metrics``
  (``pumpstream_events_in_total``, ``pumpstream_events_out_total`` of the validated topic,
  ``pumpstream_dead_letters_total``): ``fuzz_census.py``;
- **crashes**: the worker still running and no agent crash in its log; and
  ``pumpstream_agent_failures_total`` (messages a guard set aside to ``processing.dlq``);
- **latency**: pain report acknowledged by Kafka -> its R1 alert read from ``alerts``, and
  where the time went (record timestamps).

Targets (docs/reliability.md, "Fuzz"): 0 unaccounted, 0 crashes, the alert within 2 s of its
pain report. Exit code 1 when one is missed.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas.alerts import Alert
from schemas.topics import ALERTS, CLINICAL_TOPICS, RAW_TOPICS
from streams.cli.fuzz_census import (
    Samples,
    TopicCount,
    metric,
    settled_metrics,
    take_census,
)
from streams.cli.fuzz_inputs import (
    GOOD_PATIENT,
    RawInput,
    hostile_inputs,
    hostile_patients,
    reacting_patient,
)
from streams.cli.fuzz_report import FuzzReport, print_report
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.partitioning import partition_of
from streams.kafka.reading import TopicReader
from streams.settings import Settings

DEFAULT_BURST = 20_000
#: Longest the worker may take to consume a phase (100,000 inputs: about 3 minutes).
CATCH_UP_TIMEOUT_S = 900.0
#: Longest the pain report's alert is waited for.
ALERT_TIMEOUT_S = 120.0
SEND_CHUNK = 2_000
PROGRESS_EVERY = 10_000
Progress = Callable[[str], None]


@dataclass
class _Sent:
    """What was sent: per raw topic, and per kind."""

    counts: dict[str, TopicCount] = field(
        default_factory=lambda: {spec.name: TopicCount() for spec in RAW_TOPICS}
    )
    kinds: Counter[str] = field(default_factory=Counter)


async def _send(
    kafka: KafkaConnection,
    inputs: Iterable[RawInput],
    sent: _Sent,
    progress: Progress,
    *,
    avoid: tuple[int, int] | None = None,
) -> None:
    """Send as fast as the broker takes them (batched), acknowledged before returning; count
    them by topic and kind. ``avoid`` = (partition, partitions): nothing goes to that partition
    (what its key would put there goes to the next one)."""
    producer = kafka.producer(
        acks="all", enable_idempotence=False, linger_ms=5, max_request_size=4_000_000
    )
    await producer.start()
    try:
        pending = []
        for n, item in enumerate(inputs, start=1):
            partition = None
            if avoid is not None:
                skipped, partitions = avoid
                key = item.key
                partition = n % partitions if key is None else partition_of(key, partitions)
                if partition == skipped:
                    partition = (partition + 1) % partitions
            pending.append(
                await producer.send(item.topic, item.value, key=item.key, partition=partition)
            )
            sent.counts[item.topic].sent += 1
            sent.kinds[item.kind] += 1
            if len(pending) >= SEND_CHUNK:
                await asyncio.gather(*pending)
                pending = []
                if n % PROGRESS_EVERY == 0:
                    progress(f"  sent {n:,}")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class _AlertRead:
    """The reacting patient's first alert: when it was read (monotonic, wall clock) and when
    the worker produced it (its record's timestamp)."""

    read_at: float
    read_wall: float
    produced_wall: float


async def _watch_alert(kafka: KafkaConnection, seen: asyncio.Future[_AlertRead]) -> None:
    async with TopicReader(kafka, ALERTS.name, start="end", fetch_max_wait_ms=10) as reader:
        while not seen.done():
            for record in await reader.read(timeout_ms=50):
                alert = Alert.model_validate_json(record.value or b"")
                if alert.patient_ref == GOOD_PATIENT and not seen.done():
                    read = _AlertRead(time.monotonic(), time.time(), record.timestamp / 1000)
                    seen.set_result(read)


async def _caught_up(
    kafka: KafkaConnection, settings: Settings, progress: Progress, what: str
) -> float:
    """Wait until the worker committed everything on the topics it reads; seconds it took."""
    began = time.monotonic()
    raw = [t.name for t in RAW_TOPICS]
    validated = [t.name for t in CLINICAL_TOPICS]
    groups = (
        [(f"{settings.app_id}-ingest", raw), (settings.app_id, validated)]
        if settings.worker_role != "all"
        else [(settings.app_id, raw)]  # one worker validates in its clinical agent
    )
    for group, consumed in groups:
        if not await wait_until_caught_up(kafka, group, consumed, timeout_s=CATCH_UP_TIMEOUT_S):
            raise TimeoutError(f"the worker did not consume {what} within {CATCH_UP_TIMEOUT_S:g} s")
    took = time.monotonic() - began
    progress(f"  the worker consumed {what} {took:.1f} s after the last was sent")
    return took


@dataclass
class _Played:
    latency_s: float | None
    notes: list[str]
    pain_event_id: str
    #: Wall clock when Kafka acknowledged the pain report, and its alert.
    acknowledged_wall: float
    alert: _AlertRead | None


async def _play(
    kafka: KafkaConnection,
    settings: Settings,
    inputs: int,
    seed: int,
    burst: int,
    sent: _Sent,
    progress: Progress,
) -> _Played:
    """Send the inputs ahead of the burst (to every partition) and the patient's pump events,
    wait until they are consumed, then the burst (every partition but the patient's) and the
    pain report, and wait for its alert."""
    now = datetime.now(UTC)
    partitions = settings.topic_partitions
    ours = partition_of(GOOD_PATIENT.encode(), partitions)
    patient = reacting_patient(now)
    ahead = inputs - burst
    progress(f"sending {ahead:,} hostile inputs (seed {seed}) and a patient's pump events")
    began = time.monotonic()
    await _send(kafka, hostile_inputs(seed, ahead, now), sent, progress)
    await _send(kafka, patient[:-1], sent, progress)
    drain_s = await _caught_up(kafka, settings, progress, f"{ahead:,} inputs")
    took_s = time.monotonic() - began
    notes = [
        f"{ahead:,} inputs sent and consumed in {took_s:.1f} s ({ahead / took_s:,.0f} msg/s; "
        f"the last {drain_s:.1f} s after the last was sent)"
    ]
    away = (ours, partitions) if partitions > 1 else None
    others = hostile_patients(partitions, ours if away else None)
    burst_inputs = hostile_inputs(seed, burst, now, start=ahead, patients=others)
    seen: asyncio.Future[_AlertRead] = asyncio.get_running_loop().create_future()
    watcher = asyncio.create_task(_watch_alert(kafka, seen))
    alert: _AlertRead | None = None
    try:
        await asyncio.sleep(0.5)  # the watcher reads from the end as it was before the burst
        where = f"partitions other than the patient's ({ours})" if away else "its one partition"
        progress(f"burst: {burst:,} hostile inputs to {where}, then the pain report")
        began = time.monotonic()
        await _send(kafka, burst_inputs, sent, progress, avoid=away)
        await _send(kafka, patient[-1:], sent, progress)
        acknowledged, acknowledged_wall = time.monotonic(), time.time()
        try:
            alert = await asyncio.wait_for(asyncio.shield(seen), ALERT_TIMEOUT_S)
        except TimeoutError:
            progress(f"  no alert for the reacting patient within {ALERT_TIMEOUT_S:g} s")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    latency_s = None if alert is None else alert.read_at - acknowledged
    if latency_s is not None:
        progress(f"  its alert was read {latency_s:.2f} s after the pain report")
    await _caught_up(kafka, settings, progress, "the burst")
    notes.append(f"the burst was sent and consumed in {time.monotonic() - began:.1f} s")
    return _Played(latency_s, notes, patient[-1].event_id, acknowledged_wall, alert)


def _where_the_time_went(played: _Played, validated_at: float | None) -> str | None:
    alert = played.alert
    if alert is None or validated_at is None:
        return None
    return (
        f"pain report acknowledged -> validated "
        f"{validated_at - played.acknowledged_wall:.2f} s -> alert produced "
        f"{alert.produced_wall - validated_at:.2f} s -> read "
        f"{alert.read_wall - alert.produced_wall:.2f} s (record timestamps)"
    )


def _ms_per_message(samples: Samples) -> str:
    parts = []
    for stage in ("ingest", "clinical"):
        count = metric(samples, "pumpstream_processing_seconds_count", stage=stage)
        if count:
            seconds = metric(samples, "pumpstream_processing_seconds_sum", stage=stage)
            parts.append(f"{stage} {1000 * seconds / count:.2f} ms")
    return ", ".join(parts)


async def run_fuzz(
    settings: Settings,
    inputs: int,
    seed: int,
    progress: Progress,
    *,
    burst: int = DEFAULT_BURST,
    run_dir: Path | None = None,
    split: bool = False,
) -> FuzzReport:
    """Start a broker and a worker (``split``: an ingest worker and a clinical one,
    docs/deploy.md "Split stages"), send the inputs, and account for every one of them."""
    if split:
        settings = settings.model_copy(update={"worker_role": "clinical"})
    burst = min(burst, inputs)
    run_dir = run_dir or settings.data_dir / "fuzz"
    shutil.rmtree(run_dir, ignore_errors=True)
    sent = _Sent()
    with EmbeddedBroker(binary=settings.broker_bin, log_path=run_dir / "broker.log") as broker:
        kafka = broker.connection
        await ensure_topics(kafka, partitions=settings.topic_partitions)
        roles = ["ingest", "clinical"] if split else ["all"]
        ports = [free_port() for _ in roles]
        workers = [
            WorkerProcess(
                broker.bootstrap,
                run_dir / role if split else run_dir,
                env={
                    "PUMPSTREAM_METRICS_PORT": str(port),
                    "PUMPSTREAM_DATA_DIR": str(run_dir / "data"),
                    "PUMPSTREAM_TOPIC_PARTITIONS": str(settings.topic_partitions),
                    "PUMPSTREAM_WORKER_ROLE": role,
                },
            ).start()
            for role, port in zip(roles, ports, strict=True)
        ]
        try:
            ready_s = max(worker.wait_ready() for worker in workers)
            what = "workers (ingest, clinical) ready" if split else "worker ready"
            progress(f"embedded broker on {broker.bootstrap}; {what} in {ready_s:.1f} s")
            played = await _play(kafka, settings, inputs, seed, burst, sent, progress)
            samples = await settled_metrics(ports, sent.counts, timeout_s=60)
            progress("counting the records on the topics")
            census = await take_census(kafka, played.pain_event_id, CATCH_UP_TIMEOUT_S)
        finally:
            alive = all(worker.is_running() for worker in workers)
            for worker in workers:
                worker.stop()
    census.fill(sent.counts)
    breakdown = _where_the_time_went(played, census.pain_validated_at)
    reasons, failures = {}, {}
    for (name, labels), value in samples.items():
        label = dict(labels)
        if name == "pumpstream_dead_letters_total" and value:
            reasons[label["topic"], label["reason"]] = value
        elif name == "pumpstream_agent_failures_total":
            failures[label["stage"]] = value
    logs = (
        [run_dir / role / "worker.log" for role in ("ingest", "clinical")]
        if split
        else [run_dir / "worker.log"]
    )
    log = "".join(path.read_text(encoding="utf-8", errors="replace") for path in logs)
    return FuzzReport(
        seed=seed,
        inputs=inputs,
        burst=burst,
        topics=sent.counts,
        kinds=sent.kinds,
        reasons=reasons,
        agent_failures=failures,
        set_aside=census.set_aside,
        failures=census.failures,
        worker_alive=alive,
        crash_lines=log.count("Crashed reason="),
        latency_s=played.latency_s,
        run_dir=run_dir,
        notes=[
            *played.notes,
            *([breakdown] if breakdown else []),
            f"mean time per message (pumpstream_processing_seconds): {_ms_per_message(samples)}",
        ],
    )


def _register_fuzz(cli: typer.Typer) -> None:
    """``pumpstream fuzz``."""

    @cli.command()
    def fuzz(
        inputs: Annotated[int, typer.Option(min=1, help="Hostile inputs to send.")] = 100_000,
        seed: Annotated[int, typer.Option(help="Seed of the inputs (same seed, same inputs).")] = 1,
        burst: Annotated[
            int, typer.Option(min=1, help="Inputs sent as one burst right before the pain report.")
        ] = DEFAULT_BURST,
        split: Annotated[
            bool,
            typer.Option(
                help="Run ingest in a worker of its own beside a clinical worker "
                "(PUMPSTREAM_WORKER_ROLE; docs/deploy.md).",
            ),
        ] = False,
    ) -> None:
        """Hostile input through a live worker on the embedded broker: every input accounted for
        (topics and /metrics), no agent crash, a valid alert within 2 s after a burst; exit 1 if a
        target is missed (docs/reliability.md)."""
        import logging

        from streams.settings import load_settings

        settings = load_settings()
        logging.basicConfig(level=settings.log_level.upper())
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = 150  # a file or a pipe: room for the table's columns
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        report = asyncio.run(
            run_fuzz(
                settings,
                inputs,
                seed,
                lambda line: err.print(line, markup=False),
                burst=burst,
                split=split,
            )
        )
        print_report(report, console)
        raise typer.Exit(0 if report.targets_met else 1)
