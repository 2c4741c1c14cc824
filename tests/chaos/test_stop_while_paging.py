"""A worker told to stop (SIGTERM) while a page is retrying an unreachable channel stops at once
and cleanly; the page is not lost: the next worker reads the notification again and delivers it
once the channel is back. (Faust's default, waiting for every fetched message to be processed,
held such a worker for the whole retry budget of each message: minutes.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.alerts import AlertPriority
from schemas.topics import ALERTS
from streams.cli.local.embedded_broker import free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from tests.support.alerting import make_alert, write_roster
from tests.support.metrics_scrape import scrape, value
from tests.support.waiting import until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


async def test_a_worker_stops_at_once_while_a_page_retries_and_the_next_one_delivers_it(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    pager_port = free_port()  # nothing listens here until the second worker runs
    roster = write_roster(
        tmp_path / "roster.toml",
        high=3600,
        medium=3600,
        channels=["pager"],
        extra=(
            f'[channels.pager]\ntype = "webhook"\nurl = "http://127.0.0.1:{pager_port}/pages"\n'
            "retry_budget_s = 600\n"
        ),
    )
    env = {"PUMPSTREAM_ALERTING_CONFIG": str(roster), "PUMPSTREAM_NURSE_STATION_PORT": "0"}
    metrics_port = free_port()
    first = start_worker("worker-a", PUMPSTREAM_METRICS_PORT=str(metrics_port), **env)
    producer = topics.producer(acks="all")
    await producer.start()
    try:
        alert = make_alert("alert-stop", patient="pt-stop", priority=AlertPriority.HIGH)
        await producer.send_and_wait(
            ALERTS.name, key=alert.patient_ref.encode(), value=alert.model_dump_json().encode()
        )
    finally:
        await producer.stop()

    def failed_attempts() -> float:
        text = scrape(metrics_port)
        return value(
            text, "pumpstream_page_delivery_attempts_total", channel="pager", result="error"
        )

    assert await until(lambda: failed_attempts() >= 1, 60), "the page never tried the pager"
    # Within the worker's stop grace (15 s), with a clean exit code: not killed.
    assert await asyncio.to_thread(first.stop) == 0

    receiver = WebhookReceiver(port=pager_port)
    try:
        start_worker("worker-b", **env)
        assert await until(lambda: len(receiver.received) >= 1, 90), "the page was lost"
        await asyncio.sleep(2)  # anything more on its way arrives
        keys = [headers["Idempotency-Key"] for _, _, headers in receiver.received]
        assert len(keys) == 1, keys
    finally:
        receiver.close()
