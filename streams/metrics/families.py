"""Prometheus metrics of a worker: a registry passed in, bounded labels, no patient identifiers.

Label values come from ``streams/metrics/labels.py`` and the enums of ``schemas/`` only. Every
metric is listed, with its labels and the stage that populates it, in docs/observability.md.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.alerts import AckResponse, AlertPhase, AlertPriority
from schemas.dead_letters import DeadLetterReason
from schemas.events import SymptomKind
from schemas.topics import CLINICAL_TOPICS, RAW_TOPICS
from streams.metrics.labels import (
    CLINICAL_RULES,
    DOSE_RATE_BANDS,
    NOT_RUNNING_BAND,
    PAGE_CHANNELS,
    PAIN_BANDS,
    SKIP_REASONS,
    UNSCORED_BAND,
    WardLabels,
)

PREFIX = "pumpstream"

#: Event time -> alert / page, with the targets (alert 1 s, page 6 s; DOMAIN.md §4) as bounds.
LATENCY_BUCKETS_S = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    4.0,
    6.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
#: Time to acknowledge: nurses answer in seconds to tens of minutes.
ACK_BUCKETS_S = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


class PipelineMetrics:
    """The worker's metrics; labels take only topic names, reason codes, rules, priorities,
    products, configured wards and bands."""

    def __init__(self, registry: CollectorRegistry, wards: WardLabels | None = None) -> None:
        self.registry = registry
        self.wards = wards or WardLabels()
        self._flow_metrics(registry)
        self._clinical_metrics(registry)
        self._lifecycle_metrics(registry)
        self._initialise_known_series()

    def _flow_metrics(self, registry: CollectorRegistry) -> None:
        self.events_in = Counter(
            f"{PREFIX}_events_in_total", "Messages read, by topic.", ["topic"], registry=registry
        )
        self.events_out = Counter(
            f"{PREFIX}_events_out_total",
            "Messages written (validated events, dead letters, alerts), by topic.",
            ["topic"],
            registry=registry,
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
        self.skipped = Counter(
            f"{PREFIX}_skipped_events_total",
            "Messages on a validated topic that failed validation there and were skipped.",
            ["topic", "reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            f"{PREFIX}_duplicate_events_total",
            "Clinical events ignored because their event_id was already applied.",
            ["topic"],
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
        self.consumer_lag = Gauge(
            f"{PREFIX}_consumer_lag_messages",
            "Messages on a consumed topic not yet committed by the worker's consumer group.",
            ["topic"],
            registry=registry,
        )
        self.consumer_lag_errors = Counter(
            f"{PREFIX}_consumer_lag_errors_total",
            "Failed consumer-lag measurements (the lag gauge keeps its last value).",
            registry=registry,
        )

    def _clinical_metrics(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter(
            f"{PREFIX}_alerts_total",
            "Alerts produced, by rule, priority, phase and ward.",
            ["rule", "priority", "phase", "ward"],
            registry=registry,
        )
        self.event_to_alert = Histogram(
            f"{PREFIX}_event_to_alert_seconds",
            "Wall-clock time from the event time of the alert's triggering event to the alert.",
            ["rule", "priority"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.active_infusions = Gauge(
            f"{PREFIX}_active_infusions",
            "Infusions running or paused on the patients this worker owns, by product, ward and "
            "dose-rate band.",
            ["product", "ward", "band"],
            registry=registry,
        )
        self.rate_changes = Counter(
            f"{PREFIX}_rate_changes_total",
            "Pump rate changes applied, by product, ward and direction.",
            ["product", "ward", "direction"],
            registry=registry,
        )
        self.symptom_reports = Counter(
            f"{PREFIX}_symptom_reports_total",
            "Symptom reports applied, by symptom, NRS severity band and ward.",
            ["symptom", "band", "ward"],
            registry=registry,
        )
        self.back_pain_reports = Counter(
            f"{PREFIX}_back_pain_reports_total",
            "Back-pain reports, by the dose-rate band (mg/kg/min) running when reported.",
            ["band", "ward"],
            registry=registry,
        )

    def _lifecycle_metrics(self, registry: CollectorRegistry) -> None:
        """Populated once the alert lifecycle and notifier land (docs/observability.md)."""
        self.pages = Counter(
            f"{PREFIX}_pages_total",
            "Notifications sent to nurses, by priority and channel.",
            ["priority", "channel"],
            registry=registry,
        )
        self.event_to_page = Histogram(
            f"{PREFIX}_event_to_page_seconds",
            "Wall-clock time from the triggering event's event time to the page leaving.",
            ["priority"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.escalations = Counter(
            f"{PREFIX}_escalations_total",
            "Alerts escalated because nobody acknowledged them in time.",
            ["rule", "priority"],
            registry=registry,
        )
        self.open_escalations = Gauge(
            f"{PREFIX}_open_escalations",
            "Escalated alerts still waiting for an acknowledgement.",
            ["priority"],
            registry=registry,
        )
        self.time_to_acknowledge = Histogram(
            f"{PREFIX}_time_to_acknowledge_seconds",
            "Time from the first page to the nurse's acknowledgement.",
            ["priority"],
            buckets=ACK_BUCKETS_S,
            registry=registry,
        )
        self.nurse_responses = Counter(
            f"{PREFIX}_nurse_responses_total",
            "Nurse responses to alerts (true/false positive: the alarm-fatigue signal).",
            ["rule", "response"],
            registry=registry,
        )

    def _initialise_known_series(self) -> None:
        """Export zeros for the label sets known up front, so rates and ratios start at 0
        rather than being absent, and a first event shows in ``increase()`` (Prometheus'
        instrumentation guidance). Only bounded, small products of label values."""
        for raw in RAW_TOPICS:
            self.events_in.labels(raw.name)
            self.events_valid.labels(raw.name)
            for dlq_reason in DeadLetterReason:
                self.dead_letters.labels(raw.name, dlq_reason.value)
        for clinical in CLINICAL_TOPICS:
            self.events_in.labels(clinical.name)
            self.duplicates.labels(clinical.name)
            for reason in SKIP_REASONS:
                self.skipped.labels(clinical.name, reason)
        for ward in self.wards.values:
            for band in (*(b for b, _ in DOSE_RATE_BANDS), NOT_RUNNING_BAND):
                self.back_pain_reports.labels(band, ward)
            for band in (*(b for b, _ in PAIN_BANDS), UNSCORED_BAND):
                self.symptom_reports.labels(SymptomKind.BACK_PAIN.value, band, ward)
            for rule in CLINICAL_RULES:
                for priority in AlertPriority:
                    self.alerts.labels(rule, priority.value, AlertPhase.START.value, ward)
        for priority in AlertPriority:
            self.event_to_page.labels(priority.value)
            self.open_escalations.labels(priority.value)
            self.time_to_acknowledge.labels(priority.value)
            for channel in PAGE_CHANNELS:
                self.pages.labels(priority.value, channel)
            for rule in CLINICAL_RULES:
                self.escalations.labels(rule, priority.value)
                self.event_to_alert.labels(rule, priority.value)
        for rule in CLINICAL_RULES:
            for response in AckResponse:
                self.nurse_responses.labels(rule, response.value)


#: Event -> page delivered: IEC 60601-1-8 asks the maker to measure distributed-alarm delays;
#: the target here is p99 <= 5 s from alert to page (DOMAIN.md §4), so buckets span 10 ms-120 s.
PAGE_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class AlertingMetrics:
    """Metrics of the alert lifecycle, delivery channels and nurse station (bounded labels:
    channel names from the roster file, kinds, priorities, responses, outcomes)."""

    def __init__(
        self, registry: CollectorRegistry, pipeline: PipelineMetrics | None = None
    ) -> None:
        #: The worker's metrics, whose lifecycle series (pages, escalations, acknowledgements)
        #: the alerting stage feeds (docs/observability.md); None in channel-only tests.
        self.pipeline = pipeline
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
