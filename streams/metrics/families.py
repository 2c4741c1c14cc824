"""Prometheus metrics of a worker: one container per stage, built once from the worker's one
registry (``streams/worker.py``) and handed to each stage by ``create_app``; no stage builds
metrics itself.

One family states each fact, and a label name means one thing in every family. Label values come
from ``streams/metrics/labels.py``, the enums of ``schemas/`` and the roster's channel names only.
Every family is listed, with its labels and the stage that writes it, in docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.alerts import AckResponse, ActionTaken, AlertPhase, AlertPriority
from schemas.dead_letters import DeadLetterReason
from schemas.events import SymptomKind
from schemas.notifications import DELIVERED_KINDS, NotificationKind
from schemas.topics import (
    ALERT_ACKS,
    ALERT_TICKS,
    ALERTS,
    ALL_TOPICS,
    CLINICAL_TOPICS,
    RAW_TOPICS,
    TELEMETRY_RAW,
)
from streams.metrics.labels import (
    AGENT_STAGES,
    CLINICAL_RULES,
    DELIVERY_OUTCOMES,
    DELIVERY_RESULTS,
    DOSE_RATE_BANDS,
    LIFECYCLE_IGNORE_REASONS,
    NOT_RUNNING_BAND,
    OTHER_TOPIC,
    PAIN_BANDS,
    SKIP_REASONS,
    STATE_RECORD_KINDS,
    TELEMETRY_OUTCOMES,
    UNSCORED_BAND,
    WardLabels,
)

PREFIX = "pumpstream"

#: Event time -> alert / page, with the targets (alert 1 s, page 6 s; DOMAIN.md §4) as bounds.
#: Escalation pages count from their due time, so the upper buckets reach minutes.
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
#: Topics the alert lifecycle agent reads.
LIFECYCLE_INPUT_TOPICS = (ALERTS.name, ALERT_ACKS.name, ALERT_TICKS.name)


class FlowMetrics:
    """The worker's own families: messages read and written per topic, time per message per
    stage (written by the ingest and clinical agents) and the consumer group's lag (the worker's
    lag timer)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_in = Counter(
            f"{PREFIX}_events_in_total", "Messages read, by topic.", ["topic"], registry=registry
        )
        self.events_out = Counter(
            f"{PREFIX}_events_out_total",
            "Messages written (validated events, dead letters, alerts, reactions), by topic.",
            ["topic"],
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
        self.agent_failures = Counter(
            f"{PREFIX}_agent_failures_total",
            "Messages an agent raised on, set aside to processing.dlq (the partition moved on), "
            "by stage.",
            ["stage"],
            registry=registry,
        )
        self.produce_errors = Counter(
            f"{PREFIX}_produce_errors_total",
            "Messages the worker's producer gave up on (Kafka did not accept them), by topic "
            "(a registry topic, else other: a table's changelog). The worker then stops.",
            ["topic"],
            registry=registry,
        )
        for topic in (*RAW_TOPICS, TELEMETRY_RAW, *CLINICAL_TOPICS):
            self.events_in.labels(topic.name)
        for stage in AGENT_STAGES:
            self.agent_failures.labels(stage)
        for spec in ALL_TOPICS:
            self.produce_errors.labels(spec.name)
        self.produce_errors.labels(OTHER_TOPIC)


class IngestMetrics:
    """The ingest stage: raw messages it turns into dead letters. (A validated message is
    ``events_out_total`` of its validated topic: the flow states that fact.)"""

    def __init__(self, registry: CollectorRegistry, flow: FlowMetrics) -> None:
        #: The worker's flow families, which the ingest agents write too.
        self.flow = flow
        self.dead_letters = Counter(
            f"{PREFIX}_dead_letters_total",
            "Raw messages sent to a dead-letter topic, by raw topic and reason code.",
            ["topic", "reason"],
            registry=registry,
        )
        for raw in (*RAW_TOPICS, TELEMETRY_RAW):
            for reason in DeadLetterReason:
                self.dead_letters.labels(raw.name, reason.value)


class ClinicalMetrics:
    """The clinical stage: events it skipped or saw late, infusions, rate changes, symptoms,
    alerts and their latency, reactions documented. Labels take only topic names, rules,
    priorities, products, configured wards and bands."""

    def __init__(self, registry: CollectorRegistry, flow: FlowMetrics, wards: WardLabels) -> None:
        #: The worker's flow families, which the clinical agent writes too.
        self.flow = flow
        self.wards = wards
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
        self.state_records = Counter(
            f"{PREFIX}_state_changelog_records_total",
            "Records the clinical agent's checkpoints wrote to the patient-state changelog, by "
            "kind: base (a whole state), core, delta, tombstone (docs/architecture.md).",
            ["record"],
            registry=registry,
        )
        self.state_bytes = Counter(
            f"{PREFIX}_state_changelog_bytes_total",
            "Bytes of the values the clinical agent's checkpoints wrote to the patient-state "
            "changelog, by kind.",
            ["record"],
            registry=registry,
        )
        for kind in STATE_RECORD_KINDS:
            self.state_records.labels(kind)
            self.state_bytes.labels(kind)
        self.late_events = Counter(
            f"{PREFIX}_late_events_total",
            "Clinical events older than the grace behind the patient's newest event (still used).",
            ["topic"],
            registry=registry,
        )
        self.telemetry_readings = Counter(
            f"{PREFIX}_telemetry_readings_total",
            "Vital-sign readings in telemetry batches, by outcome: accepted (applied), "
            "dead_lettered (telemetry.raw.dlq), forwarded (to their patient's partition), "
            "set_aside (processing.dlq).",
            ["outcome"],
            registry=registry,
        )
        for outcome in TELEMETRY_OUTCOMES:
            self.telemetry_readings.labels(outcome)
        self.reactions = Counter(
            f"{PREFIX}_reactions_documented_total",
            "Reaction records written to the ledger, by rule.",
            ["rule"],
            registry=registry,
        )
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
        self._initialise_known_series()

    def _initialise_known_series(self) -> None:
        """Zeros for the label sets known up front (why: :class:`WorkerMetrics`)."""
        for clinical in CLINICAL_TOPICS:
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
        for rule in CLINICAL_RULES:
            for priority in AlertPriority:
                self.event_to_alert.labels(rule, priority.value)


class AlertingMetrics:
    """The alerting stage: lifecycle transitions, nurse responses, escalations still open, time
    to acknowledge, and each channel's delivery attempts, pages and page latency.

    ``channel`` is always the roster's name of a ``[channels.*]`` entry (operator-configured and
    bounded) and ``channel_type`` its ``type`` (``webhook``, ``alertmanager``, ``hl7-mllp``).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        flow: FlowMetrics,
        channel_types: Mapping[str, str] | None = None,
    ) -> None:
        #: The worker's flow families (the alerting agents count their failures there).
        self.flow = flow
        #: Roster channel name -> channel type; their series are exported as zeros from start-up.
        self.channel_types = dict(channel_types or {})
        self.notifications = Counter(
            f"{PREFIX}_alert_notifications_total",
            "Episode transitions the alert lifecycle emitted (start, update, escalate, response, "
            "end), by rule and priority.",
            ["rule", "priority", "kind"],
            registry=registry,
        )
        self.lifecycle_ignored = Counter(
            f"{PREFIX}_alert_lifecycle_ignored_total",
            "Lifecycle inputs not applied: unchanged (re-delivery, immaterial update, unknown "
            "alert) or invalid, by topic.",
            ["topic", "reason"],
            registry=registry,
        )
        self.nurse_responses = Counter(
            f"{PREFIX}_nurse_responses_total",
            "Nurse responses applied to open episodes (true/false positive: the alarm-fatigue "
            "signal), with the action taken.",
            ["rule", "response", "action_taken"],
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
        self.delivery_attempts = Counter(
            f"{PREFIX}_page_delivery_attempts_total",
            "Attempts to hand a channel's peer a message (one POST or MLLP exchange), by result.",
            ["channel", "result"],
            registry=registry,
        )
        self.page_deliveries = Counter(
            f"{PREFIX}_page_deliveries_total",
            "Pages handed to a channel, by priority and final outcome (delivered, failed, "
            "rejected).",
            ["channel", "channel_type", "priority", "outcome"],
            registry=registry,
        )
        self.duplicate_pages_suppressed = Counter(
            f"{PREFIX}_duplicate_pages_suppressed_total",
            "Notifications read again (after a worker crash or restart) that the delivery record "
            "shows were already delivered on the channel, so not sent twice.",
            ["channel"],
            registry=registry,
        )
        self.event_to_page = Histogram(
            f"{PREFIX}_event_to_page_seconds",
            "Wall-clock time from the page's triggering event (the alert's event, an escalation's "
            "due time) to the page delivered, by channel, priority and notification kind.",
            ["channel", "priority", "kind"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self._initialise_known_series()

    def _initialise_known_series(self) -> None:
        """Zeros for the label sets known up front (why: :class:`WorkerMetrics`)."""
        for topic in LIFECYCLE_INPUT_TOPICS:
            for ignored in LIFECYCLE_IGNORE_REASONS:
                self.lifecycle_ignored.labels(topic, ignored)
        for priority in AlertPriority:
            self.open_escalations.labels(priority.value)
            self.time_to_acknowledge.labels(priority.value)
            for rule in CLINICAL_RULES:
                for kind in NotificationKind:
                    self.notifications.labels(rule, priority.value, kind.value)
        for rule in CLINICAL_RULES:
            for response in AckResponse:
                for action in ActionTaken:
                    self.nurse_responses.labels(rule, response.value, action.value)
        for channel, channel_type in self.channel_types.items():
            for result in DELIVERY_RESULTS:
                self.delivery_attempts.labels(channel, result)
            self.duplicate_pages_suppressed.labels(channel)
            for priority in AlertPriority:
                for outcome in DELIVERY_OUTCOMES:
                    self.page_deliveries.labels(channel, channel_type, priority.value, outcome)
                for kind in DELIVERED_KINDS:
                    self.event_to_page.labels(channel, priority.value, kind.value)


class WorkerMetrics:
    """Every family of one worker, built once from its registry: the worker's flow and one
    container per stage, which ``create_app`` hands to that stage.

    Label sets known up front are exported as zeros (each container's
    ``_initialise_known_series``), so rates and ratios start at 0 rather than being absent, and
    a first event shows in ``increase()`` (Prometheus' instrumentation guidance). Only bounded,
    small products of label values.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        wards: WardLabels | None = None,
        channel_types: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.flow = FlowMetrics(registry)
        self.ingest = IngestMetrics(registry, self.flow)
        self.clinical = ClinicalMetrics(registry, self.flow, wards or WardLabels())
        self.alerting = AlertingMetrics(registry, self.flow, channel_types)


#: The gateway's label vocabularies (``streams/gateway``; unit tests keep them equal to the
#: gateway's own enums). ``message_type``: MSH-9 of the messages the gateway maps, else ``other``.
GATEWAY_MESSAGE_TYPES = ("oru_r01", "oru_r42", "other")
#: HL7 acknowledgement codes (table 0008, original mode).
ACK_CODES = ("AA", "AE", "AR")
#: Why a message was refused (``streams.gateway.rejections.RejectReason``).
GATEWAY_REJECT_REASONS = (
    "hl7_not_parsed",
    "hl7_not_text",
    "hl7_unsupported_message",
    "hl7_unknown_code",
    "hl7_missing_field",
    "hl7_invalid_value",
    "hl7_too_large",
)
#: Where an unknown code was found (``streams.gateway.codes.CodeKind``); never the code itself.
UNKNOWN_CODE_KINDS = (
    "observation",
    "unit",
    "event",
    "delivery_status",
    "product",
    "body_site",
    "result_status",
    "risk_factor",
    "indication",
)
#: MLLP framing problems: bytes outside a frame, a frame over the size limit, a frame cut off.
FRAMING_ERRORS = ("garbage", "oversized", "truncated")
#: Symptom intake responses (``streams.gateway.intake.Outcome``).
INTAKE_STATUSES = ("accepted", "invalid", "unauthorized", "too_large", "unavailable")
#: MLLP message -> ACK: the target is well under a second (Kafka's acks=all round trip); the
#: top buckets reach the ACK timeout.
GATEWAY_ACK_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class GatewayMetrics:
    """The standards gateway (``pumpstream gateway``, its own process and registry): MLLP
    connections, messages by type and ACK code, refusals by reason, unknown codes by kind,
    records Kafka acknowledged by topic, the time to ACK, and the symptom intake's responses.
    No label ever takes a patient identifier, a code or a control id."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.open_connections = Gauge(
            f"{PREFIX}_gateway_open_connections",
            "MLLP connections open now.",
            registry=registry,
        )
        self.connections = Counter(
            f"{PREFIX}_gateway_connections_total",
            "MLLP connections accepted.",
            registry=registry,
        )
        self.connections_refused = Counter(
            f"{PREFIX}_gateway_connections_refused_total",
            "MLLP connections closed at once: PUMPSTREAM_GATEWAY_MAX_CONNECTIONS were open.",
            registry=registry,
        )
        self.idle_closed = Counter(
            f"{PREFIX}_gateway_idle_connections_closed_total",
            "MLLP connections closed after PUMPSTREAM_GATEWAY_IDLE_TIMEOUT_S without a byte.",
            registry=registry,
        )
        self.framing_errors = Counter(
            f"{PREFIX}_gateway_framing_errors_total",
            "MLLP framing problems: bytes outside a frame (discarded), a frame over the size "
            "limit (refused), a frame cut off by the connection's end.",
            ["framing_error"],
            registry=registry,
        )
        self.messages = Counter(
            f"{PREFIX}_gateway_messages_total",
            "HL7 messages answered, by message type and ACK code (AA accepted and durable, AR "
            "refused and dead-lettered, AE Kafka did not acknowledge: the sender resends).",
            ["message_type", "ack"],
            registry=registry,
        )
        self.rejected = Counter(
            f"{PREFIX}_gateway_rejected_messages_total",
            "HL7 messages refused (AR), by reason code (the dead letter's reason).",
            ["reason"],
            registry=registry,
        )
        self.unknown_codes = Counter(
            f"{PREFIX}_gateway_unknown_codes_total",
            "Messages refused for a code outside the gateway's tables, by where the code was.",
            ["code_kind"],
            registry=registry,
        )
        self.records = Counter(
            f"{PREFIX}_gateway_records_total",
            "Records Kafka acknowledged, by topic (events on the raw topics, refused messages on "
            "the dead-letter topics).",
            ["topic"],
            registry=registry,
        )
        self.ack_latency = Histogram(
            f"{PREFIX}_gateway_ack_seconds",
            "Time from a message's last byte to its ACK written, by ACK code.",
            ["ack"],
            buckets=GATEWAY_ACK_BUCKETS_S,
            registry=registry,
        )
        self.intake_requests = Counter(
            f"{PREFIX}_gateway_intake_requests_total",
            "Symptom intake API requests, by response (accepted = durable, 202).",
            ["status"],
            registry=registry,
        )
        self._initialise_known_series()

    def _initialise_known_series(self) -> None:
        """Zeros for the label sets known up front (why: :class:`WorkerMetrics`)."""
        for error in FRAMING_ERRORS:
            self.framing_errors.labels(error)
        for message_type in GATEWAY_MESSAGE_TYPES:
            for ack in ACK_CODES:
                self.messages.labels(message_type, ack)
        for ack in ACK_CODES:
            self.ack_latency.labels(ack)
        for reason in GATEWAY_REJECT_REASONS:
            self.rejected.labels(reason)
        for kind in UNKNOWN_CODE_KINDS:
            self.unknown_codes.labels(kind)
        for raw in RAW_TOPICS:
            self.records.labels(raw.name)
            if raw.dlq is not None:
                self.records.labels(raw.dlq)
        for status in INTAKE_STATUSES:
            self.intake_requests.labels(status)
