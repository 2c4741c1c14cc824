"""Run one pipeline worker process (``pumpstream worker``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, start_http_server

from schemas.topics import ALERT_ACKS, CLINICAL_TOPICS, RAW_TOPICS, REACTIONS
from streams.alerting.roster import load_roster
from streams.app import create_app
from streams.clinical.rules_file import rules_for
from streams.kafka.admin import ensure_topics
from streams.kafka.lag import ConsumerLagProbe
from streams.metrics.families import FlowMetrics, WorkerMetrics
from streams.metrics.labels import WardLabels
from streams.settings import Settings

log = logging.getLogger(__name__)


def run_worker(settings: Settings, bootstrap: str, *, ready_file: Path | None = None) -> None:
    """Create the topics, serve metrics, and run the Faust worker until SIGTERM/SIGINT."""
    rules = rules_for(settings.rules_file, settings.lookback_window_s)  # a bad file stops us here
    log.info("clinical rules %s", rules.version)
    # So does a bad on-call roster; none configured: no alerting stage.
    roster = load_roster(settings.alerting_config) if settings.alerting_config else None
    # Faust creates only the last directory level of its datadir.
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(
        ensure_topics(
            bootstrap,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )
    registry = CollectorRegistry()
    # Every family of the worker, built once; the roster's channels are known label values.
    metrics = WorkerMetrics(
        registry,
        WardLabels(settings.metrics_ward_names),
        roster.channel_types if roster else None,
    )
    if settings.metrics_port:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.bind_address, registry=registry
        )
        log.info("metrics on http://%s:%d/metrics", settings.bind_address, server.server_port)
    app = create_app(settings, bootstrap, metrics, rules, roster, ready_file=ready_file)
    consumed = [t.name for t in (*RAW_TOPICS, *CLINICAL_TOPICS, ALERT_ACKS, REACTIONS)]
    register_lag_monitor(
        app,
        ConsumerLagProbe(bootstrap, settings.app_id, consumed),
        metrics.flow,
        interval_s=settings.metrics_lag_interval_s,
    )
    worker = faust.Worker(app, loglevel=settings.log_level, loop=loop, quiet=True)
    worker.execute_from_commandline()


def register_lag_monitor(
    app: faust.App,
    probe: ConsumerLagProbe,
    metrics: FlowMetrics,
    *,
    interval_s: float,
) -> None:
    """Measure ``probe`` every ``interval_s`` while ``app`` runs and set the lag gauge."""

    async def measure_consumer_lag() -> None:
        try:
            lag = await probe.lag_by_topic()
        except (KafkaError, OSError, TimeoutError) as exc:
            # The broker may be restarting; the next tick reconnects.
            metrics.consumer_lag_errors.inc()
            log.warning("consumer lag not measured: %s", exc)
            await probe.close()
            return
        for topic, messages in lag.items():
            metrics.consumer_lag.labels(topic).set(messages)

    async def close_probe(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await probe.close()

    app.timer(interval_s, name="measure_consumer_lag")(measure_consumer_lag)
    app.on_before_shutdown.connect(close_probe)  # type: ignore[arg-type]
