"""Telemetry batches on the real broker: readings of many patients in one message reach each
patient's state (forwarded when a batch holds another partition's patient), bad readings are
dead-lettered one by one with their bytes, the good ones beside them still count, and the
worker's metrics account for every reading."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord

from schemas.alerts import Alert
from schemas.dead_letters import HEADER_REASON
from schemas.topics import ALERTS, PUMP_EVENTS_RAW, SYMPTOMS_RAW, TELEMETRY_RAW
from streams.cli.local.embedded_broker import free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.partitioning import partition_of
from tests.conftest import TEST_PARTITIONS
from tests.support.events import Patient
from tests.support.kafka_client import read_until
from tests.support.metrics_scrape import scrape, value

pytestmark = pytest.mark.integration

Records = list[ConsumerRecord[bytes, bytes]]


def _two_patients_on_different_partitions() -> tuple[Patient, Patient]:
    refs = [f"pt-tel-{i}" for i in range(20)]
    first = refs[0]
    other = next(r for r in refs if partition_of(r.encode(), TEST_PARTITIONS) != partition_of(
        first.encode(), TEST_PARTITIONS))  # fmt: skip
    return Patient(first), Patient(other)


async def _send(kafka: KafkaConnection, topic: str, value: bytes, *, key: bytes | None = None,
                partition: int | None = None) -> None:  # fmt: skip
    producer = kafka.producer(acks="all")
    try:
        await producer.start()
        await producer.send_and_wait(topic, key=key, value=value, partition=partition)
    finally:
        await producer.stop()


def _r2_for(records: Records) -> set[str]:
    alerts = [Alert.model_validate_json(r.value or b"") for r in records]
    return {a.patient_ref for a in alerts if a.rule == "R2"}


async def test_a_batch_reaches_every_patient_and_sets_aside_only_its_bad_readings(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    start_worker(PUMPSTREAM_METRICS_PORT=str(port))
    a, b = _two_patients_on_different_partitions()
    for p in (a, b):
        key = p.ref.encode()
        await _send(topics, PUMP_EVENTS_RAW.name, p.start().model_dump_json().encode(), key=key)
        await _send(topics, SYMPTOMS_RAW.name, p.pain(30, 4).model_dump_json().encode(), key=key)
    fever = [json.loads(p.vitals(33, temp=38.4).model_dump_json()) for p in (a, b)]
    normal = json.loads(a.vitals(31).model_dump_json())
    bad_type = {**json.loads(a.vitals(32).model_dump_json()), "heart_rate_bpm": {"value": True}}
    far_future = {
        **json.loads(a.vitals(34).model_dump_json()),
        "event_time": "2999-01-01T00:00:00Z",
    }
    batch = {"batch_id": "b-1", "vitals": [normal, *fever, bad_type, far_future]}
    # All to patient a's partition: b's reading must be forwarded to b's partition.
    home = partition_of(a.ref.encode(), TEST_PARTITIONS)
    await _send(topics, TELEMETRY_RAW.name, json.dumps(batch).encode(), partition=home)

    records = await read_until(topics, ALERTS.name, lambda r: _r2_for(r) == {a.ref, b.ref})
    assert _r2_for(records) == {a.ref, b.ref}, "each patient's fever, one batch, got its R2"

    assert TELEMETRY_RAW.dlq is not None
    letters = await read_until(topics, TELEMETRY_RAW.dlq, lambda r: len(r) >= 2)
    reasons = sorted(dict(r.headers)[HEADER_REASON].decode() for r in letters)
    assert reasons == ["implausible_time", "schema_violation"]
    kept = {json.loads(r.value or b"")["event_id"] for r in letters}
    assert kept == {bad_type["event_id"], far_future["event_id"]}, "each bad reading kept whole"

    metrics = scrape(port)
    readings = "pumpstream_telemetry_readings_total"
    # normal + a's fever accepted at home, b's fever forwarded, then accepted at b's partition.
    assert value(metrics, readings, outcome="accepted") == 3
    assert value(metrics, readings, outcome="forwarded") == 1
    assert value(metrics, readings, outcome="dead_lettered") == 2
    assert value(metrics, "pumpstream_dead_letters_total", topic=TELEMETRY_RAW.name) == 2


async def test_a_message_that_is_no_batch_is_dead_lettered_whole(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    original = b'{"batch_id": "b-2", "vitals": "not a list"}'
    await _send(topics, TELEMETRY_RAW.name, original, partition=0)
    assert TELEMETRY_RAW.dlq is not None
    letters = await read_until(topics, TELEMETRY_RAW.dlq, lambda r: len(r) >= 1)
    assert [r.value for r in letters] == [original]
    assert dict(letters[0].headers)[HEADER_REASON] == b"schema_violation"
