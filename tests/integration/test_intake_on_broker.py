"""The symptom intake API on the real embedded broker: an accepted report is on ``symptoms.raw``
before the 202, and a worker turns a pain report after a rate increase into an R1 alert (a retry
with the same event id changes nothing); with Kafka gone, 503 and Retry-After within the ack
timeout; a taken port is named."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from schemas.alerts import Alert
from schemas.events import SymptomReport
from schemas.topics import ALERTS, PUMP_EVENTS_RAW, SYMPTOMS_RAW
from streams.cli.local.embedded_broker import EmbeddedBroker
from streams.cli.local.worker_process import WorkerProcess
from streams.exceptions import PortInUse
from streams.gateway.intake import INTAKE_PATH, SymptomIntake
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.reading import read_topic
from streams.settings import consumed_topics
from tests.support.events import Patient
from tests.support.kafka_client import produce, read_until

pytestmark = pytest.mark.integration

TOKEN = "intake-token-for-the-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_BODY_BYTES = 262_144


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(
    http: aiohttp.ClientSession, intake: SymptomIntake, report: SymptomReport
) -> tuple[int, dict[str, Any], dict[str, str]]:
    url = f"http://127.0.0.1:{intake.port}{INTAKE_PATH}"
    body = json.loads(report.model_dump_json())
    async with http.post(url, json=body, headers=AUTH) as response:
        return response.status, await response.json(), dict(response.headers)


def _alerts(records: list[Any]) -> list[Alert]:
    return [Alert.model_validate_json(r.value or b"") for r in records]


async def test_an_accepted_pain_report_is_on_symptoms_raw_and_a_worker_alerts(
    topics: KafkaConnection,
    start_worker: Callable[..., WorkerProcess],
    http: aiohttp.ClientSession,
) -> None:
    start_worker()
    patient = Patient("pt-intake")
    for event in (patient.start(), patient.rate(30, 84.0), patient.rate(60, 168.0)):
        await produce(topics, PUMP_EVENTS_RAW.name, event.model_dump_json().encode(), b"pt-intake")
    outcomes: list[str] = []
    intake = SymptomIntake(topics, TOKEN, "127.0.0.1", 0, MAX_BODY_BYTES, outcomes.append)
    await intake.start()
    try:
        assert intake.port > 0
        pain = patient.pain(78, 6)
        status, answer, _ = await _post(http, intake, pain)
        # Acknowledged means on the topic: no waiting for it after the 202.
        on_topic = await read_topic(topics, SYMPTOMS_RAW.name)
        retry_status, retry_answer, _ = await _post(http, intake, pain)  # a client's retry
    finally:
        await intake.stop()

    assert (status, answer) == (202, {"event_id": pain.event_id})
    assert (retry_status, retry_answer) == (202, {"event_id": pain.event_id})
    assert outcomes == ["accepted", "accepted"]
    assert [r.key for r in on_topic] == [b"pt-intake"]
    assert SymptomReport.model_validate_json(on_topic[0].value or b"") == pain

    records = await read_until(
        topics,
        ALERTS.name,
        lambda rs: any(a.evidence.rate_after_ml_h == 168.0 for a in _alerts(rs)),
    )
    alert = _alerts(records)[-1]
    assert (alert.rule, alert.patient_ref) == ("R1", "pt-intake")
    assert alert.evidence.pain_score == 6
    assert alert.evidence.symptom_event_id == pain.event_id

    assert await wait_until_caught_up(topics, "pumpstream", consumed_topics(), timeout_s=30)
    alerts = _alerts(await read_topic(topics, ALERTS.name))
    assert len({a.alert_id for a in alerts}) == 1
    assert [a.phase.value for a in alerts].count("start") == 1, "the retry was a duplicate"


async def test_kafka_gone_gives_503_with_retry_after_within_the_ack_timeout(
    broker: EmbeddedBroker, topics: KafkaConnection, http: aiohttp.ClientSession
) -> None:
    outcomes: list[str] = []
    intake = SymptomIntake(
        topics, TOKEN, "127.0.0.1", 0, MAX_BODY_BYTES, outcomes.append, ack_timeout_s=1.0
    )
    await intake.start()
    patient = Patient("pt-down")
    try:
        status, _, _ = await _post(http, intake, patient.pain(10, 4))
        assert status == 202
        broker.stop()

        started = time.monotonic()
        status, answer, headers = await _post(http, intake, patient.pain(20, 5))
        waited_s = time.monotonic() - started
    finally:
        stopping = time.monotonic()
        await intake.stop()
        stop_s = time.monotonic() - stopping

    assert status == 503
    assert headers["Retry-After"] == "5"
    assert answer["error"] == "unavailable"
    assert 0.9 <= waited_s < 3, "answered at the ack timeout"
    assert stop_s < 5, "stopping does not wait for the unacknowledged record for long"
    assert outcomes == ["accepted", "unavailable"]


async def test_a_taken_port_names_the_setting(topics: KafkaConnection) -> None:
    first = SymptomIntake(topics, TOKEN, "127.0.0.1", 0, MAX_BODY_BYTES)
    await first.start()
    try:
        second = SymptomIntake(topics, TOKEN, "127.0.0.1", first.port, MAX_BODY_BYTES)
        with pytest.raises(PortInUse, match="PUMPSTREAM_GATEWAY_HTTP_PORT"):
            await second.start()
    finally:
        await first.stop()
