"""The Faust app: raw intake -> ingest -> clinical state and rules -> alerts.

``create_app`` builds a fresh app (no import-time singleton), so tests can build several.
Agents stay small: they read a stream, call the pure functions of ``ingest``,
``infusion_state`` and ``correlator``, and write topics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from pydantic import ValidationError

from schemas.clinical_timer import QuietStreamCheck
from schemas.dead_letters import (
    HEADER_DETAIL,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)
from schemas.reactions import ReactionHistory
from schemas.topics import (
    ALERT_ACKS,
    ALERTS,
    CLINICAL_TIMER,
    CLINICAL_TOPICS,
    RAW_TOPICS,
    REACTIONS,
    VALIDATED_TOPIC,
    TopicSpec,
)
from streams.alerting import register_alerting
from streams.correlator import Evaluation, evaluate
from streams.infusion_state import PatientState, apply_event
from streams.ingest import Rejected, validate_raw
from streams.kafka_transport import PumpstreamApp
from streams.metric_labels import WardLabels
from streams.metrics import PipelineMetrics
from streams.pipeline_observer import InfusionSnapshot, PipelineObserver
from streams.quiet_streams import quiet_patients_due
from streams.reaction_ledger import history
from streams.rules.rules_file import RulesConfig
from streams.settings import Settings

log = logging.getLogger(__name__)

STATE_TABLE = "patient-state"


def faust_broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{server}" for server in bootstrap.split(",")]


def _raw_topic(app: faust.App, name: str) -> Any:
    """A topic carrying bytes that Faust must not decode (decoding errors would crash agents)."""
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def create_app(
    settings: Settings,
    bootstrap: str,
    metrics: PipelineMetrics,
    rules: RulesConfig,
    *,
    ready_file: Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> faust.App:
    app = PumpstreamApp(
        settings.app_id,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        broker=faust_broker_urls(bootstrap),
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
        # Every topic carries bytes pumpstream parses itself, the table changelog included (with
        # value_type=dict and the json serializer, changelog recovery fails on dict.from_data).
        value_serializer="raw",
        broker_commit_interval=settings.commit_interval_s,
        # No standby copies: the R5 timer iterates the table and must see only the patients this
        # worker owns (the memory store would also hold standby partitions' keys).
        table_standby_replicas=0,
        web_enabled=False,
        datadir=str(settings.data_dir / settings.app_id),
    )
    for spec in RAW_TOPICS:
        _register_ingest_agent(app, spec, metrics)
    observer = PipelineObserver(metrics, WardLabels(settings.metrics_ward_names))
    _register_clinical_agent(app, rules, metrics, clock, observer, settings.quiet_check_interval_s)
    register_alerting(app, settings, bootstrap, metrics, clock)
    if ready_file is not None:
        _signal_ready(app, ready_file)
    return app


def _register_ingest_agent(app: faust.App, spec: TopicSpec, metrics: PipelineMetrics) -> None:
    assert spec.dlq is not None
    validated = _raw_topic(app, VALIDATED_TOPIC[spec.name].name)
    dead_letters = _raw_topic(app, spec.dlq)

    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            metrics.events_in.labels(spec.name).inc()
            outcome = validate_raw(spec, message.key, message.value)
            if isinstance(outcome, Rejected):
                metrics.dead_letters.labels(spec.name, outcome.reason.value).inc()
                log.warning(
                    "dead letter from %s[%s]@%s: %s",
                    spec.name,
                    message.partition,
                    message.offset,
                    outcome.reason.value,
                )
                metrics.events_out.labels(spec.dlq).inc()
                await dead_letters.send(
                    key=message.key,
                    value=message.value,
                    headers=[
                        (HEADER_REASON, outcome.reason.value.encode()),
                        (HEADER_DETAIL, outcome.detail.encode()),
                        (HEADER_SOURCE_TOPIC, spec.name.encode()),
                        (HEADER_SOURCE_PARTITION, str(message.partition).encode()),
                        (HEADER_SOURCE_OFFSET, str(message.offset).encode()),
                    ],
                )
            else:
                metrics.events_valid.labels(spec.name).inc()
                metrics.events_out.labels(VALIDATED_TOPIC[spec.name].name).inc()
                await validated.send(key=outcome.key, value=outcome.value)
            metrics.processing.labels("ingest").observe(time.perf_counter() - started)

    ingest.__name__ = f"ingest_{spec.name.replace('.', '_')}"
    app.agent(_raw_topic(app, spec.name), name=ingest.__name__)(ingest)


def _register_clinical_agent(
    app: faust.App,
    rules: RulesConfig,
    metrics: PipelineMetrics,
    clock: Callable[[], datetime],
    observer: PipelineObserver,
    quiet_check_interval_s: float,
) -> None:
    """One agent over the validated clinical topics, the nurses' acknowledgements and the reaction
    ledger: all share the patient_ref key and the partition count, so one worker sees all of a
    patient's events and owns their state."""
    state_table = app.Table(STATE_TABLE, default=None, key_type=str, value_type=bytes)
    alerts = _raw_topic(app, ALERTS.name)
    reactions = _raw_topic(app, REACTIONS.name)
    timer_topic = _raw_topic(app, CLINICAL_TIMER.name)
    adapters = {
        spec.name: spec for spec in (*CLINICAL_TOPICS, ALERT_ACKS, REACTIONS, CLINICAL_TIMER)
    }
    source = app.topic(
        *adapters,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    grace_s = rules.timing.grace.total_seconds()

    async def publish(state: PatientState, evaluation: Evaluation) -> None:
        key = state.patient_ref.encode()
        for alert in evaluation.alerts:
            log.info("alert %s %s %s %s", alert.alert_id, alert.rule, alert.phase, alert.priority)
            metrics.events_out.labels(ALERTS.name).inc()
            await alerts.send(key=key, value=alert.model_dump_json().encode())
        for record in evaluation.reactions:
            metrics.reactions.labels(record.rule).inc()
        if evaluation.reactions:
            metrics.events_out.labels(REACTIONS.name).inc()
            await reactions.send(key=key, value=history(state).model_dump_json().encode())

    async def clinical(stream: Any) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            topic = event.message.topic
            metrics.events_in.labels(topic).inc()
            spec = adapters[topic]
            assert spec.value_adapter is not None
            try:
                parsed = spec.value_adapter.validate_json(event.message.value)
            except ValidationError as exc:
                # Ingest validated it: only a producer bypassing ingest or a schema skew between
                # worker versions gets here. Skip it loudly rather than stop the partition.
                log.error(
                    "invalid message on validated topic %s[%s]@%s (%d errors); skipped",
                    topic,
                    event.message.partition,
                    event.message.offset,
                    exc.error_count(),
                )
                metrics.skipped.labels(topic, "invalid_on_validated_topic").inc()
                continue
            patient_ref: str = parsed.patient_ref
            state = PatientState.from_table_value(patient_ref, state_table.get(patient_ref))
            before = InfusionSnapshot.of(state)
            horizon = None
            if isinstance(parsed, QuietStreamCheck):
                horizon = parsed.horizon
            elif isinstance(parsed, ReactionHistory):
                # The ledger, read back (ours, or documented elsewhere): R7 reads it.
                if not state.merge_reactions(list(parsed.reactions)):
                    continue
            else:
                watermark = state.watermark
                if not apply_event(state, parsed):
                    metrics.duplicates.labels(topic).inc()
                    continue
                if watermark is not None and (
                    (watermark - parsed.event_time).total_seconds() > grace_s
                ):
                    metrics.late_events.labels(topic).inc()
                state.last_arrival_epoch_s = time.time()
            evaluation = evaluate(state, rules, clock(), horizon=horizon)
            state_table[patient_ref] = state.to_table_value()
            if isinstance(parsed, QuietStreamCheck | ReactionHistory):
                for alert in evaluation.alerts:
                    observer.observe_alert(alert)
            else:
                observer.observe(
                    parsed, before, InfusionSnapshot.of(state), state, evaluation.alerts
                )
            await publish(state, evaluation)
            metrics.processing.labels("clinical").observe(time.perf_counter() - started)

    async def quiet_streams_check() -> None:
        """R5 falls due 30 min after slowing even when nothing more arrives for the patient: ask
        the agent to evaluate each patient whose check is due and whose streams have been quiet
        for the grace. A failure is logged and retried at the next tick, never fatal."""
        try:
            now = clock()
            for patient_ref in quiet_patients_due(state_table.items(), rules, now, grace_s):
                check = QuietStreamCheck(patient_ref=patient_ref, horizon=now)
                metrics.events_out.labels(CLINICAL_TIMER.name).inc()
                await timer_topic.send(
                    key=patient_ref.encode(), value=check.model_dump_json().encode()
                )
        except Exception:
            log.exception("quiet-stream check failed; retrying at the next tick")

    app.agent(source, name="clinical")(clinical)
    app.timer(interval=quiet_check_interval_s, name="quiet_streams_check")(quiet_streams_check)


def _signal_ready(app: faust.App, ready_file: Path) -> None:
    """Write ``ready_file`` once the worker holds its partitions (used by the demo and tests)."""

    async def _on_rebalance_complete(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        ready_file.write_text(str(time.time()), encoding="utf-8")  # noqa: ASYNC240 - once, tiny

    app.on_rebalance_complete.connect(_on_rebalance_complete)  # type: ignore[arg-type]
