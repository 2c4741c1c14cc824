"""What the alerting stage did, as the families of :class:`AlertingMetrics` (docs/observability.md):
each lifecycle transition (notifications by kind, escalations still open, the first response that
takes responsibility, every nurse response), each input the lifecycle did not apply, and each
page a channel finished with (its outcome and, once delivered, its latency). Pure except for the
metrics it updates; the stage writes no other container."""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import AlertPriority
from schemas.notifications import NotificationKind
from streams.alerting.channels.delivery import DeliveryOutcome
from streams.alerting.lifecycle import PagingEpisode, Transition
from streams.metrics.families import AlertingMetrics
from streams.metrics.labels import rule_label


def _escalation_open(episode: PagingEpisode | None) -> AlertPriority | None:
    """The priority of an escalated episode nobody has answered yet, else None."""
    if episode is None or episode.step == 0 or episode.responsibility_taken or episode.ended_at:
        return None
    return episode.alert.priority


def record_transition(
    metrics: AlertingMetrics,
    before: PagingEpisode | None,
    transition: Transition,
    now: datetime,
) -> None:
    """One applied lifecycle input: ``before`` is the stored episode, ``transition`` the result."""
    for notification in transition.notifications:
        alert = notification.alert
        metrics.notifications.labels(
            rule_label(alert.rule), alert.priority.value, notification.kind.value
        ).inc()
    after = transition.episode
    was_open, is_open = _escalation_open(before), _escalation_open(after)
    if was_open != is_open:
        if was_open is not None:
            metrics.open_escalations.labels(was_open.value).dec()
        if is_open is not None:
            metrics.open_escalations.labels(is_open.value).inc()
    if after is not None and after.ack is not None and (before is None or before.ack != after.ack):
        ack = after.ack
        metrics.nurse_responses.labels(
            rule_label(after.alert.rule), ack.response.value, ack.action_taken.value
        ).inc()
        first_taken = after.responsibility_taken and not (before and before.responsibility_taken)
        if first_taken and after.opened_at is not None:
            metrics.time_to_acknowledge.labels(after.alert.priority.value).observe(
                max(0.0, (now - after.opened_at).total_seconds())
            )


def record_ignored(metrics: AlertingMetrics, topic: str, reason: str) -> None:
    """A lifecycle input on ``topic`` not applied, for one of ``LIFECYCLE_IGNORE_REASONS``."""
    metrics.lifecycle_ignored.labels(topic, reason).inc()


def record_page(
    metrics: AlertingMetrics,
    channel: str,
    channel_type: str,
    priority: AlertPriority,
    kind: NotificationKind,
    outcome: DeliveryOutcome,
    latency_s: float,
) -> None:
    """A page's final outcome on the roster channel ``channel`` and, when delivered, the time
    from its triggering event (never negative: event times can run ahead of this clock)."""
    metrics.page_deliveries.labels(channel, channel_type, priority.value, outcome.value).inc()
    if outcome is DeliveryOutcome.DELIVERED:
        metrics.event_to_page.labels(channel, priority.value, kind.value).observe(
            max(0.0, latency_s)
        )
