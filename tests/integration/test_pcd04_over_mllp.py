"""HL7 PCD-04 (ORU^R40) over MLLP from a worker to an alert manager peer that ACKs each message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from schemas.alerts import AlertPhase
from schemas.topics import ALERTS
from streams.cli.local.embedded_broker import free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.metrics.labels import WardLabels, allowed_label_values
from tests.support.alerting import MllpPeer, live_alert, wait_for, write_roster
from tests.support.kafka_client import produce
from tests.support.metrics_scrape import label_violations, value

pytestmark = pytest.mark.integration


def _env(tmp_path: Path, peer_port: int, high_s: float) -> dict[str, str]:
    channel = f"""
[channels.acm]
type = "hl7-mllp"
host = "127.0.0.1"
port = {peer_port}
backoff_initial_s = 0.2
backoff_max_s = 1
timeout_s = 2
"""
    roster = write_roster(tmp_path / "roster.toml", high=high_s, channels=["acm"], extra=channel)
    return {
        "PUMPSTREAM_ALERTING_CONFIG": str(roster),
        "PUMPSTREAM_NURSE_STATION_PORT": "0",
        "PUMPSTREAM_ALERTING_TICK_S": "0.5",
    }


async def test_peer_receives_start_escalate_and_end_of_one_episode(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    peer = await MllpPeer(free_port()).start()
    metrics_port = free_port()
    try:
        start_worker(
            **_env(tmp_path, peer.port, high_s=2), PUMPSTREAM_METRICS_PORT=str(metrics_port)
        )
        alert = live_alert("episode-1")
        await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"pt-1")
        await wait_for(lambda: len(peer.received) >= 2, 30, "start and escalate at the peer")

        ended = live_alert("episode-1", phase=AlertPhase.END)
        await produce(topics, ALERTS.name, ended.model_dump_json().encode(), b"pt-1")
        await wait_for(lambda: len(peer.received) >= 3, 30, "the end at the peer")

        assert peer.phases() == ["start", "escalate", "end"]
        assert len(set(peer.control_ids())) == 3
        placer_ids = {m.split("\r")[3].split("|")[2] for m in peer.received}
        assert placer_ids == {"episode-1^PUMPSTREAM"}, "one alert id across the phases"

        text = await _scrape(metrics_port)
        pages = {"channel": "acm", "channel_type": "hl7-mllp", "priority": "high"}
        assert value(text, "pumpstream_page_deliveries_total", **pages, outcome="delivered") == 3
        assert value(text, "pumpstream_page_deliveries_total", outcome="failed") == 0
        for kind in ("start", "escalate", "end"):
            count = value(text, "pumpstream_event_to_page_seconds_count", channel="acm", kind=kind)
            assert count == 1, f"one latency observation for the {kind} page"
        assert (
            value(text, "pumpstream_page_delivery_attempts_total", channel="acm", result="ok") == 3
        )
        # Roster channel names are label values: the scrape stays on this roster's allow-list.
        allowed = allowed_label_values(WardLabels(), {"acm": "hl7-mllp"})
        assert label_violations(text, allowed, forbidden=("pt-",)) == []
    finally:
        await peer.stop()


async def test_peer_down_then_back_gets_each_message_once(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    port = free_port()
    worker = start_worker(**_env(tmp_path, port, high_s=0))  # no escalation: one message
    alert = live_alert("episode-2")
    await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"pt-2")

    log = worker.log_path
    await wait_for(
        lambda: log.read_text(errors="replace").count("acm: attempt") >= 2,
        30,
        "two failed attempts while the peer is down",
    )
    peer = await MllpPeer(port).start()
    try:
        await wait_for(lambda: len(peer.received) >= 1, 30, "the retried message at the peer")
        # Another alert after the first was delivered proves the channel moved on; the first
        # must not have been sent again meanwhile.
        second = live_alert("episode-3", patient="pt-2")
        await produce(topics, ALERTS.name, second.model_dump_json().encode(), b"pt-2")
        await wait_for(lambda: len(peer.received) >= 2, 30, "the next alert at the peer")
        assert peer.phases() == ["start", "start"]
        assert len(set(peer.control_ids())) == 2, "retried, not duplicated"
    finally:
        await peer.stop()


async def _scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        return await response.text()
