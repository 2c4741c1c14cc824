"""Hostile input through a live worker on the embedded broker: nothing crashes or stalls a
partition, every raw message is accounted for (validated + dead-lettered = in), and a valid
alert still comes out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from schemas.alerts import Alert, AlertType
from schemas.dead_letters import HEADER_DETAIL, HEADER_ORIGINAL_SIZE, HEADER_REASON
from schemas.topics import (
    ALERTS,
    PROCESSING_DLQ,
    PUMP_EVENTS,
    PUMP_EVENTS_RAW,
    RAW_TOPICS,
    SYMPTOMS,
    SYMPTOMS_RAW,
    VALIDATED_TOPIC,
    VITALS_RAW,
)
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.reading import read_topic
from streams.settings import consumed_topics
from tests.support.events import Patient
from tests.support.kafka_client import read_until

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def _json(event: object, **changes: object) -> bytes:
    data = json.loads(event.model_dump_json())  # type: ignore[attr-defined]
    data.update(changes)
    return json.dumps(data, separators=(",", ":")).encode()


def _hostile(p: Patient) -> list[tuple[str, bytes]]:
    """(raw topic, value): schema-valid but implausible, strict-type violations, garbage, huge."""
    vitals = _json(p.vitals(1))
    return [
        (PUMP_EVENTS_RAW.name, _json(p.rate(30, 84.0), event_time="9999-12-31T23:00:00Z")),
        (PUMP_EVENTS_RAW.name, _json(p.rate(31, 84.0), event_time="0001-01-01T00:00:00Z")),
        (PUMP_EVENTS_RAW.name, _json(p.rate(32, 84.0), event_time="2126-01-01T00:00:00Z")),
        (PUMP_EVENTS_RAW.name, _json(p.rate(33, 84.0), rate_ml_h=True)),
        (VITALS_RAW.name, vitals.replace(b'"value":80.0', b'"value":NaN')),
        (SYMPTOMS_RAW.name, _json(p.pain(40, 6), pain_score=6.5)),
        (SYMPTOMS_RAW.name, b"\xff\xfe not even utf-8"),
        (SYMPTOMS_RAW.name, b'{"padding":"' + b"x" * 1_500_000 + b'"}'),
    ]


Record = tuple[str, bytes | None, bytes]


async def _produce_all(kafka: KafkaConnection, records: list[Record]) -> None:
    producer = kafka.producer(acks="all", max_request_size=4_000_000)
    try:
        await producer.start()
        for topic, key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


def _reasons(records: list[ConsumerRecord[bytes, bytes]]) -> Counter[str]:
    return Counter(dict(r.headers)[HEADER_REASON].decode() for r in records)


@pytest.mark.parametrize("split", [False, True], ids=["one-worker", "split-stages"])
async def test_hostile_input_is_set_aside_and_a_valid_alert_still_fires(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], split: bool
) -> None:
    """One worker validates the raw topics in its clinical agent (one hop); split, an ingest
    worker does and the clinical worker reads the validated topics (docs/deploy.md)."""
    if split:
        start_worker("ingest", PUMPSTREAM_WORKER_ROLE="ingest")
        start_worker("clinical", PUMPSTREAM_WORKER_ROLE="clinical")
    else:
        start_worker()
    bad = Patient("pt-bad", t0=NOW - timedelta(hours=1))
    # Valid for the schema and past ingest's window only because it skips ingest: written
    # straight to the validated topics (read by a split clinical worker), it overflows the
    # rules' date arithmetic.
    overflow = Patient("pt-overflow", t0=datetime(9999, 12, 31, 20, tzinfo=UTC))
    good = Patient("pt-good", t0=NOW - timedelta(hours=2))
    records: list[Record] = [(topic, b"pt-bad", value) for topic, value in _hostile(bad)]
    records += [
        (PUMP_EVENTS.name, b"pt-overflow", overflow.start().model_dump_json().encode()),
        (PUMP_EVENTS.name, b"pt-overflow", overflow.rate(30, 84.0).model_dump_json().encode()),
        (SYMPTOMS.name, b"pt-overflow", overflow.pain(40, 6).model_dump_json().encode()),
    ] * split
    for event in (good.start(), good.rate(30, 84.0), good.rate(60, 168.0)):
        records.append((PUMP_EVENTS_RAW.name, b"pt-good", event.model_dump_json().encode()))
    records.append((SYMPTOMS_RAW.name, b"pt-good", good.pain(78, 6).model_dump_json().encode()))
    await _produce_all(topics, records)

    alerts = await read_until(
        topics,
        ALERTS.name,
        lambda rs: any(
            Alert.model_validate_json(r.value or b"").patient_ref == "pt-good" for r in rs
        ),
        timeout_s=30,
    )
    clinical = [Alert.model_validate_json(r.value or b"") for r in alerts]
    # pt-overflow's start is set aside (the rules' date arithmetic overflows): its pump events
    # then wait for a start that never lands, which is a technical alert (T1), never a clinical one.
    assert {a.patient_ref for a in clinical if a.type is not AlertType.TECHNICAL} == {"pt-good"}
    assert {a.rule for a in clinical if a.patient_ref == "pt-overflow"} <= {"T1"}

    groups = (
        [
            ("pumpstream-ingest", consumed_topics("ingest")),
            ("pumpstream", consumed_topics("clinical")),
        ]
        if split
        else [("pumpstream", consumed_topics())]
    )
    for group, consumed in groups:
        assert await wait_until_caught_up(topics, group, consumed, timeout_s=30), group
    # Every raw message is accounted for: validated + dead-lettered = in, per raw topic.
    for spec in RAW_TOPICS:
        sent = sum(1 for topic, _, _ in records if topic == spec.name)
        validated = await read_topic(topics, VALIDATED_TOPIC[spec.name].name)
        ours = [r for r in validated if r.key in (b"pt-good", b"pt-bad")]
        assert spec.dlq is not None
        dead = await read_topic(topics, spec.dlq)
        assert len(ours) + len(dead) == sent, spec.name
    pump_dead = _reasons(await read_topic(topics, PUMP_EVENTS_RAW.dlq or ""))
    assert pump_dead == Counter({"implausible_time": 3, "schema_violation": 1})
    symptoms_dead = await read_topic(topics, SYMPTOMS_RAW.dlq or "")
    assert _reasons(symptoms_dead) == Counter({"schema_violation": 1, "not_utf8": 1, "oversize": 1})
    (huge,) = [r for r in symptoms_dead if dict(r.headers)[HEADER_REASON] == b"oversize"]
    assert dict(huge.headers)[HEADER_ORIGINAL_SIZE] == b"1500014"
    assert len(huge.value or b"") < 20_000  # kept by reference, within Kafka's message limit

    # The clinical agent raised on the overflowing patient's pain report and set it aside.
    failed = await read_topic(topics, PROCESSING_DLQ.name)
    assert [r.key for r in failed] == [b"pt-overflow"] * split
    if not split:
        return
    headers = dict(failed[0].headers)
    assert headers[HEADER_REASON] == b"processing_failed"
    assert headers[HEADER_DETAIL].startswith(b"OverflowError in the clinical step")
