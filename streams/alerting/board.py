"""The episode board: every open alert episode, as the ``alerts.notifications`` topic tells it.

A projection of the topic (all partitions, no consumer group), so each worker's nurse station
and Alertmanager channel see every ward's episodes, whichever worker owns them, and a restarted
worker rebuilds the board by re-reading the topic (from the roster's retention window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mode import Service
from pydantic import ValidationError

from schemas.alerts import AlertPriority
from schemas.notifications import AlertNotification, NotificationKind
from schemas.topics import ALERT_NOTIFICATIONS
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import TopicReader

log = logging.getLogger(__name__)

_PRIORITY_RANK = {AlertPriority.HIGH: 0, AlertPriority.MEDIUM: 1, AlertPriority.LOW: 2}
#: Closed pages kept for the nurse station's history (most recent first), over every ward.
HISTORY_KEPT = 500


@dataclass(frozen=True, slots=True)
class BoardEntry:
    latest: AlertNotification
    #: When the episode's start was triggered (page latency is measured from here).
    started: AlertNotification
    #: Read after the board caught up with the topic: a new page, not history.
    live: bool


class EpisodeBoard:
    """Open episodes by ``alert_id``; ``version`` grows on every change."""

    def __init__(self, ward_of: Callable[[AlertNotification], str], retention_s: float) -> None:
        self._ward_of = ward_of
        self._retention = timedelta(seconds=retention_s)
        self._entries: dict[str, BoardEntry] = {}
        #: Closed pages, oldest first: the end notification, with the page's last answer.
        self._closed: dict[str, BoardEntry] = {}
        self.version = 0
        self.caught_up = False
        self._changed = asyncio.Event()

    def apply(self, notification: AlertNotification) -> None:
        alert_id = notification.alert.alert_id
        if notification.kind is NotificationKind.END:
            previous = self._entries.pop(alert_id, None)
            if notification.ack is None and previous is not None and previous.latest.ack:
                notification = notification.model_copy(update={"ack": previous.latest.ack})
            self._closed.pop(alert_id, None)
            self._closed[alert_id] = BoardEntry(
                latest=notification,
                started=previous.started if previous else notification,
                live=previous.live if previous else self.caught_up,
            )
            while len(self._closed) > HISTORY_KEPT:
                del self._closed[next(iter(self._closed))]
        else:
            self._closed.pop(alert_id, None)  # a page opened again (issue 12)
            previous = self._entries.get(alert_id)
            if previous is not None and notification.produced_at < previous.latest.produced_at:
                return  # a re-emitted older transition
            self._entries[alert_id] = BoardEntry(
                latest=notification,
                started=previous.started if previous else notification,
                live=previous.live if previous else self.caught_up,
            )
        self._bump()

    def mark_caught_up(self) -> None:
        self.caught_up = True
        self._bump()

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def entries(self, now: datetime, ward: str | None = None) -> list[BoardEntry]:
        """Open episodes (of ``ward``), high priority first, then oldest first."""
        cutoff = now - self._retention
        chosen = [
            entry
            for entry in self._entries.values()
            if entry.latest.produced_at >= cutoff
            and (ward is None or self._ward_of(entry.latest) == ward)
        ]
        return sorted(
            chosen,
            key=lambda e: (_PRIORITY_RANK[e.latest.alert.priority], e.started.produced_at),
        )

    def history(self, now: datetime, ward: str | None = None) -> list[BoardEntry]:
        """Closed pages (of ``ward``) within the retention, most recently closed first."""
        cutoff = now - self._retention
        return [
            entry
            for entry in reversed(self._closed.values())
            if entry.latest.produced_at >= cutoff
            and (ward is None or self._ward_of(entry.latest) == ward)
        ]

    def find(self, alert_id: str) -> AlertNotification | None:
        entry = self._entries.get(alert_id)
        return entry.latest if entry else None

    async def wait_changed(self, after_version: int, timeout_s: float) -> int:
        """Return the version once it passes ``after_version``, or after ``timeout_s``."""
        if self.version <= after_version:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout_s)
        return self.version


class BoardFeed(Service):
    """Reads ``alerts.notifications`` into an :class:`EpisodeBoard`."""

    def __init__(self, kafka: KafkaConnection, board: EpisodeBoard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kafka = kafka
        self.board = board
        self._reader: TopicReader | None = None

    async def on_start(self) -> None:
        reader = TopicReader(
            self.kafka,
            ALERT_NOTIFICATIONS.name,
            start=datetime.now(UTC) - self.board._retention,
            # A broker may hold a fetch for the whole wait even when data arrives (Tansu does;
            # docs/alerting.md): keep the page's delay short.
            fetch_max_wait_ms=200,
        )
        await reader.open()
        self._reader = reader
        self._end_offsets = await reader.true_end()

    async def on_stop(self) -> None:
        if self._reader is not None:
            await self._reader.close()

    @Service.task
    async def _read(self) -> None:
        reader = self._reader
        assert reader is not None
        while not self.should_stop:
            for record in await reader.read(timeout_ms=200):
                try:
                    notification = AlertNotification.model_validate_json(record.value or b"")
                except ValidationError as exc:
                    log.error(
                        "unreadable notification %s[%s]@%s (%d errors); skipped",
                        record.topic,
                        record.partition,
                        record.offset,
                        exc.error_count(),
                    )
                    continue
                self.board.apply(notification)
            if not self.board.caught_up and await reader.has_reached(self._end_offsets):
                self.board.mark_caught_up()
