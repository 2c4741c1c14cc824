"""The rules file, the R5 timer and the reaction ledger on the real embedded broker and a real
worker process."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.alerts import Alert
from schemas.events import SymptomReport
from schemas.topics import ALERTS, PUMP_EVENTS_RAW, SYMPTOMS_RAW
from streams.cli.local.child_process import current_env
from streams.cli.local.worker_process import WorkerProcess
from streams.clinical.rules_file import DEFAULT_RULES_FILE
from streams.clinical.state import ClinicalEventModel
from streams.exceptions import WorkerNotReady
from streams.kafka.connection import KafkaConnection
from tests.support.events import Patient
from tests.support.kafka_client import read_until

pytestmark = pytest.mark.integration


async def _send(kafka: KafkaConnection, events: list[ClinicalEventModel]) -> None:
    producer = kafka.producer(acks="all")
    await producer.start()
    try:
        for event in events:  # one by one: each acknowledged before the next
            topic = SYMPTOMS_RAW.name if isinstance(event, SymptomReport) else PUMP_EVENTS_RAW.name
            await producer.send_and_wait(
                topic, key=event.patient_ref.encode(), value=event.model_dump_json().encode()
            )
    finally:
        await producer.stop()


def _alerts(records: list) -> list[Alert]:  # type: ignore[type-arg]
    return [Alert.model_validate_json(r.value or b"") for r in records]


def _quick_rules(tmp_path: Path) -> Path:
    """The shipped rules with a 3-second grace, so the quiet-stream timer acts within the test."""
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace(
        "grace_min = 2.0", "grace_min = 0.05"
    )
    path = tmp_path / "quick-rules.toml"
    path.write_text(
        text.replace('version = "ivig-back-pain/2026.11.1"', 'version = "test-quick/1"')
    )
    return path


async def test_r5_timer_fires_when_the_streams_go_quiet_and_the_ledger_documents_the_episode(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    start_worker(
        PUMPSTREAM_RULES_FILE=str(_quick_rules(tmp_path)), PUMPSTREAM_QUIET_CHECK_INTERVAL_S="0.5"
    )
    # Minute 0 is 100 minutes ago: the nurse slowed 35 minutes ago, so R5 fell due 5 minutes ago,
    # and no event after the slowing arrives to pass that time: only the timer can find it.
    p = Patient("pt-quiet", t0=datetime.now(UTC) - timedelta(minutes=100))
    await _send(
        topics, [p.start(), p.rate(10, 84.0), p.rate(40, 168.0), p.pain(55, 6), p.rate(65, 84.0)]
    )

    def has(rule: str, phase: str) -> Callable[[list], bool]:  # type: ignore[type-arg]
        return lambda rs: any(a.rule == rule and a.phase.value == phase for a in _alerts(rs))

    records = await read_until(topics, ALERTS.name, has("R5", "start"), timeout_s=40)
    r5 = next(a for a in _alerts(records) if a.rule == "R5")
    assert r5.rules_version == "test-quick/1"
    assert r5.evidence.pain_score_at_action == 6
    assert "not reassessed" in r5.title

    await _send(topics, [p.pain(101, 0)])
    records = await read_until(topics, ALERTS.name, has("R1", "end"), timeout_s=30)
    ended = {(a.rule, a.phase.value) for a in _alerts(records)}
    assert {("R1", "end"), ("R5", "end")} <= ended

    show = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "reactions", "show", "pt-quiet",
        env={**current_env(), "PUMPSTREAM_KAFKA_BOOTSTRAP": topics.bootstrap},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(show.communicate(), timeout=60)
    assert show.returncode == 0, err.decode()
    text = out.decode()
    assert "1 documented reaction(s) for pt-quiet" in text
    assert "R1 octagam-10 100 mg/mL: 168 mL/h = 4 mg/kg/min, 15 min after a rate step" in text
    assert "actions: slowed; outcome: pain resolved (0/10)" in text


def test_a_worker_refuses_a_bad_rules_file_and_says_why(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace(
            "spo2_below_percent = 92.0", "spo2_below_percent = 192"
        )
    )
    with pytest.raises(
        WorkerNotReady, match=r"r2\.spo2_below_percent: Input should be less than or equal to 100"
    ):
        start_worker(PUMPSTREAM_RULES_FILE=str(bad))
