"""Run one pipeline worker process (``pumpstream worker``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from schemas.topics import ALERT_ACKS, CLINICAL_TOPICS, RAW_TOPICS, REACTIONS
from streams.alerting.roster import Roster
from streams.app import create_app
from streams.clinical.rules_file import RulesConfig
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import ConsumerLagProbe
from streams.metrics.families import FlowMetrics, WorkerMetrics
from streams.metrics.labels import WardLabels
from streams.metrics.server import WorkerHealth, serve_metrics
from streams.settings import Settings

log = logging.getLogger(__name__)


def run_worker(
    settings: Settings,
    kafka: KafkaConnection,
    rules: RulesConfig,
    roster: Roster | None,
    *,
    ready_file: Path | None = None,
) -> None:
    """Create the topics, serve metrics, and run the Faust worker until SIGTERM/SIGINT.
    ``rules`` and ``roster`` (None: no alerting stage) were read and validated by the caller, so a
    bad file stops the worker before anything starts."""
    log.info("clinical rules %s; Kafka %s", rules.version, kafka.describe())
    # Faust creates only the last directory level of its datadir.
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    # Every family of the worker, built once; the roster's channels are known label values.
    metrics = WorkerMetrics(
        registry,
        WardLabels(settings.metrics_ward_names),
        roster.channel_types if roster else None,
    )
    health = WorkerHealth()
    if settings.metrics_port:  # first: a port in use stops us before anything connects
        server = serve_metrics(registry, health, settings.bind_address, settings.metrics_port)
        log.info(
            "metrics and probes on http://%s:%d/metrics, /healthz, /readyz",
            settings.bind_address,
            server.server_port,
        )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(
        ensure_topics(
            kafka,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )
    app = create_app(settings, kafka, metrics, rules, roster, ready_file=ready_file)
    consumed = [t.name for t in (*RAW_TOPICS, *CLINICAL_TOPICS, ALERT_ACKS, REACTIONS)]
    register_lag_monitor(
        app,
        ConsumerLagProbe(kafka, settings.app_id, consumed),
        metrics.flow,
        health,
        interval_s=settings.metrics_lag_interval_s,
    )
    register_health(app, health)
    worker = faust.Worker(app, loglevel=settings.log_level, loop=loop, quiet=True)
    worker.execute_from_commandline()


def register_lag_monitor(
    app: faust.App,
    probe: ConsumerLagProbe,
    metrics: FlowMetrics,
    health: WorkerHealth,
    *,
    interval_s: float,
) -> None:
    """Measure ``probe`` every ``interval_s`` while ``app`` runs and set the lag gauge; a failed
    measurement marks the broker unreachable for ``/readyz`` until one succeeds."""

    async def measure_consumer_lag() -> None:
        try:
            lag = await probe.lag_by_topic()
        except (KafkaError, OSError, TimeoutError) as exc:
            # The broker may be restarting; the next tick reconnects.
            metrics.consumer_lag_errors.inc()
            health.broker_failed(str(exc) or type(exc).__name__)
            log.warning("consumer lag not measured: %s", exc)
            await probe.close()
            return
        health.broker_ok()
        for topic, messages in lag.items():
            metrics.consumer_lag.labels(topic).set(messages)

    async def close_probe(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await probe.close()

    app.timer(interval_s, name="measure_consumer_lag")(measure_consumer_lag)
    app.on_before_shutdown.connect(close_probe)  # type: ignore[arg-type]


def register_health(app: faust.App, health: WorkerHealth, *, tick_s: float = 1.0) -> None:
    """Feed ``health`` from ``app``: a loop heartbeat, and whether it holds its partitions."""

    async def heartbeat() -> None:
        health.tick()

    async def assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        health.partitions_assigned()

    async def revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        health.partitions_revoked()

    app.timer(tick_s, name="health_heartbeat")(heartbeat)
    app.on_rebalance_complete.connect(assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(revoked)  # type: ignore[arg-type]
