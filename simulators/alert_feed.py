"""Read the ``alerts`` topic: all of it (evaluate) or as it grows (the simulated nurse)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from pydantic import ValidationError

from schemas.alerts import Alert
from schemas.notifications import AlertNotification
from schemas.topics import ALERT_NOTIFICATIONS, ALERTS
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import TopicReader, read_topic

log = logging.getLogger(__name__)


def _parse(value: bytes | None) -> Alert | None:
    try:
        return Alert.model_validate_json(value or b"")
    except ValidationError as exc:
        log.warning("skipped an alert that does not follow the contract (%d errors)",
                    exc.error_count())  # fmt: skip
        return None


async def read_all_alerts(kafka: KafkaConnection, *, timeout_s: float = 30.0) -> list[Alert]:
    """Every alert on the topic now, from the beginning to the current (true) end."""
    records = await read_topic(kafka, ALERTS.name, timeout_s=timeout_s)
    return [a for r in records if (a := _parse(r.value)) is not None]


async def read_all_notifications(
    kafka: KafkaConnection, *, timeout_s: float = 30.0
) -> list[AlertNotification]:
    """Every notification of the alerting stage (empty when it did not run)."""
    records = await read_topic(kafka, ALERT_NOTIFICATIONS.name, timeout_s=timeout_s)
    notifications = []
    for record in records:
        try:
            notifications.append(AlertNotification.model_validate_json(record.value or b""))
        except ValidationError as exc:
            log.warning("skipped an unreadable notification (%d errors)", exc.error_count())
    return notifications


async def follow_alerts(
    kafka: KafkaConnection, *, from_end: bool = True
) -> AsyncGenerator[list[Alert], None]:
    """Batches of new alerts (possibly empty, every ~100 ms) until the caller stops iterating."""
    async with TopicReader(kafka, ALERTS.name, start="end" if from_end else "beginning") as reader:
        async for records in reader.follow(timeout_ms=100):
            yield [a for r in records if (a := _parse(r.value)) is not None]
