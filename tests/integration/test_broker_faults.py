"""A worker that loses its broker: it recovers by itself, or stops with one clear line so that a
supervisor restarts it; never a silent "zombie" (docs/reliability.md, "Broker faults").

The broker stands behind the relay (``EmbeddedBroker(relay=True)``) that cuts it off: refused
connections (a broker down), a black hole (a network dropping packets), or a restart of Tansu
itself (memory storage: every topic lost)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.alerts import Alert, AlertPhase
from schemas.topics import ALERT_NOTIFICATIONS, ALERTS
from simulators.publisher import publish
from simulators.scripted_sessions import DEMO_PATIENTS, ScriptedPatient, demo_script
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import read_topic
from tests.support.alerting import make_alert, write_roster
from tests.support.kafka_client import produce, read_until
from tests.support.metrics_scrape import scrape, value

pytestmark = pytest.mark.integration

#: The target (issue 14): alerting again, or exited, within 30 s after the broker returns.
BACK_WITHIN_S = 30.0
#: Each scripted cohort's patients (DEMO_PATIENTS' three situations) and the alerts they raise.
COHORT = 3
T0 = datetime.now(UTC) - timedelta(hours=3)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """The conftest's broker, behind the relay that makes outages."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log", relay=True) as embedded:
        yield embedded


def _cohort(prefix: str) -> tuple[ScriptedPatient, ...]:
    return tuple(
        ScriptedPatient(f"{prefix}-{i}", t.product, t.weight_kg, t.age_years, t.risk_factors,
                        t.steps, t.back_pain, t.end_min, t.hr_rise)
        for i, t in enumerate(DEMO_PATIENTS[:COHORT])
    )  # fmt: skip


