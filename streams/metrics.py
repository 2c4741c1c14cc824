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
        self.late_events = Counter(
            f"{PREFIX}_late_events_total",
            "Clinical events older than the grace behind the patient's newest event (still used).",
            ["topic"],
            registry=registry,
        )
        self.reactions = Counter(
            f"{PREFIX}_reactions_documented_total",
            "Reaction records written to the ledger, by rule.",
            ["rule"],
            registry=registry,
        )
        self.processing = Histogram(
            f"{PREFIX}_processing_seconds",
            "Time to process one message in an agent, by stage.",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
