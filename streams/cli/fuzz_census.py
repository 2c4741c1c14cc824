"""Accounting for ``pumpstream fuzz``: where every raw input went, counted twice and
independently: on the topics (every record read, first to last) and in the worker's
``/metrics``.

Records are counted by reading them, not from end offsets: Tansu under-reports a partition's end
after a batched produce, and ``streams.kafka.offsets.end_offsets``, which corrects for that, came
out a few records short on the raw, validated and dead-letter topics after the 100,000-input run
(measured; docs/reliability.md, "Fuzz").
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from schemas.dead_letters import HEADER_DETAIL, HEADER_SOURCE_TOPIC
from schemas.topics import PROCESSING_DLQ, RAW_TOPICS, SYMPTOMS, VALIDATED_TOPIC
from streams.cli.fuzz_inputs import GOOD_PATIENT
from streams.clinical.raw_intake import HEADER_FORWARDED_FROM
from streams.kafka.connection import KafkaConnection
from streams.kafka.offsets import partitions_of

#: /metrics samples: (name, sorted labels) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
#: Reading stops this long after the last record came (past every reported end).
QUIET_S = 3.0


@dataclass
class TopicCount:
    """One raw topic's inputs: how many were sent, and where the worker put them."""

    sent: int = 0
    #: Read from the topics: records on the raw topic, the validated topic, its dead-letter
    #: topic, and ``processing.dlq`` records whose source is the raw topic (ingest's guard).
    on_topic: int = 0
    #: Records on the raw topic that a clinical agent sent on to their patient's partition (a
    #: valid event on another partition: docs/architecture.md), by their header; they are on
    #: the topic and read again, beside what was sent.
    forwarded: int = 0
    validated: int = 0
    dead_lettered: int = 0
    set_aside: int = 0
    #: From the worker's /metrics.
    metric_in: float = 0
    metric_forwarded: float = 0
    metric_validated: float = 0
    metric_dead_lettered: float = 0

    @property
    def unaccounted(self) -> int:
        return self.sent - self.validated - self.dead_lettered - self.set_aside

    @property
    def metric_unaccounted(self) -> float:
        return self.sent - self.metric_validated - self.metric_dead_lettered - self.set_aside

    @property
    def accounted(self) -> bool:
        return (
            self.unaccounted == 0
            and self.metric_unaccounted == 0
            and self.sent + self.forwarded == self.on_topic == self.metric_in
            and self.forwarded == self.metric_forwarded
        )


@dataclass
class Census:
    """The counted topics, read from their first record to their last."""

    records: Counter[str] = field(default_factory=Counter)
    #: Raw topic records sent on to their patient's partition, by topic.
    forwarded: Counter[str] = field(default_factory=Counter)
    #: ``processing.dlq`` records by their source topic, and by exception class.
    set_aside: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    #: When ingest wrote the reacting patient's pain report to ``symptoms`` (record timestamp).
    pain_validated_at: float | None = None

    def fill(self, counts: dict[str, TopicCount]) -> None:
        for spec in RAW_TOPICS:
            count = counts[spec.name]
            count.on_topic = self.records[spec.name]
            count.forwarded = self.forwarded[spec.name]
            count.validated = self.records[VALIDATED_TOPIC[spec.name].name]
            count.dead_lettered = self.records[spec.dlq or ""]
            count.set_aside = self.set_aside[spec.name]


def _counted_topics() -> list[str]:
    names = [PROCESSING_DLQ.name]
    for spec in RAW_TOPICS:
        names += [spec.name, VALIDATED_TOPIC[spec.name].name, spec.dlq or ""]
    return names


def _note(census: Census, topic: str, record: ConsumerRecord[bytes, bytes], pain: bytes) -> None:
    if topic == PROCESSING_DLQ.name:
        headers = dict(record.headers)
        census.set_aside[headers.get(HEADER_SOURCE_TOPIC, b"?").decode()] += 1
        census.failures[headers.get(HEADER_DETAIL, b"?").decode().split(" ", 1)[0]] += 1
    elif any(name == HEADER_FORWARDED_FROM for name, _ in record.headers):
        census.forwarded[topic] += 1
    elif (
        topic == SYMPTOMS.name
        and record.key == GOOD_PATIENT.encode()
        and pain in (record.value or b"")
    ):
        census.pain_validated_at = record.timestamp / 1000


async def take_census(kafka: KafkaConnection, pain_event_id: str, timeout_s: float) -> Census:
    """Read every record of the raw, validated and dead-letter topics and ``processing.dlq``,
    until each partition is past its reported end and nothing more came for :data:`QUIET_S`
    (nothing writes to them any more)."""
    census = Census()
    consumer = kafka.consumer(
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = [
            tp for name in _counted_topics() for tp in await partitions_of(consumer, name)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        reported = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        last_record = time.monotonic()
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                last_record = time.monotonic()
                census.records[tp.topic] += len(records)
                for record in records:
                    _note(census, tp.topic, record, pain_event_id.encode())
            if time.monotonic() - last_record < QUIET_S:
                continue
            if all([await consumer.position(tp) >= reported[tp] for tp in partitions]):
                return census
        raise TimeoutError(f"could not read the topics to their end in {timeout_s:g} s")
    finally:
        await consumer.stop()


def scrape(port: int) -> Samples:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def fill_from_metrics(samples: Samples, counts: dict[str, TopicCount]) -> None:
    for spec in RAW_TOPICS:
        count = counts[spec.name]
        validated = VALIDATED_TOPIC[spec.name].name
        count.metric_in = metric(samples, "pumpstream_events_in_total", topic=spec.name)
        count.metric_forwarded = metric(samples, "pumpstream_events_out_total", topic=spec.name)
        count.metric_validated = metric(samples, "pumpstream_events_out_total", topic=validated)
        count.metric_dead_lettered = metric(
            samples, "pumpstream_dead_letters_total", topic=spec.name
        )


def scrape_all(ports: list[int]) -> Samples:
    """Every worker's samples, summed (workers of a split deployment count their own stage)."""
    total: Samples = {}
    for port in ports:
        for key, value in scrape(port).items():
            total[key] = total.get(key, 0.0) + value
    return total


async def settled_metrics(
    ports: list[int], counts: dict[str, TopicCount], timeout_s: float
) -> Samples:
    """/metrics once the worker has read every input sent and written out as many (or the
    deadline passed: then what it says, for the report to show the difference)."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape_all(ports)
        fill_from_metrics(samples, counts)
        failed = metric(samples, "pumpstream_agent_failures_total", stage="ingest")
        done = all(c.metric_in == c.sent + c.metric_forwarded for c in counts.values()) and sum(
            c.metric_validated + c.metric_dead_lettered for c in counts.values()
        ) + failed >= sum(c.sent for c in counts.values())
        if done or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.5)
