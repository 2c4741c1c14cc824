"""The webhook channel against a real local HTTP server: retries with backoff on 5xx and refused
connections, one idempotency key per notification, no retry on a 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.alerting.channel_config import WebhookChannel
from streams.alerting.channels.delivery import (
    DeliveryInterrupted,
    DeliveryOutcome,
    deliver_with_retries,
)
from streams.alerting.channels.webhook import IDEMPOTENCY_HEADER, post_notification
from streams.alerting.lifecycle import on_alert
from streams.alerting.roster import parse_roster
from streams.cli.local.embedded_broker import free_port
from streams.metrics.families import AlertingMetrics, WorkerMetrics
from tests.support.alerting import T0, make_alert, roster_toml

pytestmark = pytest.mark.integration

NOTIFICATION = on_alert(None, make_alert(), parse_roster(roster_toml()), T0, 0).notifications[0]


class FlakyReceiver:
    """Answers the first ``failures`` POSTs with ``status``, then 200."""

    def __init__(self, failures: int, status: int) -> None:
        self.failures = failures
        self.status = status
        self.keys: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers[IDEMPOTENCY_HEADER])
        await request.json()
        if len(self.keys) <= self.failures:
            return web.Response(status=self.status)
        return web.Response(text="ok")


async def _serve(receiver: FlakyReceiver, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/pages", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def _channel(port: int) -> WebhookChannel:
    return WebhookChannel.model_validate(
        {
            "type": "webhook",
            "url": f"http://127.0.0.1:{port}/pages",
            "retry_budget_s": 5,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.2,
            "timeout_s": 2,
        }
    )


def _metrics() -> AlertingMetrics:
    return WorkerMetrics(CollectorRegistry(), channel_types={"pager": "webhook"}).alerting


def _attempts(metrics: AlertingMetrics, result: str) -> float:
    return metrics.delivery_attempts.labels("pager", result)._value.get()


@pytest.mark.parametrize(
    ("failures", "status", "outcome", "attempts"),
    [
        pytest.param(2, 503, DeliveryOutcome.DELIVERED, 3, id="503-twice-then-delivered"),
        pytest.param(1, 429, DeliveryOutcome.DELIVERED, 2, id="rate-limited-then-delivered"),
        pytest.param(1, 400, DeliveryOutcome.REJECTED, 1, id="400-rejected-without-retry"),
    ],
)
async def test_webhook_retries_only_what_may_succeed(
    session: aiohttp.ClientSession,
    failures: int,
    status: int,
    outcome: DeliveryOutcome,
    attempts: int,
) -> None:
    port = free_port()
    receiver = FlakyReceiver(failures, status)
    runner = await _serve(receiver, port)
    metrics = _metrics()
    try:
        result = await deliver_with_retries(
            "pager",
            _channel(port),
            lambda: post_notification(session, _channel(port), NOTIFICATION),
            metrics,
            what="test page",
        )
    finally:
        await runner.cleanup()
    assert result is outcome
    assert receiver.keys == [NOTIFICATION.notification_id] * attempts, "one key for every retry"
    assert _attempts(metrics, "ok") == (1 if outcome is DeliveryOutcome.DELIVERED else 0)
    assert _attempts(metrics, "error") == failures


async def test_webhook_down_until_the_budget_is_spent_counts_as_failed(
    session: aiohttp.ClientSession,
) -> None:
    port = free_port()  # nothing listens here
    channel = _channel(port).model_copy(update={"retry_budget_s": 0.5})
    metrics = _metrics()
    result = await deliver_with_retries(
        "pager",
        channel,
        lambda: post_notification(session, channel, NOTIFICATION),
        metrics,
        what="test page",
    )
    assert result is DeliveryOutcome.FAILED
    assert _attempts(metrics, "error") >= 2
    assert _attempts(metrics, "ok") == 0


async def test_a_stopping_worker_gives_a_retrying_delivery_up_at_once(
    session: aiohttp.ClientSession,
) -> None:
    """Told to stop while the peer is down, the delivery makes no further attempt and stops
    waiting: it raises instead of waiting out its budget (an hour here), and is not counted as
    failed (the caller leaves the notification to the next worker)."""
    port = free_port()  # nothing listens here
    channel = _channel(port).model_copy(update={"retry_budget_s": 3600.0})
    metrics = _metrics()
    stop = asyncio.Event()

    async def attempt() -> None:
        try:
            await post_notification(session, channel, NOTIFICATION)
        finally:
            stop.set()  # the worker is told to stop during the first attempt

    with pytest.raises(DeliveryInterrupted):
        await asyncio.wait_for(
            deliver_with_retries(
                "pager", channel, attempt, metrics, what="test page", stopping=stop.is_set
            ),
            timeout=60,
        )
    assert _attempts(metrics, "error") == 1
    assert _attempts(metrics, "ok") == 0
