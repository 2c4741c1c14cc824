"""Every clinical scenario (tests/support/clinical_scenarios.py) through the real Faust agents on
the embedded broker: one broker and one worker for the whole table, each row its own patient.

Events travel on different topics (pump, vitals, symptoms, acks), and Kafka orders only within a
partition of one topic; so the rows are sent in rounds (the k-th event of every row, then wait
until the worker has committed everything), which gives each patient the row's arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.alerts import Alert, AlertAck, AlertType
from schemas.events import SymptomReport, VitalSigns
from schemas.reactions import ReactionHistory
from schemas.topics import (
    ALERT_ACKS,
    ALERTS,
    ALL_TOPICS,
    PUMP_EVENTS_RAW,
    REACTIONS,
    SYMPTOMS_RAW,
    VITALS_RAW,
)
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.clinical.rules_file import load_rules
from streams.clinical.state import ClinicalEventModel
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.reading import read_topic
from streams.settings import consumed_topics
from tests.conftest import TEST_PARTITIONS
from tests.support.clinical_scenarios import SCENARIOS, Outcome, scenario_params
from tests.support.events import Patient

pytestmark = pytest.mark.integration

CONSUMED = consumed_topics()


def _topic(event: ClinicalEventModel) -> str:
    if isinstance(event, AlertAck):
        return ALERT_ACKS.name
    if isinstance(event, VitalSigns):
        return VITALS_RAW.name
    if isinstance(event, SymptomReport):
        return SYMPTOMS_RAW.name
    return PUMP_EVENTS_RAW.name


@dataclass
class TableRun:
    alerts: dict[str, list[Alert]]
    reactions: dict[str, ReactionHistory]


def _patient_of(name: str) -> str:
    return f"sc-{list(SCENARIOS).index(name):02d}"


async def _run_table(kafka: KafkaConnection) -> TableRun:
    rows = {_patient_of(name): s.build(Patient(_patient_of(name))) for name, s in SCENARIOS.items()}
    producer = kafka.producer(acks="all")
    await producer.start()
    try:
        for k in range(max(len(events) for events in rows.values())):
            sends = [
                await producer.send(
                    _topic(events[k]), key=ref.encode(), value=events[k].model_dump_json().encode()
                )
                for ref, events in rows.items()
                if k < len(events)
            ]
            await asyncio.gather(*sends)
            assert await wait_until_caught_up(kafka, "pumpstream", CONSUMED, timeout_s=60), (
                f"the worker did not catch up after round {k}"
            )
    finally:
        await producer.stop()
    # Caught up: Faust flushes what it sends before it commits, so the topics are complete.
    alert_records = await read_topic(kafka, ALERTS.name)
    alerts: dict[str, list[Alert]] = {}
    for record in alert_records:
        alert = Alert.model_validate_json(record.value or b"")
        if alert.type is not AlertType.TECHNICAL:  # the table is about the clinical rules
            alerts.setdefault(alert.patient_ref, []).append(alert)
    reaction_records = await read_topic(kafka, REACTIONS.name)
    reactions = {}
    for record in reaction_records:  # compacted topic: the last value per key is the history
        history = ReactionHistory.model_validate_json(record.value or b"")
        reactions[history.patient_ref] = history
    return TableRun(alerts, reactions)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TableRun]:
    run_dir: Path = tmp_path_factory.mktemp("scenarios")
    with EmbeddedBroker(log_path=run_dir / "broker.log") as broker:
        asyncio.run(ensure_topics(broker.connection, partitions=TEST_PARTITIONS, topics=ALL_TOPICS))
        worker = WorkerProcess(
            broker.bootstrap,
            run_dir,
            env={
                "PUMPSTREAM_TOPIC_PARTITIONS": str(TEST_PARTITIONS),
                "PUMPSTREAM_METRICS_PORT": str(free_port()),
                "PUMPSTREAM_DATA_DIR": str(run_dir / "data"),
                "PUMPSTREAM_COMMIT_INTERVAL_S": "0.2",
                # Events are dated in the past: keep the wall-clock R5 timer out of this table
                # (it has its own test).
                "PUMPSTREAM_QUIET_CHECK_INTERVAL_S": "3600",
            },
        ).start()
        try:
            worker.wait_ready(timeout_s=60)
            yield asyncio.run(_run_table(broker.connection))
        finally:
            worker.stop()


@pytest.mark.parametrize(("name", "scenario"), scenario_params())
def test_scenario_on_broker(name: str, scenario: object, table_run: TableRun) -> None:
    row = SCENARIOS[name]
    ref = _patient_of(name)
    alerts = table_run.alerts.get(ref, [])
    assert Outcome.of(alerts).rules == row.rules
    history = table_run.reactions.get(ref)
    assert (len(history.reactions) if history else 0) == row.reactions
    assert all(a.rules_version == load_rules().version for a in alerts)
