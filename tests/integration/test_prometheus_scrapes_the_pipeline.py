"""The pipeline on the embedded broker fed by the demo's infusions, paging a webhook channel of
its on-call roster, scraped by Debian's Prometheus on loopback with the project's rules: every
dashboard panel's query returns data, and stopping the worker fires PumpstreamWorkerDown, which
Alertmanager routes to the operators."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from streams.cli.local.embedded_broker import free_port
from streams.cli.local.prometheus import LocalPrometheus, scrape_config
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from tests.support.alerting import write_roster
from tests.support.alertmanager_process import (
    alertmanager_test_config,
    running_alertmanager,
)
from tests.support.dashboard_queries import ROOT, panel_queries, with_variables
from tests.support.metrics_scrape import play_demo_script
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

RULES = ROOT / "deploy" / "prometheus" / "rules"
T = TypeVar("T")


def fast_alert_rules(tmp_path: Path) -> Path:
    """deploy's alert rules with every ``for`` shortened to 1 s (same expressions)."""
    rules = yaml.safe_load((RULES / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "1s"
    path = tmp_path / "alerts-fast.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


async def eventually(probe: Callable[[], T], ok: Callable[[T], bool], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not ok(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        value = probe()
    return value


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


async def test_dashboards_have_data_and_a_stopped_worker_pages_operators(
    topics: KafkaConnection,
    start_worker: Callable[..., WorkerProcess],
    webhook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    port = free_port()
    pages = WebhookReceiver()
    # A roster channel, so the per-channel page panels have series (and the demo's alert a page).
    pager = f'[channels.pager]\ntype = "webhook"\nurl = "http://127.0.0.1:{pages.port}/pages"\n'
    roster = write_roster(tmp_path / "roster.toml", channels=["pager"], extra=pager)
    try:
        worker = start_worker(
            PUMPSTREAM_METRICS_PORT=str(port),
            PUMPSTREAM_METRICS_LAG_INTERVAL_S="1",
            PUMPSTREAM_ALERTING_CONFIG=str(roster),
            PUMPSTREAM_NURSE_STATION_PORT="0",
        )
        await _scrape_the_pipeline(topics, port, worker, webhook, tmp_path)
        assert [path for path, _, _ in pages.received], "the demo's alert was paged"
    finally:
        pages.close()


async def _scrape_the_pipeline(
    topics: KafkaConnection,
    port: int,
    worker: WorkerProcess,
    webhook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    am_config = alertmanager_test_config(ROOT / "deploy/alertmanager/alertmanager.yml", webhook.url)
    with running_alertmanager(am_config, tmp_path / "alertmanager") as alertmanager:
        config = scrape_config(
            [f"127.0.0.1:{port}"],
            scrape_interval_s=1,
            evaluation_interval_s=1,
            rule_files=[RULES / "recording.yml", fast_alert_rules(tmp_path)],
            alertmanagers=[alertmanager],
        )
        with LocalPrometheus(config, tmp_path / "prometheus") as prometheus:
            # Prometheus applies new targets on a 5 s tick: see the idle worker first, so the
            # counters' rise during the demo is in the data.
            up = 'up{job="pumpstream-worker"} == 1'
            assert await eventually(lambda: prometheus.query(up), bool, timeout_s=20)
            await play_demo_script(topics)
            await _every_panel_has_data(prometheus)
            await _stopping_the_worker_fires_worker_down(prometheus, worker, webhook)


async def _every_panel_has_data(prometheus: LocalPrometheus) -> None:
    queries = panel_queries()
    assert len(queries) >= 30

    def empty() -> list[tuple[str, str, str]]:
        return [q for q in queries if not prometheus.query(with_variables(q[2]))]

    missing = await eventually(empty, lambda left: not left, timeout_s=30)
    assert missing == [], "panels whose query returns no data"

    def positive(expr: str) -> list[dict[str, Any]]:
        return [r for r in prometheus.query(expr) if float(r["value"][1]) > 0]

    # Data, not only zeros, where the demo produced some.
    for expr in (
        'pumpstream:events_in:rate5m{topic="vitals.raw"}',
        'pumpstream:dead_letters:rate5m{topic="pump.events.raw"}',
        'pumpstream:back_pain_reports:increase1h{band="4-6"}',
        'pumpstream:alerts:increase1h{rule="R1"}',
        'pumpstream_page_deliveries_total{channel="pager", outcome="delivered"}',
        'up{job="pumpstream-worker"}',
    ):
        assert await eventually(lambda e=expr: positive(e), bool, timeout_s=15), (
            expr,
            prometheus.query(expr),
        )


async def _stopping_the_worker_fires_worker_down(
    prometheus: LocalPrometheus, worker: WorkerProcess, webhook: WebhookReceiver
) -> None:
    def worker_down() -> list[dict[str, Any]]:
        return [
            a
            for a in prometheus.firing_alerts()
            if a["labels"]["alertname"] == "PumpstreamWorkerDown"
        ]

    assert worker_down() == []
    worker.stop()

    firing = await eventually(worker_down, bool, timeout_s=30)
    assert firing, "PumpstreamWorkerDown did not fire"
    assert firing[0]["labels"]["team"] == "operators"

    def paged() -> list[tuple[str, dict[str, Any]]]:
        return [
            (path, body)
            for path, body, _ in webhook.received
            if body["commonLabels"].get("alertname") == "PumpstreamWorkerDown"
        ]

    delivered = await eventually(paged, bool, timeout_s=30)
    assert delivered, f"Alertmanager posted nothing for it; received {webhook.received}"
    path, body = delivered[0]
    assert path == "/operators-oncall", "critical pipeline alerts page the operators' on-call"
    assert body["status"] == "firing"
