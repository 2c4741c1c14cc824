"""A worker killed (SIGKILL) after paging, before it committed what it read: the worker that
takes over reads those notifications again and must not page twice. The delivery record (table
``alert-deliveries``, changelogged) says they went out."""

from __future__ import annotations

import asyncio
import os
import signal
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

PAGES = 20


async def test_no_page_is_sent_twice_after_a_worker_is_killed(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    receiver = WebhookReceiver()
    try:
        roster = write_roster(
            tmp_path / "roster.toml",
            high=3600,  # no escalation during the test: only the start pages
            medium=3600,
            channels=["pager"],
            extra=f'[channels.pager]\ntype = "webhook"\nurl = "{receiver.url}/pages"\n',
        )
        env = {"PUMPSTREAM_ALERTING_CONFIG": str(roster), "PUMPSTREAM_NURSE_STATION_PORT": "0"}
        # Nothing is committed before the kill: the next worker reads everything again.
        killed = start_worker("worker-a", PUMPSTREAM_COMMIT_INTERVAL_S="3600", **env)
        producer = topics.producer(acks="all")
        try:
            await producer.start()
            for n in range(PAGES):
                alert = make_alert(f"alert-{n}", patient=f"pt-{n}", priority=AlertPriority.HIGH)
                await producer.send_and_wait(
                    ALERTS.name,
                    key=alert.patient_ref.encode(),
                    value=alert.model_dump_json().encode(),
                )
        finally:
            await producer.stop()
        assert await until(lambda: len(receiver.received) >= PAGES, 60)
        await asyncio.sleep(1.5)  # the delivery record's changelog records are flushed
        assert killed.pid is not None
        os.kill(killed.pid, signal.SIGKILL)
        killed.stop()

        metrics_port = free_port()
        takeover = start_worker("worker-b", PUMPSTREAM_METRICS_PORT=str(metrics_port), **env)

        def suppressed() -> float:
            text = scrape(metrics_port)
            return value(text, "pumpstream_duplicate_pages_suppressed_total", channel="pager")

        # The takeover reads every uncommitted notification again: each is either suppressed or
        # paged a second time. (Group lag is no witness after a SIGKILL on Tansu: a committed
        # offset can stay behind for minutes; tests/chaos/test_worker_failover.py.)
        def all_read_again() -> bool:
            return suppressed() + len(receiver.received) - PAGES >= PAGES

        read_again = await until(all_read_again, 120)
        await asyncio.sleep(2)  # anything still on its way arrives

        keys = [headers["Idempotency-Key"] for _, _, headers in receiver.received]
        assert len(keys) == PAGES, f"{len(keys) - len(set(keys))} duplicate page(s)"
        assert len(set(keys)) == PAGES
        # The takeover did read the notifications again (else this test proves nothing).
        log = takeover.log_path.read_text(errors="replace")[-3000:]
        assert read_again, f"the takeover did not read every notification again:\n{log}"
        # At least once each: a rebalance before the takeover's first commit (the killed
        # worker's membership expiring) makes it read the never-committed partitions from their
        # start once more (docs/reliability.md, "Stopping"), and the record suppresses them again.
        assert suppressed() >= PAGES
    finally:
        receiver.close()