async def _alerts_of(kafka: KafkaConnection, prefix: str) -> list[Alert]:
    records = await read_topic(kafka, ALERTS.name)
    alerts = [Alert.model_validate_json(r.value or b"") for r in records]
    return [a for a in alerts if a.patient_ref.startswith(f"{prefix}-")]


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition`` (a blocking probe: run in a thread) until true; the seconds it took."""
    started = time.monotonic()
    while not await asyncio.to_thread(condition):
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.25)
    return time.monotonic() - started


async def _alerting(kafka: KafkaConnection, prefix: str, expected: int, timeout_s: float) -> float:
    started = time.monotonic()
    while len(await _alerts_of(kafka, prefix)) < expected:
        if time.monotonic() - started > timeout_s:
            got = len(await _alerts_of(kafka, prefix))
            raise AssertionError(f"{got} of {expected} alerts of {prefix} in {timeout_s:g} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


def _episode_marks(alerts: list[Alert]) -> list[tuple[str, AlertPhase]]:
    """Each episode's start and end by rule. Not its updates: whether an episode is updated
    depends on the order its pump events and report arrive in (docs/clinical-rules.md,
    "Arrival order"), which a worker catching up after an outage does not keep."""
    return sorted((a.rule, a.phase) for a in alerts if a.phase is not AlertPhase.UPDATE)


async def _episodes_like(
    kafka: KafkaConnection, prefix: str, expected: list[tuple[str, AlertPhase]], timeout_s: float
) -> None:
    started = time.monotonic()
    while (got := _episode_marks(await _alerts_of(kafka, prefix))) != expected:
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{got} instead of {expected} for {prefix} in {timeout_s:g} s")
        await asyncio.sleep(0.5)


def _readyz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _produce_errors(port: int) -> float:
    try:
        return value(scrape(port), "pumpstream_produce_errors_total")
    except OSError:
        return -1.0


async def test_a_worker_cut_off_from_its_broker_recovers_by_itself(
    topics: KafkaConnection, broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    worker = start_worker(PUMPSTREAM_METRICS_PORT=str(port), PUMPSTREAM_METRICS_LAG_INTERVAL_S="1")
    await publish(topics, demo_script(T0, _cohort("before")), speed=0)
    await _alerting(topics, "before", 1, 30)
    await asyncio.sleep(2)  # the cohort's later alerts (its updates) too
    before = await _alerts_of(topics, "before")

    broker.pause()  # connections refused, as when the broker is down; it keeps its topics
    await _until(lambda: _readyz(port) == 503, 10, "/readyz 503 while cut off")
    await asyncio.sleep(12)
    assert worker.is_running()
    assert _readyz(port) == 503
    broker.resume()
    returned = time.monotonic()

    await publish(topics, demo_script(T0, _cohort("after")), speed=0)
    await _episodes_like(
        topics, "after", _episode_marks(before), BACK_WITHIN_S - (time.monotonic() - returned)
    )
    took = time.monotonic() - returned
    await _until(lambda: _readyz(port) == 200, 10, "/readyz 200 again")
    assert worker.is_running(), "it recovered by itself"
    assert _produce_errors(port) == 0, "nothing was lost on the way"
    assert len(await _alerts_of(topics, "before")) == len(before)
    print(f"alerting again {took:.1f} s after the broker came back")


async def test_a_worker_whose_messages_are_lost_stops_with_one_line(
    topics: KafkaConnection,
    broker: EmbeddedBroker,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    port = free_port()
    # With a roster whose escalation is due every 5 s, the worker writes a tick to the broker
    # every 5 s whatever it reads: a produce is under way during the outage.
    # PRODUCER_REQUEST_TIMEOUT is Faust's own variable: the producer gives up on a message after
    # 3 s of a broker refusing connections instead of 20 min, so that it does within the test.
    roster = write_roster(tmp_path / "roster.toml", high=5, medium=5)
    worker = start_worker(
        PUMPSTREAM_METRICS_PORT=str(port),
        PUMPSTREAM_ALERTING_CONFIG=str(roster),
        PUMPSTREAM_NURSE_STATION_PORT="0",
        PRODUCER_REQUEST_TIMEOUT="3",
    )
    alert = make_alert("open-episode", patient="open-1")  # high priority, never acknowledged
    await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"open-1")
    await read_until(topics, ALERT_NOTIFICATIONS.name, lambda records: len(records) >= 1)
    broker.pause()
    cut = time.monotonic()

    await _until(lambda: _produce_errors(port) >= 1, 30, "a failed produce counted")
    assert _readyz(port) == 503, "not ready while it stops"
    await _until(lambda: not worker.is_running(), 25, "the worker to stop")
    print(f"stopped {time.monotonic() - cut:.1f} s after the outage began")
    assert worker.stop() == 2
    assert worker.log_path is not None
    lines = [
        line
        for line in worker.log_path.read_text(encoding="utf-8").splitlines()
        if line.startswith("error: ")
    ]
    assert len(lines) == 1, lines
    assert "Kafka did not accept a message for topic" in lines[0]
    assert "a supervisor restarts it" in lines[0]

    broker.resume()
    returned = time.monotonic()
    start_worker("restarted")  # what the supervisor does
    await publish(topics, demo_script(T0, _cohort("after")), speed=0)
    await _alerting(topics, "after", 1, BACK_WITHIN_S - (time.monotonic() - returned))


async def test_a_worker_stops_when_the_broker_lost_its_topics(
    topics: KafkaConnection, broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    worker = start_worker(PUMPSTREAM_METRICS_PORT=str(port), PUMPSTREAM_METRICS_LAG_INTERVAL_S="1")
    await publish(topics, demo_script(T0, _cohort("before")), speed=0)
    await _alerting(topics, "before", 1, 30)

    await asyncio.to_thread(broker.restart)  # memory storage: every topic is gone
    returned = time.monotonic()
    await _until(lambda: _readyz(port) == 503, 10, "/readyz 503 once the topics are gone")
    await _until(lambda: not worker.is_running(), BACK_WITHIN_S, "the worker to stop")
    print(f"stopped {time.monotonic() - returned:.1f} s after the broker returned")
    assert worker.stop() == 2
    assert worker.log_path is not None
    log = worker.log_path.read_text(encoding="utf-8")
    assert "error: the broker no longer has topic(s)" in log
    assert time.monotonic() - returned < BACK_WITHIN_S

    start_worker("restarted")  # the supervisor: a new worker creates the topics again
    await publish(topics, demo_script(T0, _cohort("after")), speed=0)
    await _alerting(topics, "after", 1, 30)
