"""A worker leaves the group mid-stream: its partitions move to the survivor, which must recover
the leaver's patient state from the table changelog, so every reacting patient still gets exactly
one R1 episode with the full evidence (DESIGN.md: changelog writes may land late)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from schemas.alerts import Alert, AlertPhase
from schemas.topics import ALERTS, RAW_TOPICS
from simulators.publisher import publish
from simulators.scripted_sessions import DEMO_PATIENTS, ScriptedPatient, demo_script
from simulators.sim_event import SimEvent
from streams.cli.local.embedded_broker import free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import TopicReader, read_topic
from tests.support.kafka_client import read_until
from tests.support.metrics_scrape import scrape, value
from tests.support.waiting import until

pytestmark = pytest.mark.integration

PATIENTS = 24
Records = list[ConsumerRecord[bytes, bytes]]


def _cohort() -> tuple[ScriptedPatient, ...]:
    cohort = []
    for i in range(PATIENTS):
        t = DEMO_PATIENTS[i % len(DEMO_PATIENTS)]
        cohort.append(
            ScriptedPatient(f"fo-{i:02d}", t.product, t.weight_kg, t.age_years, t.risk_factors,
                            t.steps, t.back_pain, t.end_min, t.hr_rise)
        )  # fmt: skip
    return tuple(cohort)


async def _settled(kafka: KafkaConnection, topic: str, *, timeout_s: float) -> bool:
    """True once ``topic``'s true end is the same in two readings a second apart."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with TopicReader(kafka, [topic], start="end") as reader:
        before = await reader.true_end()
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1.0)  # the interval of the comparison, not a wait for an outcome
            after = await reader.true_end()
            if after == before:
                return True
            before = after
    return False


def _clinical_read(metrics_port: int) -> float:
    """Messages the worker's clinical agent has read from the raw clinical topics."""
    text = scrape(metrics_port)
    return sum(value(text, "pumpstream_events_in_total", topic=t.name) for t in RAW_TOPICS)


def _r1(records: Records) -> list[Alert]:
    alerts = [Alert.model_validate_json(r.value or b"") for r in records]
    return [a for a in alerts if a.rule == "R1"]


async def test_alerts_survive_a_worker_leaving_mid_stream(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    cohort = _cohort()
    reacting = {p.patient_ref for p in cohort if p.back_pain and p.hr_rise}
    script = demo_script(datetime.now(UTC) - timedelta(hours=3), cohort)
    first_half: list[SimEvent] = [e for e in script if e.offset_s < 65 * 60]
    second_half: list[SimEvent] = [e for e in script if e.offset_s >= 65 * 60]
    applied_first = sum(1 for e in first_half if "malformed" not in e.note)

    ports = {name: free_port() for name in ("worker-a", "worker-b")}
    leaving = start_worker("worker-a", PUMPSTREAM_METRICS_PORT=str(ports["worker-a"]))
    start_worker("worker-b", PUMPSTREAM_METRICS_PORT=str(ports["worker-b"]))
    await publish(topics, first_half, speed=0)
    # Wait until the clinical agents of both workers have read all of the first half, whoever
    # owns what (the state's changelog is written per commit, so its records are no witness).
    assert await until(lambda: sum(map(_clinical_read, ports.values())) >= applied_first, 60)
    survivor_first = _clinical_read(ports["worker-b"])

    # The pain reports (minute 78) are in the second half, so the survivor must correlate them
    # with rate steps the leaver applied.
    assert await asyncio.to_thread(leaving.stop) == 0
    await publish(topics, second_half, speed=0)

    def every_reaction_has_its_final_evidence(records: Records) -> bool:
        final = {a.patient_ref for a in _r1(records) if a.evidence.rate_after_ml_h == 168.0}
        return final >= reacting

    records = await read_until(
        topics, "alerts", every_reaction_has_its_final_evidence, timeout_s=90
    )
    assert every_reaction_has_its_final_evidence(records), "a reaction lost the leaver's state"
    # Anything more the survivor would send (a second episode) follows from events it has not
    # applied yet. Wait until it has read every valid event of the second half (group lag is no
    # witness here: after a leave, Faust on Tansu can leave a committed offset behind for minutes
    # although its events were processed), then until the alerts topic stops growing, and read
    # it to its end.
    applied_second = sum(1 for e in second_half if "malformed" not in e.note)
    survivor_all = survivor_first + applied_second
    assert await until(lambda: _clinical_read(ports["worker-b"]) >= survivor_all, 60)
    assert await _settled(topics, ALERTS.name, timeout_s=30), "alerts kept coming"
    alerts = _r1(await read_topic(topics, ALERTS.name))
    by_patient: dict[str, set[str]] = {}
    for alert in alerts:
        by_patient.setdefault(alert.patient_ref, set()).add(alert.alert_id)
    assert set(by_patient) == reacting, "every reacting patient has an R1 alert, nobody else"
    assert all(len(ids) == 1 for ids in by_patient.values()), "one episode per patient"
    live = [a for a in alerts if a.phase is not AlertPhase.END]
    assert {a.evidence.rate_after_ml_h for a in live if a.phase is AlertPhase.START} <= {
        84.0,
        168.0,
    }
