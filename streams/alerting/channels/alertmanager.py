"""Prometheus Alertmanager v2 API channel.

Labels are only ``ward``, ``rule``, ``priority`` and ``type`` (bounded, no PHI: DOMAIN.md §5),
so Alertmanager sees one alert per (ward, rule, priority, type) that has unacknowledged
episodes; the episodes' ids and titles travel as annotations. Like Prometheus, the channel
re-sends the firing alerts every ``resend_interval_s`` with ``endsAt`` four intervals ahead and
resolves a label set (``endsAt`` = now) once its last episode is acknowledged or ended. Every
worker may send the same alerts: Alertmanager merges identical label sets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from mode import Service

from schemas.notifications import NotificationKind
from streams.alerting.board import BoardEntry, EpisodeBoard
from streams.alerting.channel_config import AlertmanagerChannel
from streams.alerting.channels.delivery import (
    DeliveryOutcome,
    DeliveryRejected,
    TransientDeliveryError,
    deliver_with_retries,
)
from streams.alerting.observer import record_page
from streams.metrics.families import AlertingMetrics

log = logging.getLogger(__name__)

LabelSet = tuple[tuple[str, str], ...]
#: The only labels pumpstream gives Alertmanager.
LABEL_NAMES = ("ward", "rule", "priority", "type")


def label_set(entry: BoardEntry, ward: str) -> LabelSet:
    alert = entry.latest.alert
    return (
        ("ward", ward),
        ("rule", alert.rule),
        ("priority", alert.priority.value),
        ("type", alert.type.value),
    )


def alertmanager_alerts(
    firing: dict[LabelSet, list[BoardEntry]],
    resolved: set[LabelSet],
    now: datetime,
    resend_interval_s: float,
    generator_url: str | None,
) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts``: firing label sets, then resolved ones."""
    ends = (now + timedelta(seconds=4 * resend_interval_s)).isoformat()
    body: list[dict[str, Any]] = []
    for labels, entries in sorted(firing.items()):
        titles = [e.latest.alert.title for e in entries]
        item: dict[str, Any] = {
            "labels": dict(labels),
            "annotations": {
                "summary": f"{len(entries)} unacknowledged alert(s): {titles[0]}",
                "titles": "\n".join(titles),
                "alert_ids": ",".join(e.latest.alert.alert_id for e in entries),
                "escalation_step": str(max(e.latest.step for e in entries)),
            },
            "startsAt": min(e.started.produced_at for e in entries).isoformat(),
            "endsAt": ends,
        }
        if generator_url:
            item["generatorURL"] = generator_url
        body.append(item)
    for labels in sorted(resolved):
        body.append({"labels": dict(labels), "annotations": {}, "endsAt": now.isoformat()})
    return body


class AlertmanagerSync(Service):
    """Keeps Alertmanager's view equal to the board's unacknowledged episodes."""

    def __init__(
        self,
        name: str,
        config: AlertmanagerChannel,
        board: EpisodeBoard,
        ward_of: Callable[[BoardEntry], str | None],
        metrics: AlertingMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channel_name = name
        self.config = config
        self.board = board
        #: The roster ward of an entry when this channel carries it, else None.
        self.ward_of = ward_of
        self.metrics = metrics
        self.clock = clock
        self._firing: set[LabelSet] = set()
        self._paged: set[str] = set()
        self._session: aiohttp.ClientSession | None = None

    async def on_start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def on_stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def sync_once(self) -> DeliveryOutcome:
        now = self.clock()
        firing: dict[LabelSet, list[BoardEntry]] = {}
        for entry in self.board.entries(now):
            ward = self.ward_of(entry)
            if ward is None or _answered(entry):
                continue
            firing.setdefault(label_set(entry, ward), []).append(entry)
        resolved = self._firing - firing.keys()
        url = str(self.config.nurse_station_url) if self.config.nurse_station_url else None
        body = alertmanager_alerts(firing, resolved, now, self.config.resend_interval_s, url)
        if not body:
            return DeliveryOutcome.DELIVERED
        outcome = await deliver_with_retries(
            self.channel_name,
            self.config,
            lambda: self._post(body),
            self.metrics,
            what=f"{len(firing)} firing / {len(resolved)} resolved label set(s)",
        )
        if outcome is DeliveryOutcome.DELIVERED:
            self._firing = set(firing)
            self._record_pages(firing)
        return outcome

    def _record_pages(self, delivered: dict[LabelSet, list[BoardEntry]]) -> None:
        """An episode is paged here when it first reaches Alertmanager. Only delivered pages
        count: the channel re-sends its whole view until one gets through, so it never gives a
        page up (failed syncs are ``page_delivery_attempts_total{result="error"}``). Episodes
        read before the board caught up were paged before this worker started: not counted."""
        delivered_at = self.clock()
        for entries in delivered.values():
            for entry in entries:
                alert_id = entry.latest.alert.alert_id
                if alert_id in self._paged:
                    continue
                self._paged.add(alert_id)
                if entry.live:
                    record_page(
                        self.metrics,
                        self.channel_name,
                        self.config.type,
                        entry.latest.alert.priority,
                        NotificationKind.START,
                        DeliveryOutcome.DELIVERED,
                        (delivered_at - entry.started.triggered_at).total_seconds(),
                    )

    async def _post(self, body: list[dict[str, Any]]) -> None:
        assert self._session is not None
        url = str(self.config.url).rstrip("/") + "/api/v2/alerts"
        try:
            async with self._session.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)
            ) as response:
                if response.status == 200:
                    return
                text = (await response.text())[:200]
                reason = f"HTTP {response.status} from {url}: {text}"
                if response.status >= 500 or response.status == 429:
                    raise TransientDeliveryError(reason)
                raise DeliveryRejected(reason)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc

    @Service.task
    async def _sync_forever(self) -> None:
        version = -1
        last_sent = 0.0
        loop = asyncio.get_running_loop()
        while not self.should_stop:
            wait_s = max(0.0, last_sent + self.config.resend_interval_s - loop.time())
            new_version = await self.board.wait_changed(version, timeout_s=wait_s)
            if not self.board.caught_up:
                await asyncio.sleep(0.1)
                continue
            if new_version != version or loop.time() - last_sent >= self.config.resend_interval_s:
                version = new_version
                await self.sync_once()
                last_sent = loop.time()


def _answered(entry: BoardEntry) -> bool:
    ack = entry.latest.ack
    return ack is not None and ack.response.stops_escalation
