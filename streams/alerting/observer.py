"""The alert lifecycle's transitions as the operator-facing metrics of docs/observability.md:
escalations, escalations still open, time to acknowledge (first response that takes
responsibility: accepted, true/false positive, not clinically relevant, callback) and nurse
responses (the alarm-fatigue signal), and pages by channel with their latency. Pure except for the
metrics it updates."""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import AlertPriority
from schemas.notifications import NotificationKind
from streams.alerting.lifecycle import Episode, Transition
from streams.metrics.families import PipelineMetrics
from streams.metrics.labels import rule_label


def _escalation_open(episode: Episode | None) -> AlertPriority | None:
    """The priority of an escalated episode nobody has answered yet, else None."""
    if episode is None or episode.step == 0 or episode.responsibility_taken or episode.ended_at:
        return None
    return episode.alert.priority


def record_transition(
    metrics: PipelineMetrics, before: Episode | None, transition: Transition, now: datetime
) -> None:
    for notification in transition.notifications:
        if notification.kind is NotificationKind.ESCALATE:
            alert = notification.alert
            metrics.escalations.labels(rule_label(alert.rule), alert.priority.value).inc()
    after = transition.episode
    was_open, is_open = _escalation_open(before), _escalation_open(after)
    if was_open != is_open:
        if was_open is not None:
            metrics.open_escalations.labels(was_open.value).dec()
        if is_open is not None:
            metrics.open_escalations.labels(is_open.value).inc()
    if after is not None and after.ack is not None and (before is None or before.ack != after.ack):
        ack = after.ack
        metrics.nurse_responses.labels(rule_label(after.alert.rule), ack.response.value).inc()
        first_taken = after.responsibility_taken and not (before and before.responsibility_taken)
        if first_taken and after.opened_at is not None:
            metrics.time_to_acknowledge.labels(after.alert.priority.value).observe(
                max(0.0, (now - after.opened_at).total_seconds())
            )


def record_page(
    metrics: PipelineMetrics | None,
    channel_type: str,
    priority: AlertPriority,
    latency_s: float,
) -> None:
    """A page delivered on a channel of type ``webhook``, ``alertmanager`` or ``hl7_mllp``."""
    if metrics is None:
        return
    metrics.pages.labels(priority.value, channel_type).inc()
    metrics.event_to_page.labels(priority.value).observe(max(0.0, latency_s))
