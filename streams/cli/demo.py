"""``pumpstream demo``: embedded broker + worker + scripted infusions, alerts shown as they fire."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import ConsumerRecord
from rich.console import Console

from schemas.alerts import Alert, AlertPhase, AlertPriority, Rule
from schemas.dead_letters import HEADER_DETAIL, HEADER_REASON
from schemas.topics import ALERTS, DEAD_LETTER_TOPICS
from simulators.publisher import publish
from simulators.scripted_sessions import demo_script, expected_r1_patients
from simulators.sim_event import SimEvent
from streams.cli.demo_alerting import AlertingDemo
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.prometheus import (
    DEPLOY_RULES_DIR,
    LocalPrometheus,
    find_prometheus,
    scrape_config,
)
from streams.cli.local.worker_process import WorkerProcess
from streams.exceptions import PumpstreamError
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.reading import TopicReader
from streams.settings import Settings

_PRIORITY_STYLE = {
    AlertPriority.LOW: "cyan",
    AlertPriority.MEDIUM: "yellow",
    AlertPriority.HIGH: "bold red",
}


@dataclass
class DemoSummary:
    sent: Counter[str] = field(default_factory=Counter)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)


async def _watch(
    kafka: KafkaConnection, console: Console, summary: DemoSummary, stop: asyncio.Event
) -> None:
    """Print alerts and dead letters as they arrive until ``stop`` is set, then the rest up to
    the topics' end."""
    names = [ALERTS.name, *(t.name for t in DEAD_LETTER_TOPICS)]
    async with TopicReader(kafka, names) as reader:
        while not stop.is_set():
            for record in await reader.read(timeout_ms=200):
                _show_record(console, record, summary)
        for record in await reader.read_to_end():
            _show_record(console, record, summary)


def _show_record(
    console: Console, record: ConsumerRecord[bytes, bytes], summary: DemoSummary
) -> None:
    if record.topic == ALERTS.name:
        assert record.value is not None
        _show_alert(console, Alert.model_validate_json(record.value), summary)
        return
    headers = dict(record.headers)
    reason = headers.get(HEADER_REASON, b"?").decode()
    summary.dead_letters[reason] += 1
    console.print(
        f"[magenta]dead letter[/] {record.topic}: {reason}: "
        f"{headers.get(HEADER_DETAIL, b'').decode()[:120]}"
    )


def _show_alert(console: Console, alert: Alert, summary: DemoSummary) -> None:
    summary.alerts.append(alert)
    style = _PRIORITY_STYLE[alert.priority]
    if alert.phase is AlertPhase.END:
        console.print(f"[dim]ended {alert.rule} {alert.patient_ref}: {alert.title}[/]")
        return
    label = "ALERT" if alert.phase is AlertPhase.START else alert.phase.value.upper()
    console.print(
        f"[{style}]{label} {alert.priority.value.upper():6}[/] {alert.rule} "
        f"[bold]{alert.patient_ref}[/] {alert.title}"
    )
    for rec in alert.recommendations:
        console.print(f"      - {rec.code.value}: {rec.text}")


def _progress(console: Console, summary: DemoSummary) -> Callable[[SimEvent], None]:
    def on_sent(event: SimEvent) -> None:
        summary.sent[event.topic] += 1
        if event.note:
            minute = event.offset_s / 60
            console.print(f"[dim]t+{minute:5.1f} min  {event.key.decode():18} {event.note}[/]")

    return on_sent


async def run_demo(
    settings: Settings, *, speed: float, console: Console, prometheus: bool = False
) -> int:
    """Run the demo; return the process exit code."""
    run_dir = settings.data_dir / "demo"
    run_dir.mkdir(parents=True, exist_ok=True)
    if settings.kafka_bootstrap is not None:
        raise PumpstreamError(
            "the demo runs on its own embedded broker; unset PUMPSTREAM_KAFKA_BOOTSTRAP"
        )
    broker = EmbeddedBroker(
        log_path=run_dir / "broker.log", ready_timeout_s=settings.broker_ready_timeout_s
    )
    worker: WorkerProcess | None = None
    local_prometheus: LocalPrometheus | None = None
    try:
        broker.start().wait_ready()
        console.print(f"[green]embedded broker[/] (Tansu) on {broker.bootstrap}")
        await ensure_topics(broker.connection, partitions=settings.topic_partitions)
        metrics_port = free_port()
        alerting = AlertingDemo.create(run_dir, free_port())
        worker = WorkerProcess(
            broker.bootstrap,
            run_dir,
            env={"PUMPSTREAM_METRICS_PORT": str(metrics_port), **alerting.worker_env()},
        ).start()
        ready_s = await asyncio.to_thread(worker.wait_ready, 60.0)
        console.print(
            f"[green]worker ready[/] in {ready_s:.1f} s; metrics on "
            f"http://{settings.bind_address}:{metrics_port}/metrics; log {worker.log_path}"
        )
        console.print(
            f"[green]nurse station[/] {alerting.station_url(settings.bind_address)}\n"
            f"  (roster {alerting.roster_path}: escalation after 1 s; a simulated nurse answers "
            "the first escalated page through the ack API)"
        )
        if prometheus:
            local_prometheus = _start_prometheus(settings, metrics_port, run_dir, console)
        return await _play(settings, broker.connection, speed, console, worker, alerting)
    finally:
        if local_prometheus is not None:
            local_prometheus.stop()
        if worker is not None:
            worker.stop()
        broker.stop()


