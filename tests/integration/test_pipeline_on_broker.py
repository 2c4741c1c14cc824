"""The pipeline on the real embedded broker: raw events in, alerts and dead letters out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord
from pydantic import BaseModel

from schemas.alerts import Alert
from schemas.dead_letters import HEADER_DETAIL, HEADER_REASON, HEADER_SOURCE_TOPIC
from schemas.topics import ALERTS, PUMP_EVENTS, PUMP_EVENTS_RAW, SYMPTOMS_RAW
from streams.cli.local.worker_process import WorkerProcess
from streams.clinical.raw_intake import HEADER_FORWARDED_FROM
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.partitioning import partition_of
from streams.kafka.reading import read_topic
from streams.settings import consumed_topics
from tests.conftest import TEST_PARTITIONS
from tests.support.events import Patient
from tests.support.kafka_client import produce, read_until

pytestmark = pytest.mark.integration

CONTRACT_FIELDS = {
    "alert_id", "phase", "patient_ref", "infusion_id", "rule", "priority", "type", "title",
    "recommendations", "evidence", "risk_factors", "event_time", "created_at",
}  # fmt: skip
Records = list[ConsumerRecord[bytes, bytes]]


def _raw(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


def _alerts(records: Records) -> list[Alert]:
    return [Alert.model_validate_json(r.value or b"") for r in records]


def _has_final_evidence(records: Records) -> bool:
    return any(a.evidence.rate_after_ml_h == 168.0 for a in _alerts(records))


async def _send_reacting_infusion(bootstrap: KafkaConnection, patient: str) -> None:
    p = Patient(patient)
    key = patient.encode()
    for event in (p.start(), p.rate(30, 84.0), p.rate(60, 168.0)):
        await produce(bootstrap, PUMP_EVENTS_RAW.name, _raw(event), key)
    await produce(bootstrap, SYMPTOMS_RAW.name, _raw(p.pain(78, 6)), key)


async def test_back_pain_after_rate_increase_gives_r1_alert(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    await _send_reacting_infusion(topics, "pt-a")

    # Pump events and symptoms travel on different topics, so the worker may see the pain
    # before the last rate step: the episode then starts on the earlier step and is corrected
    # by an update with the same alert id once that step arrives.
    records = await read_until(topics, ALERTS.name, _has_final_evidence)

    assert all(r.key == b"pt-a" for r in records)
    assert all(json.loads(r.value or b"").keys() >= CONTRACT_FIELDS for r in records)
    alerts = _alerts(records)
    assert len({a.alert_id for a in alerts}) == 1, "one episode, one alert id"
    assert [a.phase.value for a in alerts] in (["start"], ["start", "update"])
    alert = alerts[-1]
    assert (alert.rule, alert.priority.value, alert.type.value) == ("R1", "medium", "physiological")
    assert alert.evidence.rate_before_ml_h == 84.0
    assert alert.evidence.dose_rate_mg_kg_min == 4.0
    assert alert.evidence.minutes_since_rate_change == 18.0
    assert alert.evidence.pain_score == 6
    assert [r.code.value for r in alert.recommendations] == [
        "slow_rate", "pause", "hydrate", "analgesic",
    ]  # fmt: skip
    assert alert.title == "Back pain 6/10, 18 min after rate increase to 4 mg/kg/min"


async def test_invalid_event_goes_to_dlq_and_the_next_valid_one_is_processed(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    bad = b'{"kind": "rate_changed", "event_id": "x1", "patient_ref": "pt-b", "rate_ml_h": -5}'
    not_text = b"\xff\xfe not even text"
    await produce(topics, PUMP_EVENTS_RAW.name, bad, b"pt-b")
    await produce(topics, PUMP_EVENTS_RAW.name, not_text, b"pt-b")
    await _send_reacting_infusion(topics, "pt-b")

    assert PUMP_EVENTS_RAW.dlq is not None
    dead = await read_until(topics, PUMP_EVENTS_RAW.dlq, lambda rs: len(rs) >= 2)
    headers_by_value = {r.value: dict(r.headers) for r in dead}
    assert headers_by_value.keys() == {bad, not_text}, "dead letters keep the original bytes"
    assert all(r.key == b"pt-b" for r in dead)
    assert headers_by_value[bad][HEADER_REASON] == b"schema_violation"
    assert b"rate_ml_h" in headers_by_value[bad][HEADER_DETAIL]
    assert headers_by_value[bad][HEADER_SOURCE_TOPIC] == PUMP_EVENTS_RAW.name.encode()
    assert headers_by_value[not_text][HEADER_REASON] == b"not_utf8"

    alerts = _alerts(await read_until(topics, ALERTS.name, _has_final_evidence))
    assert {a.patient_ref for a in alerts} == {"pt-b"}
    validated = await read_until(topics, PUMP_EVENTS.name, lambda rs: len(rs) >= 3)
    assert len(validated) == 3


async def test_redelivered_events_give_one_episode(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    await _send_reacting_infusion(topics, "pt-c")
    await _send_reacting_infusion(topics, "pt-c")  # the gateway re-sends everything

    assert await wait_until_caught_up(topics, "pumpstream", consumed_topics(), timeout_s=30)
    # Caught up: Faust flushes what it sends before it commits, so the topic is complete.
    alerts = _alerts(await read_topic(topics, ALERTS.name))

    assert len({a.alert_id for a in alerts}) == 1
    assert [a.phase.value for a in alerts].count("start") == 1
    assert len(alerts) <= 2, "at most a start and one evidence correction"


async def test_events_without_a_key_on_the_wrong_partition_reach_their_patient(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    """A producer that sets no key (or picks partitions itself) puts a patient's events where
    the clinical agent that reads them may not hold the patient's state: each is sent on to its
    patient's partition of the raw topic, validated there once, and the rules see them all."""
    start_worker()
    p = Patient("pt-nokey")
    owner = partition_of(b"pt-nokey", TEST_PARTITIONS)
    elsewhere = (owner + 1) % TEST_PARTITIONS
    producer = topics.producer(acks="all")
    await producer.start()
    try:
        for topic, event in (
            (PUMP_EVENTS_RAW.name, p.start()),
            (PUMP_EVENTS_RAW.name, p.rate(30, 84.0)),
            (PUMP_EVENTS_RAW.name, p.rate(60, 168.0)),
            (SYMPTOMS_RAW.name, p.pain(78, 6)),
        ):
            await producer.send_and_wait(topic, value=_raw(event), partition=elsewhere)
    finally:
        await producer.stop()

    records = await read_until(topics, ALERTS.name, _has_final_evidence)
    assert {a.patient_ref for a in _alerts(records)} == {"pt-nokey"}
    assert await wait_until_caught_up(topics, "pumpstream", consumed_topics(), timeout_s=30)
    on_topic = await read_topic(topics, PUMP_EVENTS_RAW.name)
    assert Counter((r.partition, r.key) for r in on_topic) == {
        (elsewhere, None): 3,
        (owner, b"pt-nokey"): 3,
    }, "each sent on once, keyed by its patient"
    sent_from = {r.offset for r in on_topic if r.partition == elsewhere}
    forwarded = [dict(r.headers) for r in on_topic if r.partition == owner]
    assert {h[HEADER_FORWARDED_FROM] for h in forwarded} == {
        f"{elsewhere}@{offset}".encode() for offset in sent_from
    }
    validated = await read_topic(topics, PUMP_EVENTS.name)
    assert [(r.partition, r.key) for r in validated] == [(owner, b"pt-nokey")] * 3
