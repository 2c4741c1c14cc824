"""Technical alerts through the real Faust agents on the embedded broker: a pump whose infusion
start never arrives (T1, with what its own events show, and R1 judged on its rates), and a
status-reporting pump that goes silent while the monitor goes on (T3). The pure cases are
tests/unit/clinical/test_blind_spots.py; here the waits in arrival time are the worker's own
clock, shortened in a rules file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from pydantic import BaseModel

from schemas.alerts import Alert, AlertType
from schemas.topics import ALERTS, PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from streams.cli.local.worker_process import WorkerProcess
from streams.clinical.blind_spots import on_inferred_infusion
from streams.clinical.rules_file import DEFAULT_RULES_FILE
from streams.kafka.connection import KafkaConnection
from tests.support.events import Patient
from tests.support.kafka_client import produce, read_until

pytestmark = pytest.mark.integration

Records = list[ConsumerRecord[bytes, bytes]]


def _technical(records: Records) -> list[tuple[str, str, str]]:
    alerts = [Alert.model_validate_json(r.value or b"") for r in records]
    return [(a.patient_ref, a.rule, a.phase.value) for a in alerts if a.type is AlertType.TECHNICAL]


async def _send(kafka: KafkaConnection, topic: str, event: BaseModel, patient: Patient) -> None:
    await produce(kafka, topic, event.model_dump_json().encode(), patient.ref.encode())


def _quick_rules(tmp_path: Path) -> Path:
    """The shipped rules with the pump's silence in arrival time cut to 3 s (event time still
    needs 3 of its usual intervals)."""
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    assert "pump_silent_min = 10.0" in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace("pump_silent_min = 10.0", "pump_silent_min = 0.05"), "utf-8")
    return path


async def test_a_missing_start_and_a_silent_pump_raise_technical_alerts(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    start_worker(PUMPSTREAM_RULES_FILE=str(_quick_rules(tmp_path)))
    orphan, steady = Patient("pt-no-start"), Patient("pt-steady")
    # T1: rate changes of an infusion whose start never comes, 6 minutes apart.
    for event in (orphan.rate(0, 84.0), orphan.rate(6, 168.0)):
        await _send(topics, PUMP_EVENTS_RAW.name, event, orphan)
    # T3: a pump reporting its status every minute, then nothing while the monitor goes on.
    await _send(topics, PUMP_EVENTS_RAW.name, steady.start(), steady)
    for minute in range(1, 6):
        await _send(topics, PUMP_EVENTS_RAW.name, steady.rate(minute, 42.0), steady)
    await asyncio.sleep(4.0)  # the pump's silence in arrival time (3 s in the rules file)
    await _send(topics, VITALS_RAW.name, steady.vitals(30), steady)

    wanted = {(orphan.ref, "T1", "start"), (steady.ref, "T3", "start")}
    records = await read_until(topics, ALERTS.name, lambda r: wanted <= set(_technical(r)))
    assert wanted <= set(_technical(records))
    t1 = next(
        Alert.model_validate_json(r.value or b"")
        for r in records
        if Alert.model_validate_json(r.value or b"").rule == "T1"
    )
    assert "84 -> 168 mL/h" in t1.title, "T1 says what the pump's own events show"
    assert "dose not known" in t1.title

    # The pump reports again: T3 ends.
    await _send(topics, PUMP_EVENTS_RAW.name, steady.rate(31, 42.0), steady)
    ended = (steady.ref, "T3", "end")
    records = await read_until(topics, ALERTS.name, lambda r: ended in _technical(r))
    assert ended in _technical(records)


async def test_back_pain_after_an_inferred_increase_pages_r1_and_the_start_carries_it_on(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    orphan = Patient("pt-r1-no-start")
    for event in (orphan.rate(30, 84.0), orphan.vitals(32), orphan.rate(40, 168.0)):
        topic = VITALS_RAW.name if event.kind == "vitals" else PUMP_EVENTS_RAW.name
        await _send(topics, topic, event, orphan)
    await _send(topics, SYMPTOMS_RAW.name, orphan.pain(50, 7), orphan)

    def r1(records: Records) -> list[Alert]:
        alerts = [Alert.model_validate_json(r.value or b"") for r in records]
        return [a for a in alerts if a.patient_ref == orphan.ref and a.rule == "R1"]

    def after_168(records: Records) -> list[Alert]:
        return [a for a in r1(records) if "rate increase to 168 mL/h" in a.title]

    # The topics are read in their own order: the report may be stepped before the second rate
    # change (an R1 on the increase to 84 mL/h, then updated) or after it (one R1 at once).
    records = await read_until(topics, ALERTS.name, lambda rs: bool(after_168(rs)))
    inferred = after_168(records)[0]
    assert on_inferred_infusion(inferred)
    assert inferred.priority.value == "high"
    assert "10 min after rate increase to 168 mL/h (infusion start missing" in inferred.title
    assert {a.alert_id for a in r1(records)} == {inferred.alert_id}, "one episode"
    seen = len(r1(records))

    # The start arrives: R1 proper carries the same episode on, with the dose rate.
    await _send(topics, PUMP_EVENTS_RAW.name, orphan.start(), orphan)
    records = await read_until(topics, ALERTS.name, lambda rs: len(r1(rs)) > seen)
    proper = r1(records)[seen]
    assert proper.alert_id == inferred.alert_id
    assert not on_inferred_infusion(proper)
    assert proper.evidence.dose_rate_mg_kg_min is not None
    assert proper.phase.value == "start"
    phases = [a.phase.value for a in r1(records)]
    assert "end" not in phases, "no end"
    assert {a.alert_id for a in r1(records)} == {inferred.alert_id}, "no second episode"
