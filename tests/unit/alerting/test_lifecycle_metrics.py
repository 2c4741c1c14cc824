"""The lifecycle's transitions feed the operator metrics the dashboards and rules read
(escalations, open escalations, time to acknowledge, nurse responses, pages)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from schemas.alerts import AckResponse, ActionTaken, AlertAck, AlertPriority
from streams.alerting.lifecycle import Episode, on_ack, on_alert, on_tick
from streams.alerting.observer import record_page, record_transition
from streams.alerting.roster import parse_roster
from streams.metrics.families import PipelineMetrics
from tests.support.alerting import T0, make_alert, roster_toml

ROSTER = parse_roster(roster_toml())
NOW = T0 + timedelta(minutes=1)


def value(metrics: PipelineMetrics, name: str, **labels: str) -> float:
    sample = metrics.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def test_escalation_then_acceptance_is_counted_and_timed() -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    opened = on_alert(None, make_alert(priority=AlertPriority.HIGH), ROSTER, NOW, partition=0)
    record_transition(metrics, None, opened, NOW)
    assert opened.episode is not None
    later = NOW + timedelta(seconds=21)
    escalated = on_tick(opened.episode, ROSTER, later)
    record_transition(metrics, opened.episode, escalated, later)
    assert value(metrics, "pumpstream_escalations_total", rule="R1", priority="high") == 1
    assert value(metrics, "pumpstream_open_escalations", priority="high") == 1

    answered_at = NOW + timedelta(seconds=30)
    assert escalated.episode is not None
    accepted = AlertAck(
        event_id="ack-1", alert_id=escalated.episode.alert_id, patient_ref="pt-1",
        response=AckResponse.TRUE_POSITIVE, action_taken=ActionTaken.SLOWED, event_time=answered_at,
    )  # fmt: skip
    answered = on_ack(escalated.episode, accepted, ROSTER, answered_at)
    record_transition(metrics, escalated.episode, answered, answered_at)
    assert value(metrics, "pumpstream_open_escalations", priority="high") == 0
    assert (
        value(metrics, "pumpstream_nurse_responses_total", rule="R1", response="true_positive") == 1
    )
    assert value(metrics, "pumpstream_time_to_acknowledge_seconds_sum", priority="high") == 30.0
    assert value(metrics, "pumpstream_time_to_acknowledge_seconds_count", priority="high") == 1


def test_a_read_receipt_is_a_response_but_not_an_acknowledgement() -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    opened = on_alert(None, make_alert(), ROSTER, NOW, partition=0)
    episode: Episode | None = opened.episode
    assert episode is not None
    read = AlertAck(
        event_id="ack-r", alert_id=episode.alert_id, patient_ref="pt-1",
        response=AckResponse.READ, event_time=NOW,
    )  # fmt: skip
    record_transition(metrics, episode, on_ack(episode, read, ROSTER, NOW), NOW)
    assert value(metrics, "pumpstream_nurse_responses_total", rule="R1", response="read") == 1
    assert value(metrics, "pumpstream_time_to_acknowledge_seconds_count", priority="high") == 0


def test_pages_are_counted_by_channel_type() -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    record_page(metrics, "hl7_mllp", AlertPriority.MEDIUM, 0.4)
    assert value(metrics, "pumpstream_pages_total", priority="medium", channel="hl7_mllp") == 1
    assert value(metrics, "pumpstream_event_to_page_seconds_sum", priority="medium") == 0.4
    record_page(None, "webhook", AlertPriority.MEDIUM, 0.4)  # channel-only tests: no pipeline