def _start_prometheus(
    settings: Settings, metrics_port: int, run_dir: Path, console: Console
) -> LocalPrometheus | None:
    """A local Prometheus scraping the demo's worker with the project's rules, if installed."""
    if find_prometheus() is None:
        console.print("[yellow]--prometheus: no prometheus binary on PATH; skipped[/]")
        return None
    rules = sorted(DEPLOY_RULES_DIR.glob("*.yml")) if DEPLOY_RULES_DIR.is_dir() else []
    config = scrape_config([f"{settings.bind_address}:{metrics_port}"], rule_files=rules)
    shutil.rmtree(run_dir / "prometheus", ignore_errors=True)  # a throwaway data dir
    local = LocalPrometheus(config, run_dir / "prometheus").start()
    local.wait_ready()
    console.print(
        f"[green]prometheus[/] on {local.url} (graph: {local.url}/graph; log {local.log_path})"
    )
    return local


async def _play(
    settings: Settings,
    kafka: KafkaConnection,
    speed: float,
    console: Console,
    worker: WorkerProcess,
    alerting: AlertingDemo,
) -> int:
    start = datetime.now(UTC).replace(microsecond=0)
    script = demo_script(start)
    summary = DemoSummary()
    console.print(
        f"playing {len(script)} messages: {len(expected_r1_patients())} infusion(s) scripted to "
        f"react, at {speed:g}x ({script[-1].offset_s / 60:.0f} simulated min)\n"
    )
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(kafka, console, summary, stop))
    paging = asyncio.create_task(alerting.watch(kafka, settings.bind_address, console, stop))
    began = time.monotonic()
    try:
        await publish(kafka, script, speed=speed, on_sent=_progress(console, summary))
        topics = settings.consumed_topics()
        caught_up = await wait_until_caught_up(kafka, settings.app_id, topics, timeout_s=30)
        # The page, its escalation and the answer go round the topics after the script ends.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(alerting.completed.wait(), timeout=30)
        # Faust flushes what it sends before it commits: caught up, every alert is on the
        # topic, and the watcher reads on to its end.
        stop.set()
        await watcher
        await paging
    finally:
        # Interrupted (Ctrl-C): the readers close while the broker still runs, not after it
        # stopped, when closing a Kafka client can wait out its request timeout.
        for task in (watcher, paging):
            task.cancel()
        await asyncio.wait({watcher, paging}, timeout=10)
    return _summarise(console, summary, caught_up, time.monotonic() - began, worker, alerting)


def _summarise(
    console: Console,
    summary: DemoSummary,
    caught_up: bool,
    elapsed_s: float,
    worker: WorkerProcess,
    alerting: AlertingDemo,
) -> int:
    by_rule = Counter(
        f"{a.rule}/{a.priority.value}" for a in summary.alerts if a.phase is AlertPhase.START
    )
    console.print("\n[bold]summary[/]")
    console.print(f"  messages sent:   {dict(summary.sent)}  in {elapsed_s:.0f} s")
    console.print(f"  alert episodes:  {dict(by_rule) or 'none'}")
    console.print(f"  dead letters:    {dict(summary.dead_letters) or 'none'}")
    alerted = {a.patient_ref for a in summary.alerts if a.rule == Rule.R1}
    expected = expected_r1_patients()
    ok = caught_up and alerted == expected and alerting.complete
    console.print(f"  R1 expected for: {sorted(expected)}; alerted: {sorted(alerted)}")
    console.print(
        f"  paging:          {alerting.pages} page(s), {alerting.escalations} escalation(s), "
        f"{alerting.acks} answer(s) through the ack API"
    )
    if not caught_up:
        console.print(f"[red]the worker did not catch up within 30 s; see {worker.log_path}[/]")
    console.print("[green]demo finished[/]" if ok else "[red]demo did not match its script[/]")
    return 0 if ok else 1
