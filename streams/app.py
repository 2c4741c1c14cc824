"""The Faust app, assembled from the stages: ingest -> clinical -> alerting (a worker running
every stage validates the raw clinical topics in the clinical agent: see ``create_app``).

``create_app`` builds a fresh app (no import-time singleton), so tests can build several. Each
stage registers its own agents, tables and timers; the stages meet only on topics. The metrics are
built once by the caller (one registry per worker); each stage gets its own container.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faust

from schemas.raw_validation import IngestLimits
from schemas.topics import RAW_TOPICS
from streams.alerting.agents import register_alerting
from streams.alerting.roster import Roster
from streams.clinical.agent import register_clinical
from streams.clinical.observer import ClinicalObserver
from streams.clinical.raw_intake import RawIntake
from streams.clinical.rules_file import RulesConfig
from streams.ingest.agent import register_ingest
from streams.kafka.connection import KafkaConnection
from streams.kafka.transport import PumpstreamApp
from streams.metrics.families import WorkerMetrics
from streams.settings import Settings


def create_app(
    settings: Settings,
    kafka: KafkaConnection,
    metrics: WorkerMetrics,
    rules: RulesConfig,
    roster: Roster | None,
    *,
    ready_file: Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> faust.App:
    """The worker's app. ``rules`` and ``roster`` were read and validated by the caller (a bad
    file stops the worker before anything starts); without a roster there is no alerting stage."""
    app = PumpstreamApp(
        settings.group_id,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        **kafka.faust_options(),
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # Tansu holds a group join for half the session timeout; Faust's 60 s default
        # makes a worker wait 30 s to start (measured; docs/architecture.md).
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=min(1.0, settings.broker_session_timeout_s / 3),
        broker_rebalance_timeout=4.0,
        # A new group must read what was produced before it joined: nothing lost.
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        # Stop (and rebalance) without waiting for the events already fetched: the agents
        # acknowledge an event only once handled (streams/kafka/acking.py), so what is left
        # unfinished is read again by the next worker. Waiting held a stopping worker for the
        # retry budget of every queued page while a channel was unreachable.
        stream_wait_empty=False,
        # Every topic carries bytes pumpstream parses itself, the table changelog included (with
        # value_type=dict and the json serializer, changelog recovery fails on dict.from_data).
        value_serializer="raw",
        broker_commit_interval=settings.commit_interval_s,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        broker_max_poll_records=settings.max_poll_records,
        # No standby copies: the R5 timer iterates the table and must see only the patients this
        # worker owns (the memory store would also hold standby partitions' keys).
        table_standby_replicas=0,
        web_enabled=False,
        datadir=str(settings.data_dir / settings.group_id),
        # Static membership (a StatefulSet's pod name): a restarted worker keeps its partitions.
        consumer_group_instance_id=settings.group_instance_id,
    )
    limits = IngestLimits(
        max_message_bytes=settings.max_message_bytes,
        max_age=timedelta(days=settings.event_time_max_age_days),
        max_ahead=timedelta(seconds=settings.event_time_max_ahead_s),
    )
    if settings.worker_role == "ingest":
        register_ingest(app, metrics.ingest, limits, clock)
    if settings.worker_role in ("all", "clinical"):
        observer = ClinicalObserver(metrics.clinical, metrics.clinical.wards)
        # A worker running every stage validates the raw clinical topics in the clinical
        # agent (one Faust hop, not two: docs/benchmarks.md); split, an ingest worker does.
        raw = RAW_TOPICS if settings.worker_role == "all" else ()
        intake = RawIntake(limits, settings.topic_partitions, metrics.ingest.dead_letters, raw)
        register_clinical(
            app, rules, metrics.clinical, clock, observer, settings.quiet_check_interval_s,
            intake,
        )  # fmt: skip
        register_alerting(app, settings, kafka, roster, metrics.alerting, clock)
    if ready_file is not None:
        _signal_ready(app, ready_file)
    return app


def _signal_ready(app: faust.App, ready_file: Path) -> None:
    """Write ``ready_file`` once the worker holds its partitions (used by the demo and tests)."""

    async def _on_rebalance_complete(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        ready_file.write_text(str(time.time()), encoding="utf-8")  # noqa: ASYNC240 - once, tiny

    app.on_rebalance_complete.connect(_on_rebalance_complete)  # type: ignore[arg-type]
