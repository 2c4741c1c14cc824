"""One delivery with retries and exponential backoff (tenacity), each attempt counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from streams.alerting.channel_config import ChannelConfig
from streams.metrics.families import AlertingMetrics

log = logging.getLogger(__name__)


class TransientDeliveryError(Exception):
    """The peer is down, slow, or answered "try again": retry with backoff."""


class DeliveryRejected(Exception):
    """The peer refused the message for good (HTTP 4xx, HL7 application reject): no retry."""


class DeliveryInterrupted(Exception):
    """The worker is stopping: the delivery was given up before it succeeded, so the
    notification must not be acknowledged (the next worker reads it again and delivers it)."""


class DeliveryOutcome(StrEnum):
    """A page's final outcome on a channel (the ``outcome`` label: ``DELIVERY_OUTCOMES``)."""

    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"


async def deliver_with_retries(
    channel_name: str,
    config: ChannelConfig,
    attempt: Callable[[], Awaitable[None]],
    metrics: AlertingMetrics,
    *,
    what: str,
    stopping: Callable[[], bool] = lambda: False,
) -> DeliveryOutcome:
    """Run ``attempt`` until it succeeds, is rejected, or the channel's retry budget is spent;
    count every attempt. The caller records the page's outcome (``observer.record_page``).
    Once ``stopping()`` (the worker was told to stop) no further attempt is made and the wait
    between attempts ends: :class:`DeliveryInterrupted` is raised instead of waiting out the
    retry budget, which held a stopping worker for minutes per queued notification.

    ``what`` names the notification in logs (ids only, never patient data).
    """

    async def _sleep(seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        # Polled: the worker's stop is Faust's ``should_stop`` property, no event to await.
        while not stopping() and (left := deadline - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, 0.25))

    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: attempt %d for %s failed (%s); retrying",
            channel_name,
            state.attempt_number,
            what,
            error,
        )

    retrying = AsyncRetrying(
        stop=stop_after_delay(config.retry_budget_s),
        # Exponential backoff with jitter, so that workers retrying one peer spread out.
        wait=wait_exponential(multiplier=config.backoff_initial_s, max=config.backoff_max_s)
        + wait_random(0, config.backoff_initial_s),
        retry=retry_if_exception_type(TransientDeliveryError),
        before_sleep=_log_retry,
        sleep=_sleep,
        reraise=True,
    )
    try:
        async for try_ in retrying:
            with try_:
                if stopping():
                    raise DeliveryInterrupted(f"{channel_name}: stopping before {what}")
                try:
                    await attempt()
                except (TransientDeliveryError, DeliveryRejected):
                    metrics.delivery_attempts.labels(channel_name, "error").inc()
                    raise
                metrics.delivery_attempts.labels(channel_name, "ok").inc()
    except TransientDeliveryError as exc:
        log.error(
            "%s: giving up on %s after %.0f s: %s", channel_name, what, config.retry_budget_s, exc
        )
        outcome = DeliveryOutcome.FAILED
    except DeliveryRejected as exc:
        log.error("%s: %s rejected by the peer: %s", channel_name, what, exc)
        outcome = DeliveryOutcome.REJECTED
    else:
        outcome = DeliveryOutcome.DELIVERED
    return outcome
