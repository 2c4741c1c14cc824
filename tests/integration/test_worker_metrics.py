"""A worker's /metrics while the demo's infusions run through it on the real embedded broker:
the values the script implies, bounded labels only, no patient reference, promtool-clean."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.metrics.labels import WardLabels, allowed_label_values
from tests.support.metrics_scrape import (
    CONSUMED_TOPICS,
    PATIENT_REFS,
    label_violations,
    play_demo_script,
    promtool_check_metrics,
    samples,
    scrape,
    value,
)

pytestmark = pytest.mark.integration


async def _scrape_when(port: int, ready: Callable[[str], bool], timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    text = scrape(port)
    while not ready(text) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        text = scrape(port)
    return text


async def test_metrics_follow_the_demo_with_bounded_labels(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    start_worker(PUMPSTREAM_METRICS_PORT=str(port), PUMPSTREAM_METRICS_LAG_INTERVAL_S="0.5")
    during = scrape(port)
    sent = await play_demo_script(topics)
    # The lag gauge is measured on a timer: wait for a measurement after the catch-up.
    text = await _scrape_when(
        port,
        lambda t: (
            all(
                ("pumpstream_consumer_lag_messages", (("topic", name),)) in _keys(t)
                for name in CONSUMED_TOPICS
            )
            and value(t, "pumpstream_consumer_lag_messages") == 0
        ),
    )

    allowed = allowed_label_values(WardLabels())
    for snapshot in (during, text):
        assert label_violations(snapshot, allowed, forbidden=(*PATIENT_REFS, "pt-")) == []
    checked = promtool_check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == "", "promtool has no convention warnings"

    assert value(text, "pumpstream_events_in_total", topic="pump.events.raw") > 0
    raw_in = sum(
        value(text, "pumpstream_events_in_total", topic=t)
        for t in ("pump.events.raw", "vitals.raw", "symptoms.raw")
    )
    assert raw_in == sent
    assert value(text, "pumpstream_events_out_total", topic="pump.events.raw.dlq") == 1
    assert (
        value(
            text,
            "pumpstream_dead_letters_total",
            topic="pump.events.raw",
            reason="schema_violation",
        )
        == 1
    )
    # Three infusions, every one completed by the end of the script.
    assert value(text, "pumpstream_active_infusions") == 0
    assert value(text, "pumpstream_rate_changes_total", direction="up") == 6
    assert value(text, "pumpstream_rate_changes_total", product="octagam-10") == 2
    # pt-reacts-01 reports 6/10 at 4 mg/kg/min; pt-early-pain-03 3/10 at 1 mg/kg/min.
    assert value(text, "pumpstream_back_pain_reports_total", band="4-6") == 1
    assert value(text, "pumpstream_back_pain_reports_total", band="1-2") == 1
    assert (
        value(text, "pumpstream_symptom_reports_total", symptom="back_pain", band="moderate") == 1
    )
    assert value(text, "pumpstream_symptom_reports_total", symptom="back_pain", band="mild") == 1
    assert value(text, "pumpstream_alerts_total", rule="R1", phase="start") == 1
    assert value(text, "pumpstream_event_to_alert_seconds_count", rule="R1") == 1
    assert value(text, "pumpstream_events_out_total", topic="alerts") >= 1
    assert value(text, "pumpstream_processing_seconds_count", stage="clinical") > 0


def _keys(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return set(samples(text))


async def test_labels_stay_bounded_while_the_simulator_runs_a_faulty_infusion_day(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    """The infusion-centre simulator (24 chairs, malformed and out-of-range messages, duplicates,
    late events) through a worker: every label value stays on the allow-list and no patient
    reference of the day appears, scraped while it runs and after."""
    from simulators.recording import read_recording
    from simulators.replay import replay
    from simulators.scenario import FaultSpec, load_scenario
    from simulators.simulated_day import simulate_day

    scenario = load_scenario("infusion-day")
    faulty = scenario.model_copy(
        update={"faults": FaultSpec(malformed=0.02, out_of_range=0.02, duplicates=0.02, late=0.02)}
    )
    simulate_day(faulty, seed=11, out_dir=tmp_path / "day", hl7=False)
    refs = {e.key.decode() for e in read_recording(tmp_path / "day") if e.key}
    assert len(refs) >= 20

    port = free_port()
    start_worker(PUMPSTREAM_METRICS_PORT=str(port))
    snapshots: list[str] = []

    async def scrape_while_running() -> None:
        while True:
            snapshots.append(await asyncio.to_thread(scrape, port))
            await asyncio.sleep(0.5)

    scraper = asyncio.create_task(scrape_while_running())
    await replay(topics, tmp_path / "day", speed=0)
    text = await _scrape_when(
        port, lambda t: value(t, "pumpstream_events_in_total", topic="vitals.raw") > 500
    )
    scraper.cancel()
    snapshots.append(text)
    allowed = allowed_label_values(WardLabels())
    for snapshot in snapshots:
        assert label_violations(snapshot, allowed, forbidden=sorted(refs)) == []
    assert value(text, "pumpstream_dead_letters_total") > 0, "the faults reached the DLQ"


async def test_readiness_follows_the_worker_and_its_broker(
    broker: EmbeddedBroker, topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    """/readyz: 200 once the worker holds its partitions, 503 when its broker is gone; /healthz
    stays 200 (the process is alive and a supervisor should not kill it for the broker)."""
    port = free_port()
    start_worker(PUMPSTREAM_METRICS_PORT=str(port), PUMPSTREAM_METRICS_LAG_INTERVAL_S="0.5")
    assert await _status_when(port, "/readyz", 200) == 200
    broker.stop()
    assert await _status_when(port, "/readyz", 503) == 503
    assert _status(port, "/healthz") == 200


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def _status_when(port: int, path: str, wanted: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    status = _status(port, path)
    while status != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        status = _status(port, path)
    return status
