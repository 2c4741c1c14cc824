"""The ingest stage's agents: one per raw topic, validating raw bytes once (``validation``) and
writing the validated topic or the raw topic's dead-letter topic."""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from schemas.dead_letters import (
    HEADER_DETAIL,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)
from schemas.topics import RAW_TOPICS, VALIDATED_TOPIC, TopicSpec
from streams.ingest.validation import Rejected, validate_raw
from streams.kafka.transport import raw_topic
from streams.metrics.families import IngestMetrics

log = logging.getLogger(__name__)


def register_ingest(app: faust.App, metrics: IngestMetrics) -> None:
    """One ingest agent per raw topic of the registry."""
    for spec in RAW_TOPICS:
        _register_ingest_agent(app, spec, metrics)


def _register_ingest_agent(app: faust.App, spec: TopicSpec, metrics: IngestMetrics) -> None:
    assert spec.dlq is not None
    validated = raw_topic(app, VALIDATED_TOPIC[spec.name].name)
    dead_letters = raw_topic(app, spec.dlq)
    flow = metrics.flow

    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            flow.events_in.labels(spec.name).inc()
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
                flow.events_out.labels(spec.dlq).inc()
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
                flow.events_out.labels(VALIDATED_TOPIC[spec.name].name).inc()
                await validated.send(key=outcome.key, value=outcome.value)
            flow.processing.labels("ingest").observe(time.perf_counter() - started)

    ingest.__name__ = f"ingest_{spec.name.replace('.', '_')}"
    app.agent(raw_topic(app, spec.name), name=ingest.__name__)(ingest)
