"""The topic registry: every topic's name, key, value shape and partitioning.

Producers, agents, the admin code that creates topics and the tests all read this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from schemas.alerts import Alert, AlertAck
from schemas.clinical_timer import QuietStreamCheck
from schemas.events import PUMP_EVENT_ADAPTER, SymptomReport, VitalSigns
from schemas.notifications import AlertNotification, LifecycleTick
from schemas.reactions import ReactionHistory
from schemas.telemetry import TelemetryBatch


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    description: str
    #: The model of the value, or None for dead letters (original bytes).
    value_adapter: TypeAdapter[Any] | None
    key: str = "patient_ref"
    compacted: bool = False
    #: Where rejected messages go; only raw intake topics have one.
    dlq: str | None = None


def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


PUMP_EVENTS_RAW = TopicSpec(
    "pump.events.raw",
    "Pump events as sent by gateways and simulators (JSON, unvalidated).",
    PUMP_EVENT_ADAPTER,
    dlq="pump.events.raw.dlq",
)
VITALS_RAW = TopicSpec(
    "vitals.raw",
    "Vital signs as sent by monitors and simulators (JSON, unvalidated).",
    _adapter(VitalSigns),
    dlq="vitals.raw.dlq",
)
SYMPTOMS_RAW = TopicSpec(
    "symptoms.raw",
    "Symptom reports from patients or nurses (JSON, unvalidated).",
    _adapter(SymptomReport),
    dlq="symptoms.raw.dlq",
)
TELEMETRY_RAW = TopicSpec(
    "telemetry.raw",
    "Batched vital signs: many patients' readings per message, every patient of a batch on the "
    "partition it is produced to (JSON, unvalidated; validated by the clinical agent itself).",
    _adapter(TelemetryBatch),
    key="batch (produced to an explicit partition)",
    dlq="telemetry.raw.dlq",
)
PUMP_EVENTS = TopicSpec("pump.events", "Validated pump events.", PUMP_EVENT_ADAPTER)
VITALS = TopicSpec("vitals", "Validated vital signs.", _adapter(VitalSigns))
SYMPTOMS = TopicSpec("symptoms", "Validated symptom reports.", _adapter(SymptomReport))
ALERTS = TopicSpec("alerts", "Clinical and technical alerts (the alert contract).", _adapter(Alert))
ALERT_ACKS = TopicSpec("alerts.acks", "Nurse responses to alerts.", _adapter(AlertAck))
ALERT_NOTIFICATIONS = TopicSpec(
    "alerts.notifications",
    "Alert episode transitions (start, update, escalate, response, end) with the page recipient.",
    _adapter(AlertNotification),
)
ALERT_TICKS = TopicSpec(
    "alerts.lifecycle.ticks",
    "Timer ticks to the alert lifecycle's partitions (escalations due); internal.",
    _adapter(LifecycleTick),
    key="partition",
)
REACTIONS = TopicSpec(
    "reactions",
    "Documented reactions per patient (compacted: latest history per key).",
    _adapter(ReactionHistory),
    compacted=True,
)
CLINICAL_TIMER = TopicSpec(
    "clinical.timer",
    "Internal: timer requests to evaluate time-driven rules (R5) for a quiet patient.",
    _adapter(QuietStreamCheck),
)

RAW_TOPICS: tuple[TopicSpec, ...] = (PUMP_EVENTS_RAW, VITALS_RAW, SYMPTOMS_RAW)
#: Raw topic -> the validated topic ingest writes to.
VALIDATED_TOPIC: dict[str, TopicSpec] = {
    PUMP_EVENTS_RAW.name: PUMP_EVENTS,
    VITALS_RAW.name: VITALS,
    SYMPTOMS_RAW.name: SYMPTOMS,
}
CLINICAL_TOPICS: tuple[TopicSpec, ...] = (PUMP_EVENTS, VITALS, SYMPTOMS)


def _dead_letter_spec(source: TopicSpec) -> TopicSpec:
    assert source.dlq is not None
    return TopicSpec(
        source.dlq,
        f"Rejected messages from {source.name}: original key and value bytes, reason in headers.",
        None,
    )


PROCESSING_DLQ = TopicSpec(
    "processing.dlq",
    "Messages an agent raised on (any stage, any input topic): original key and value bytes, "
    "the source topic and the exception class in headers; the partition moved on.",
    None,
)
DEAD_LETTER_TOPICS: tuple[TopicSpec, ...] = (
    *(_dead_letter_spec(t) for t in RAW_TOPICS),
    _dead_letter_spec(TELEMETRY_RAW),
    PROCESSING_DLQ,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    *RAW_TOPICS,
    TELEMETRY_RAW,
    *DEAD_LETTER_TOPICS,
    *CLINICAL_TOPICS,
    ALERTS,
    ALERT_ACKS,
    REACTIONS,
    CLINICAL_TIMER,
    ALERT_NOTIFICATIONS,
    ALERT_TICKS,
)


def topic_by_name(name: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(t.name for t in ALL_TOPICS)}")
