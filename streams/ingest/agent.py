"""The ingest stage's agents: one per raw topic, validating raw bytes once (``validation``) and
writing the validated topic or the raw topic's dead-letter topic. No message can stop a
partition: one the agent itself fails on goes to ``processing.dlq`` with the exception class."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import faust

from schemas.raw_validation import IngestLimits, Rejected, validate_raw
from schemas.topics import PROCESSING_DLQ, RAW_TOPICS, VALIDATED_TOPIC, TopicSpec
from streams.kafka.acking import handled
from streams.kafka.dead_letters import DeadLetter, DeadLetterSink, processing_failure
from streams.kafka.transport import raw_topic
from streams.metrics.families import IngestMetrics

log = logging.getLogger(__name__)


def register_ingest(
    app: faust.App,
    metrics: IngestMetrics,
    limits: IngestLimits,
    clock: Callable[[], datetime],
) -> None:
    """One ingest agent per raw topic of the registry."""
    sink = DeadLetterSink(log)
    for spec in RAW_TOPICS:
        _register_ingest_agent(app, spec, metrics, limits, clock, sink)


def _register_ingest_agent(
    app: faust.App,
    spec: TopicSpec,
    metrics: IngestMetrics,
    limits: IngestLimits,
    clock: Callable[[], datetime],
    sink: DeadLetterSink,
) -> None:
    assert spec.dlq is not None
    validated = raw_topic(app, VALIDATED_TOPIC[spec.name].name)
    dead_letters = raw_topic(app, spec.dlq)
    failures = raw_topic(app, PROCESSING_DLQ.name)
    flow = metrics.flow

    async def handle(message: Any) -> None:
        outcome = validate_raw(spec, message.key, message.value, arrival=clock(), limits=limits)
        if isinstance(outcome, Rejected):
            metrics.dead_letters.labels(spec.name, outcome.reason.value).inc()
            flow.events_out.labels(spec.dlq).inc()
            letter = DeadLetter(
                outcome.reason, outcome.detail, spec.name, message.partition, message.offset
            )
            await sink.send(dead_letters, message.key, message.value, letter)
        else:
            flow.events_out.labels(VALIDATED_TOPIC[spec.name].name).inc()
            await validated.send(key=outcome.key, value=outcome.value)

    async def ingest(stream: Any) -> None:
        async for event in handled(stream):
            started = time.perf_counter()
            message = event.message
            flow.events_in.labels(spec.name).inc()
            try:
                await handle(message)
            except Exception as exc:
                flow.agent_failures.labels("ingest").inc()
                flow.events_out.labels(PROCESSING_DLQ.name).inc()
                letter = processing_failure(message, exc, "ingest")
                await sink.send(failures, message.key, message.value, letter)
            flow.processing.labels("ingest").observe(time.perf_counter() - started)

    ingest.__name__ = f"ingest_{spec.name.replace('.', '_')}"
    app.agent(raw_topic(app, spec.name), name=ingest.__name__)(ingest)
