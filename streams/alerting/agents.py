"""The alerting stage in the Faust app: alert lifecycle, escalation timer, delivery channels,
episode board, Alertmanager sync and nurse station. ``register_alerting`` is the one hook
``create_app`` calls; it does nothing without an on-call roster (``PUMPSTREAM_ALERTING_CONFIG``,
read by the worker at start-up). It writes only the :class:`AlertingMetrics` it is handed.

Escalation timers survive restarts because they are data, not tasks: each episode's
``escalation_due_at`` lives in the ``alert-episodes`` table (changelog-backed). A worker timer
only notices that an episode on one of its partitions is due and sends a tick to that partition
of ``alerts.lifecycle.ticks``; the lifecycle agent, the only writer of the table, escalates it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import faust
from pydantic import ValidationError

from schemas.alerts import Alert, AlertAck
from schemas.notifications import AlertNotification, LifecycleTick
from schemas.topics import ALERT_ACKS, ALERT_NOTIFICATIONS, ALERT_TICKS, ALERTS, PROCESSING_DLQ
from streams.alerting.board import BoardEntry, BoardFeed, EpisodeBoard
from streams.alerting.channel_config import AlertmanagerChannel, MllpChannel, WebhookChannel
from streams.alerting.channels.alertmanager import AlertmanagerSync
from streams.alerting.channels.delivery import (
    DeliveryInterrupted,
    DeliveryOutcome,
    deliver_with_retries,
)
from streams.alerting.channels.pcd04 import deliver_pcd04
from streams.alerting.channels.webhook import post_notification
from streams.alerting.lifecycle import (
    PagingEpisode,
    Transition,
    is_due,
    on_ack,
    on_alert,
    on_tick,
)
from streams.alerting.nurse_station.api import NurseStation
from streams.alerting.observer import record_ignored, record_page, record_transition
from streams.alerting.page_grouping import (
    join_page,
    on_grouped_alert,
    page_holding,
    page_to_join,
    page_to_reopen,
    remember_page,
    reopen_page,
)
from streams.alerting.roster import Roster
from streams.exceptions import SettingsError
from streams.kafka.acking import handled
from streams.kafka.connection import KafkaConnection
from streams.kafka.dead_letters import DeadLetterSink, processing_failure
from streams.kafka.transport import raw_topic
from streams.metrics.families import AlertingMetrics
from streams.settings import Settings

log = logging.getLogger(__name__)

EPISODES_TABLE = "alert-episodes"
#: patient_ref -> JSON list of the patient's page ids (``alert-episodes`` keys), most recent last.
PAGES_TABLE = "alert-pages"
#: The Faust table of pages delivered per channel (changelog topic named after it: keep it).
DELIVERIES_TABLE = "alert-deliveries"
#: Dead-letter lines of every alerting agent, rate-limited together.
_SINK = DeadLetterSink(log)
MIN_TOKEN_LENGTH = 16


def register_alerting(
    app: faust.App,
    settings: Settings,
    kafka: KafkaConnection,
    roster: Roster | None,
    metrics: AlertingMetrics,
    clock: Callable[[], datetime],
) -> None:
    """Add the alerting stage to ``app`` when there is an on-call roster."""
    if roster is None:
        log.info("PUMPSTREAM_ALERTING_CONFIG not set: no alert lifecycle, paging or nurse station")
        return
    token = _ack_token(settings)
    _register_lifecycle(
        app,
        roster,
        metrics,
        clock,
        settings.alerting_tick_s,
        settings.page_grouping_window_s,
        settings.page_hold_s,
    )
    deliveries = _delivery_record(app, roster, clock)
    for name, channel in roster.channels.items():
        if isinstance(channel, WebhookChannel | MllpChannel):
            _register_channel_agent(app, name, channel, roster, metrics, clock, deliveries)
    board = EpisodeBoard(lambda n: roster.ward_for(n.alert), roster.episode_retention_s)
    app.service(BoardFeed(kafka, board))  # type: ignore[arg-type] # an instance is accepted
    for name, channel in roster.channels.items():
        if isinstance(channel, AlertmanagerChannel):
            sync = AlertmanagerSync(
                name, channel, board, _ward_if_routed(roster, name), metrics, clock
            )
            app.service(sync)  # type: ignore[arg-type]
    if token is not None:
        station = NurseStation(
            kafka,
            board,
            roster,
            token,
            settings.bind_address,
            settings.nurse_station_port,
        )
        app.service(station)  # type: ignore[arg-type]


def _ack_token(settings: Settings) -> str | None:
    if not settings.nurse_station_port:
        return None
    token = settings.ack_token.get_secret_value() if settings.ack_token else ""
    if len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"PUMPSTREAM_ACK_TOKEN: the nurse station needs a bearer token of at least "
            f"{MIN_TOKEN_LENGTH} characters (or set PUMPSTREAM_NURSE_STATION_PORT=0 to run "
            "without it)"
        )
    return token


def _ward_if_routed(roster: Roster, channel: str) -> Callable[[BoardEntry], str | None]:
    def ward_of(entry: BoardEntry) -> str | None:
        alert = entry.latest.alert
        return roster.ward_for(alert) if roster.routes_to(channel, alert) else None

    return ward_of


def _register_lifecycle(
    app: faust.App,
    roster: Roster,
    metrics: AlertingMetrics,
    clock: Callable[[], datetime],
    tick_s: float,
    grouping_window_s: float,
    hold_s: float = 0.0,
) -> None:
    # Values are the episode's JSON text: with ``value_type=dict`` Faust cannot read the
    # changelog back ("type object 'dict' has no attribute 'from_data'"), so a restarted worker
    # would never finish recovery.
    episodes = app.Table(EPISODES_TABLE, default=None, key_type=str, value_type=str)
    pages_of = app.Table(PAGES_TABLE, default=None, key_type=str, value_type=str)
    notifications = raw_topic(app, ALERT_NOTIFICATIONS.name)
    ticks = raw_topic(app, ALERT_TICKS.name)
    # One agent over alerts, acks and ticks: co-partitioned by patient_ref, so the worker that
    # owns an episode's alerts also receives its acks and its partition's ticks.
    source = raw_topic(app, ALERTS.name, ALERT_ACKS.name, ALERT_TICKS.name)
    set_aside = _processing_failures(app, metrics)

    def _load(alert_id: str) -> PagingEpisode | None:
        return PagingEpisode.from_table_value(episodes.get(alert_id))

    def _patient_pages(patient_ref: str) -> list[PagingEpisode]:
        ids: list[str] = json.loads(pages_of.get(patient_ref) or "[]")
        return [p for i in ids if (p := _load(i)) is not None]

    def _remember(patient_ref: str, page_id: str) -> None:
        ids: list[str] = json.loads(pages_of.get(patient_ref) or "[]")
        known = {i for i in ids if i in episodes}
        updated = remember_page([i for i in ids if i in known], page_id)
        if updated != ids:
            pages_of[patient_ref] = json.dumps(updated)

    def _alert_transition(
        alert: Alert, now: datetime, partition: int
    ) -> tuple[str, PagingEpisode | None, Transition]:
        """(page id, the stored page, its transition) for one alert phase: its own page, the
        page it was grouped on, a page it joins, or a new page."""
        own = _load(alert.alert_id)
        if own is not None:
            return alert.alert_id, own, on_alert(own, alert, roster, now, partition, hold_s)
        pages = _patient_pages(alert.patient_ref)
        holding = page_holding(pages, alert.alert_id)
        if holding is not None:
            return holding.alert_id, holding, on_grouped_alert(holding, alert, roster, now, hold_s)
        joined = page_to_join(pages, alert, grouping_window_s)
        if joined is not None:
            return joined.alert_id, joined, join_page(joined, alert, roster, now, hold_s)
        closed = page_to_reopen(pages, alert, grouping_window_s)
        if closed is not None:
            return closed.alert_id, closed, reopen_page(closed, alert, roster, now)
        return alert.alert_id, None, on_alert(None, alert, roster, now, partition, hold_s)

    def _ack_transition(
        ack: AlertAck, now: datetime
    ) -> tuple[str, PagingEpisode | None, Transition]:
        page = _load(ack.alert_id) or page_holding(_patient_pages(ack.patient_ref), ack.alert_id)
        page_id = page.alert_id if page is not None else ack.alert_id
        return page_id, page, on_ack(page, ack, roster, now)

    def _transitions(
        topic: str, partition: int, value: bytes, now: datetime
    ) -> list[tuple[str, PagingEpisode | None, Transition]]:
        """(alert_id, the stored episode, its transition) for each episode the input touches."""
        if topic == ALERT_TICKS.name:
            due: list[tuple[str, PagingEpisode | None, Transition]] = []
            for alert_id, stored in list(episodes.items()):
                episode = PagingEpisode.from_table_value(stored)
                if episode and episode.partition == partition and is_due(episode, roster, now):
                    due.append((alert_id, episode, on_tick(episode, roster, now)))
            return due
        if topic == ALERTS.name:
            alert = Alert.model_validate_json(value)
            transition = _alert_transition(alert, now, partition)
            if transition[2].episode is not None and not transition[2].ignored:
                _remember(alert.patient_ref, transition[0])
            return [transition]
        return [_ack_transition(AlertAck.model_validate_json(value), now)]

    async def handle(message: Any) -> None:
        now = clock()
        try:
            transitions = _transitions(message.topic, message.partition, message.value, now)
        except ValidationError as exc:
            # The correlator and the nurse station validate what they write: only a foreign
            # producer or a schema skew gets here. Skip it loudly; never stop the partition.
            record_ignored(metrics, message.topic, "invalid_on_validated_topic")
            log.error(
                "invalid message on %s[%s]@%s (%d errors); skipped",
                message.topic,
                message.partition,
                message.offset,
                exc.error_count(),
            )
            return
        for alert_id, before, transition in transitions:
            if transition.ignored:
                record_ignored(metrics, message.topic, "unchanged")
                continue
            record_transition(metrics, before, transition, now)
            # Send first, then record: a crash in between re-sends the same notification
            # ids (idempotent for every receiver) instead of recording a page never sent.
            for notification in transition.notifications:
                log.info(
                    "alert %s: %s step %d (%s)",
                    alert_id,
                    notification.kind.value,
                    notification.step,
                    notification.recipient.role,
                )
                await notifications.send(
                    key=notification.alert.patient_ref.encode(),
                    value=notification.model_dump_json().encode(),
                )
            if transition.episode is None:
                if alert_id in episodes:
                    del episodes[alert_id]
            else:
                episodes[alert_id] = transition.episode.to_table_value()
                if transition.episode.held_until is not None and (
                    before is None or before.held_until is None
                ):
                    _release_when_due(transition.episode, now)

    releases: set[asyncio.Future[Any]] = set()

    def _release_when_due(page: PagingEpisode, now: datetime) -> None:
        """A tick to the page's partition when its hold ends, so the release costs one broker
        hop rather than up to a whole timer interval; the timer below stays the fallback (and
        the only way after a restart)."""
        assert page.held_until is not None
        delay_s = max(0.0, (page.held_until - now).total_seconds())

        def send_tick() -> None:
            tick = LifecycleTick(sent_at=clock()).model_dump_json().encode()
            future = asyncio.ensure_future(
                ticks.send(key=None, value=tick, partition=page.partition)
            )
            releases.add(future)
            future.add_done_callback(releases.discard)

        asyncio.get_running_loop().call_later(delay_s, send_tick)

    async def alert_lifecycle(stream: Any) -> None:
        async for event in handled(stream):
            message = event.message
            try:
                await handle(message)
            except Exception as exc:
                await set_aside(message, exc, "the alert lifecycle")

    app.agent(source, name="alert_lifecycle")(alert_lifecycle)

    async def escalation_timer() -> None:
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == ALERTS.name}
        if not owned:
            return
        now = clock()
        due_partitions: set[int] = set()
        for stored in list(episodes.values()):
            episode = PagingEpisode.from_table_value(stored)
            if episode and episode.partition in owned and is_due(episode, roster, now):
                due_partitions.add(episode.partition)
        tick = LifecycleTick(sent_at=now).model_dump_json().encode()
        for partition in sorted(due_partitions):
            await ticks.send(key=None, value=tick, partition=partition)

    app.timer(interval=tick_s, name="alert_escalation_timer")(escalation_timer)


def _processing_failures(
    app: faust.App, metrics: AlertingMetrics
) -> Callable[[Any, Exception, str], Awaitable[None]]:
    """What an alerting agent does with a message it raised on: count it and write it to
    ``processing.dlq`` with the exception class, so the partition moves on."""
    failures = raw_topic(app, PROCESSING_DLQ.name)

    async def set_aside(message: Any, exc: Exception, where: str) -> None:
        metrics.flow.agent_failures.labels("alerting").inc()
        metrics.flow.events_out.labels(PROCESSING_DLQ.name).inc()
        letter = processing_failure(message, exc, where)
        await _SINK.send(failures, message.key, message.value, letter)

    return set_aside


def _delivery_record(app: faust.App, roster: Roster, clock: Callable[[], datetime]) -> Any:
    """The pages each channel delivered: ``channel:notification_id`` -> when (ISO 8601), a
    changelogged table, so a worker that reads notifications again after a crash or a restart
    (their offsets were not committed yet) sees they went out and does not page twice. Written
    to the changelog partition of the notification's own partition, so it moves with it on a
    rebalance. Entries older than the roster's episode retention are pruned."""
    table = app.Table(DELIVERIES_TABLE, default=None, key_type=str, value_type=str)
    retention = timedelta(seconds=roster.episode_retention_s)

    async def prune_delivery_record() -> None:
        oldest = clock() - retention
        for key, delivered_at in list(table.items()):
            if datetime.fromisoformat(delivered_at) < oldest:
                del table[key]

    app.timer(interval=600.0, name="prune_delivery_record")(prune_delivery_record)
    return table


