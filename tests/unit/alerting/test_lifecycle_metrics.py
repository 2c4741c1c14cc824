"""The alerting stage's observer feeds the operator metrics the dashboards and rules read
(notifications by kind, open escalations, time to acknowledge, nurse responses, pages and their
latency), all in the alerting container."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from schemas.alerts import AckResponse, ActionTaken, AlertAck, AlertPriority
from schemas.notifications import NotificationKind
from streams.alerting.channels.delivery import DeliveryOutcome
from streams.alerting.lifecycle import PagingEpisode, on_ack, on_alert, on_tick
from streams.alerting.observer import record_ignored, record_page, record_transition
from streams.alerting.roster import parse_roster
from streams.metrics.families import AlertingMetrics, WorkerMetrics
from tests.support.alerting import T0, make_alert, roster_toml

ROSTER = parse_roster(roster_toml())
NOW = T0 + timedelta(minutes=1)


def _metrics(
    channel_types: dict[str, str] | None = None,
) -> tuple[AlertingMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return WorkerMetrics(registry, channel_types=channel_types).alerting, registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    sample = registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def test_escalation_then_acceptance_is_counted_and_timed() -> None:
    metrics, registry = _metrics()
    opened = on_alert(None, make_alert(priority=AlertPriority.HIGH), ROSTER, NOW, partition=0)
    record_transition(metrics, None, opened, NOW)
    assert opened.episode is not None
    later = NOW + timedelta(seconds=21)
    escalated = on_tick(opened.episode, ROSTER, later)
    record_transition(metrics, opened.episode, escalated, later)
    notified = "pumpstream_alert_notifications_total"
    assert value(registry, notified, rule="R1", priority="high", kind="start") == 1
    assert value(registry, notified, rule="R1", priority="high", kind="escalate") == 1
    assert value(registry, "pumpstream_open_escalations", priority="high") == 1

    answered_at = NOW + timedelta(seconds=30)
    assert escalated.episode is not None
    accepted = AlertAck(
        event_id="ack-1", alert_id=escalated.episode.alert_id, patient_ref="pt-1",
        response=AckResponse.TRUE_POSITIVE, action_taken=ActionTaken.SLOWED, event_time=answered_at,
    )  # fmt: skip
    answered = on_ack(escalated.episode, accepted, ROSTER, answered_at)
    record_transition(metrics, escalated.episode, answered, answered_at)
    assert value(registry, "pumpstream_open_escalations", priority="high") == 0
    responses = "pumpstream_nurse_responses_total"
    assert value(registry, responses, rule="R1", response="true_positive", action_taken="slowed") == 1  # fmt: skip
    assert value(registry, "pumpstream_time_to_acknowledge_seconds_sum", priority="high") == 30.0
    assert value(registry, "pumpstream_time_to_acknowledge_seconds_count", priority="high") == 1


def test_a_read_receipt_is_a_response_but_not_an_acknowledgement() -> None:
    metrics, registry = _metrics()
    opened = on_alert(None, make_alert(), ROSTER, NOW, partition=0)
    episode: PagingEpisode | None = opened.episode
    assert episode is not None
    read = AlertAck(
        event_id="ack-r", alert_id=episode.alert_id, patient_ref="pt-1",
        response=AckResponse.READ, event_time=NOW,
    )  # fmt: skip
    record_transition(metrics, episode, on_ack(episode, read, ROSTER, NOW), NOW)
    responses = "pumpstream_nurse_responses_total"
    assert value(registry, responses, rule="R1", response="read", action_taken="none") == 1
    assert value(registry, "pumpstream_time_to_acknowledge_seconds_count", priority="high") == 0


def test_a_page_counts_by_roster_channel_and_type_and_only_a_delivered_one_is_timed() -> None:
    metrics, registry = _metrics({"acm": "hl7-mllp"})
    record_page(
        metrics, "acm", "hl7-mllp", AlertPriority.MEDIUM, NotificationKind.ESCALATE,
        DeliveryOutcome.DELIVERED, 0.4,
    )  # fmt: skip
    record_page(
        metrics, "acm", "hl7-mllp", AlertPriority.MEDIUM, NotificationKind.START,
        DeliveryOutcome.FAILED, 60.0,
    )  # fmt: skip
    pages = "pumpstream_page_deliveries_total"
    acm = {"channel": "acm", "channel_type": "hl7-mllp", "priority": "medium"}
    assert value(registry, pages, **acm, outcome="delivered") == 1
    assert value(registry, pages, **acm, outcome="failed") == 1
    latency = {"channel": "acm", "priority": "medium"}
    assert value(registry, "pumpstream_event_to_page_seconds_sum", **latency, kind="escalate") == 0.4  # fmt: skip
    assert value(registry, "pumpstream_event_to_page_seconds_count", **latency, kind="start") == 0


def test_a_page_before_its_event_time_counts_zero_seconds() -> None:
    metrics, registry = _metrics({"pager": "webhook"})
    record_page(
        metrics, "pager", "webhook", AlertPriority.HIGH, NotificationKind.START,
        DeliveryOutcome.DELIVERED, -3.0,
    )  # fmt: skip
    labels = {"channel": "pager", "priority": "high", "kind": "start"}
    assert value(registry, "pumpstream_event_to_page_seconds_count", **labels) == 1
    assert value(registry, "pumpstream_event_to_page_seconds_sum", **labels) == 0


def test_ignored_inputs_count_by_topic_and_reason() -> None:
    metrics, registry = _metrics()
    record_ignored(metrics, "alerts.acks", "unchanged")
    ignored = "pumpstream_alert_lifecycle_ignored_total"
    assert value(registry, ignored, topic="alerts.acks", reason="unchanged") == 1


def test_alerting_series_start_at_zero_for_the_known_label_sets() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry, channel_types={"pager": "webhook", "acm": "hl7-mllp"})
    zero = {
        "pumpstream_nurse_responses_total": {
            "rule": "R1",
            "response": "false_positive",
            "action_taken": "none",
        },
        "pumpstream_alert_notifications_total": {
            "rule": "R3",
            "priority": "high",
            "kind": "escalate",
        },
        "pumpstream_alert_lifecycle_ignored_total": {
            "topic": "alerts",
            "reason": "invalid_on_validated_topic",
        },
        "pumpstream_open_escalations": {"priority": "medium"},
        "pumpstream_time_to_acknowledge_seconds_count": {"priority": "low"},
        "pumpstream_page_delivery_attempts_total": {"channel": "pager", "result": "error"},
        "pumpstream_page_deliveries_total": {
            "channel": "acm",
            "channel_type": "hl7-mllp",
            "priority": "high",
            "outcome": "delivered",
        },
        "pumpstream_event_to_page_seconds_count": {
            "channel": "pager",
            "priority": "high",
            "kind": "update",
        },
    }
    for name, labels in zero.items():
        assert registry.get_sample_value(name, labels) == 0, name
