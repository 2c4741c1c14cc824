"""Prometheus metrics of a worker: a registry passed in, bounded labels, no patient identifiers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

PREFIX = "pumpstream"


class PipelineMetrics:
    """The worker's metrics; labels take only topic names, reason codes, rules and priorities."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events_in = Counter(
            f"{PREFIX}_events_in_total", "Messages read, by topic.", ["topic"], registry=registry
        )
        self.events_valid = Counter(
            f"{PREFIX}_events_valid_total",
            "Raw messages that passed validation, by raw topic.",
            ["topic"],
            registry=registry,
        )
        self.dead_letters = Counter(
            f"{PREFIX}_dead_letters_total",
            "Raw messages sent to a dead-letter topic, by raw topic and reason code.",
            ["topic", "reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            f"{PREFIX}_duplicate_events_total",
            "Clinical events ignored because their event_id was already applied.",
            ["topic"],
            registry=registry,
        )
        self.alerts = Counter(
            f"{PREFIX}_alerts_total",
            "Alerts produced, by rule, priority and phase.",
            ["rule", "priority", "phase"],
            registry=registry,
        )
        self.processing = Histogram(
            f"{PREFIX}_processing_seconds",
            "Time to process one message in an agent, by stage.",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )


#: Event -> page delivered: IEC 60601-1-8 asks the maker to measure distributed-alarm delays;
#: the target here is p99 <= 5 s from alert to page (DOMAIN.md §4), so buckets span 10 ms-120 s.
PAGE_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class AlertingMetrics:
    """Metrics of the alert lifecycle, delivery channels and nurse station (bounded labels:
    channel names from the roster file, kinds, priorities, responses, outcomes)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            f"{PREFIX}_alert_notifications_total",
            "Alert episode transitions emitted by the lifecycle, by kind and priority.",
            ["kind", "priority"],
            registry=registry,
        )
        self.lifecycle_ignored = Counter(
            f"{PREFIX}_alert_lifecycle_ignored_total",
            "Inputs that changed no episode (re-delivery, immaterial update, unknown alert).",
            ["input"],
            registry=registry,
        )
        self.responses = Counter(
            f"{PREFIX}_alert_responses_total",
            "Nurse responses applied to open episodes (true/false positive feed alarm fatigue).",
            ["response", "action_taken"],
            registry=registry,
        )
        self.delivery_attempts = Counter(
            f"{PREFIX}_page_delivery_attempts_total",
            "Delivery attempts per channel and result (ok, error).",
            ["channel", "result"],
            registry=registry,
        )
        self.deliveries = Counter(
            f"{PREFIX}_page_deliveries_total",
            "Notifications per channel and final outcome (delivered, failed, rejected).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.page_latency = Histogram(
            f"{PREFIX}_page_latency_seconds",
            "From the triggering event (alert report, escalation due time) to the page delivered.",
            ["channel", "kind"],
            buckets=PAGE_LATENCY_BUCKETS,
            registry=registry,
        )
