"""Generic webhook: one JSON POST per notification, ``Idempotency-Key`` = the notification id, so
a receiver can drop the repeats that retries and at-least-once processing may cause."""

from __future__ import annotations

import aiohttp

from schemas.notifications import AlertNotification
from streams.alerting.channel_config import WebhookChannel
from streams.alerting.channels.delivery import DeliveryRejected, TransientDeliveryError

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Statuses worth retrying: timeouts, rate limits, server errors.
_RETRY_STATUSES = frozenset({408, 425, 429})


async def post_notification(
    session: aiohttp.ClientSession, config: WebhookChannel, notification: AlertNotification
) -> None:
    """POST once; raise :class:`TransientDeliveryError` or :class:`DeliveryRejected` on failure."""
    body = notification.model_dump_json().encode()
    try:
        async with session.post(
            str(config.url),
            data=body,
            headers={
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: notification.notification_id,
            },
            timeout=aiohttp.ClientTimeout(total=config.timeout_s),
        ) as response:
            if 200 <= response.status < 300:
                return
            reason = f"HTTP {response.status} from {config.url}"
            if response.status >= 500 or response.status in _RETRY_STATUSES:
                raise TransientDeliveryError(reason)
            raise DeliveryRejected(reason)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