def _register_channel_agent(
    app: faust.App,
    name: str,
    config: WebhookChannel | MllpChannel,
    roster: Roster,
    metrics: AlertingMetrics,
    clock: Callable[[], datetime],
    deliveries: Any,
) -> None:
    """One agent per channel on ``alerts.notifications``: a slow or down peer delays only its
    own channel (in order), never another channel's pages."""

    set_aside = _processing_failures(app, metrics)

    async def handle(message: Any, session: aiohttp.ClientSession | None) -> None:
        try:
            notification = AlertNotification.model_validate_json(message.value)
        except ValidationError as exc:
            log.error("%s: unreadable notification skipped (%s)", name, exc.error_count())
            return
        if not notification.delivered_by_channels:
            return
        if isinstance(config, WebhookChannel) and not notification.pages_a_person:
            return  # the pager rings only for pages: ``end`` never pages (issue 12)
        if not roster.routes_to(name, notification.alert):
            return
        record_key = f"{name}:{notification.notification_id}"
        if deliveries.get(record_key) is not None:
            metrics.duplicate_pages_suppressed.labels(name).inc()
            log.info("%s: %s already delivered; not paged again", name, record_key)
            return
        attempt: Callable[[], Awaitable[None]]
        if session is not None and isinstance(config, WebhookChannel):
            attempt = _bind_webhook(session, config, notification)
        else:
            assert isinstance(config, MllpChannel)
            attempt = _bind_pcd04(config, notification)
        outcome = await deliver_with_retries(
            name,
            config,
            attempt,
            metrics,
            what=f"{notification.kind.value} {notification.notification_id}",
            stopping=lambda: app.should_stop,
        )
        if outcome is DeliveryOutcome.DELIVERED:
            deliveries[record_key] = clock().isoformat()
            # Wait until the record is on the broker: Faust would send it later, with the next
            # batch, and a worker killed before then pages again after the takeover. What is
            # left is the moment between the peer's answer and this write; the receiver can
            # drop that repeat by its Idempotency-Key / MSH-10 (the notification id).
            await app.producer.flush()
        record_page(
            metrics,
            name,
            config.type,
            notification.alert.priority,
            notification.kind,
            outcome,
            (clock() - notification.triggered_at).total_seconds(),
        )

    async def deliver(stream: Any) -> None:
        session = aiohttp.ClientSession() if isinstance(config, WebhookChannel) else None
        try:
            async for event in handled(stream):
                try:
                    await handle(event.message, session)
                except DeliveryInterrupted:
                    # Not acknowledged (the loop is left): the next worker delivers it.
                    log.info("%s: stopping; the notification is left to the next worker", name)
                    return
                except Exception as exc:
                    await set_aside(event.message, exc, f"channel {name}")
        finally:
            if session is not None:
                await session.close()

    agent_name = "notify_" + name.replace("-", "_")
    app.agent(raw_topic(app, ALERT_NOTIFICATIONS.name), name=agent_name)(deliver)


def _bind_webhook(
    session: aiohttp.ClientSession, config: WebhookChannel, notification: AlertNotification
) -> Callable[[], Awaitable[None]]:
    return lambda: post_notification(session, config, notification)


def _bind_pcd04(
    config: MllpChannel, notification: AlertNotification
) -> Callable[[], Awaitable[None]]:
    return lambda: deliver_pcd04(config, notification)
