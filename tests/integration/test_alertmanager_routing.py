"""Debian's real Alertmanager receives pumpstream's alerts and routes the high-priority one to a
webhook receiver; an acknowledgement resolves it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from schemas.alerts import AckResponse, AlertAck, AlertPriority
from schemas.topics import ALERT_ACKS, ALERTS
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from tests.support.alerting import live_alert, wait_for, write_roster
from tests.support.alertmanager_process import LocalAlertmanager
from tests.support.kafka_client import produce
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

AMTOOL = shutil.which("amtool")

AM_CONFIG = """
route:
  receiver: "null"
  group_by: [ward, rule, priority, type]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['priority="high"']
      receiver: charge-nurse-pager
receivers:
  - name: "null"
  - name: charge-nurse-pager
    webhook_configs:
      - url: http://127.0.0.1:{webhook_port}/alertmanager
        send_resolved: true
"""


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: WebhookReceiver) -> Iterator[str]:
    """Debian's Alertmanager on a free loopback port, with a throwaway data directory."""
    assert AMTOOL, "run scripts/install-system-deps.sh (prometheus-alertmanager)"
    config = yaml.safe_load(AM_CONFIG.format(webhook_port=webhook.port))
    with LocalAlertmanager(config, tmp_path / "alertmanager") as running:
        check = [AMTOOL, "check-config", str(running.config_path)]
        subprocess.run(check, check=True, capture_output=True)
        yield f"http://{running.address}"


async def _am_alerts(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/v2/alerts") as r:
        result: list[dict[str, Any]] = await r.json()
        return result


async def test_high_priority_alert_is_routed_to_the_webhook_and_resolved_by_an_ack(
    topics: KafkaConnection,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
    alertmanager: str,
    webhook: WebhookReceiver,
) -> None:
    channel = f"""
[channels.alertmanager]
type = "alertmanager"
url = "{alertmanager}"
resend_interval_s = 30
"""
    roster = write_roster(tmp_path / "roster.toml", channels=["alertmanager"], extra=channel)
    start_worker(
        PUMPSTREAM_ALERTING_CONFIG=str(roster),
        PUMPSTREAM_NURSE_STATION_PORT="0",
    )
    high = live_alert("episode-high", patient="pt-h")
    low = live_alert("episode-low", patient="pt-l", priority=AlertPriority.LOW, pain=2)
    for alert in (low, high):
        await produce(
            topics, ALERTS.name, alert.model_dump_json().encode(), alert.patient_ref.encode()
        )

    await wait_for(lambda: len(webhook.received) >= 1, 30, "the high-priority page at the webhook")
    in_am: list[dict[str, Any]] = []

    async def both_in_alertmanager() -> None:
        for _ in range(100):
            in_am[:] = await _am_alerts(alertmanager)
            if len(in_am) == 2:
                return
            await asyncio.sleep(0.1)

    await both_in_alertmanager()
    assert sorted(a["labels"]["priority"] for a in in_am) == ["high", "low"]
    for alert in in_am:
        assert set(alert["labels"]) == {"ward", "rule", "priority", "type"}, "no PHI labels"
        assert "pt-" not in str(alert["labels"])

    path, body, _headers = webhook.received[0]
    assert path == "/alertmanager"
    assert body["status"] == "firing"
    assert body["receiver"] == "charge-nurse-pager"
    assert [a["labels"] for a in body["alerts"]] == [
        {"ward": "infusion-centre", "rule": "R1", "priority": "high", "type": "physiological"}
    ]
    assert body["alerts"][0]["annotations"]["alert_ids"] == "episode-high"

    ack = AlertAck(
        event_id="ack-h",
        alert_id="episode-high",
        patient_ref="pt-h",
        response=AckResponse.TRUE_POSITIVE,
        event_time=high.event_time,
    )
    await produce(topics, ALERT_ACKS.name, ack.model_dump_json().encode(), b"pt-h")
    await wait_for(
        lambda: any(b["status"] == "resolved" for _, b, _ in webhook.received),
        30,
        "the acknowledged alert resolved at the webhook",
    )
    assert all(
        a["labels"]["priority"] == "high" for _, b, _ in webhook.received for a in b["alerts"]
    ), "the low-priority alert is never routed to the pager"
