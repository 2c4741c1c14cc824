"""The closed vocabularies metric labels may take: bands, wards, rules, and the allow-list.

Every label value a worker exports comes from here, from a ``StrEnum`` of ``schemas/`` or from
the roster's channel names (operator-configured, bounded), never from an event's free text or an
id: labels are unbounded otherwise, and an id in a label is a patient identifier in a monitoring
system that nurses' confidentiality rules do not cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.alerts import AckResponse, ActionTaken, AlertPhase, AlertPriority
from schemas.dead_letters import DeadLetterReason
from schemas.events import SymptomKind
from schemas.ivig_products import IvigProduct
from schemas.notifications import NotificationKind
from schemas.topics import ALL_TOPICS

#: Dose-rate bands in mg/kg/min, (label, upper bound exclusive). The cut points are the titration
#: steps of the label schedules (DOMAIN.md §2): 0.5-1 start, 2, 4, then the 6-8 maxima.
DOSE_RATE_BANDS: tuple[tuple[str, float], ...] = (
    ("0-1", 1.0),
    ("1-2", 2.0),
    ("2-4", 4.0),
    ("4-6", 6.0),
    ("6-8", 8.0),
    ("8+", float("inf")),
)
#: Reports and infusions with no running rate (paused, not started, no infusion known).
NOT_RUNNING_BAND = "not_running"

#: NRS-11 severity bands (the usual clinical cut points: 1-3 mild, 4-6 moderate, 7-10 severe).
PAIN_BANDS: tuple[tuple[str, int], ...] = (
    ("none", 0),
    ("mild", 3),
    ("moderate", 6),
    ("severe", 10),
)
#: A report without a pain score (chills, flushing, nausea...).
UNSCORED_BAND = "unscored"

#: Topics outside the registry (Faust's changelog and assignor topics) are exported as this.
OTHER_TOPIC = "other"

#: Wards not configured in ``PUMPSTREAM_METRICS_WARDS`` are exported as this.
OTHER_WARD = "other"
DEFAULT_WARDS: tuple[str, ...] = ("infusion-centre",)

#: Product label for events of an infusion whose start (and so its product) is not known yet.
UNKNOWN_PRODUCT = "unknown"
#: ``unknown``: neither the event nor the state knew the previous rate.
RATE_CHANGE_DIRECTIONS = ("up", "down", "same", "unknown")
PROCESSING_STAGES = ("ingest", "clinical")
#: Stages whose agents set a failing message aside (``pumpstream_agent_failures_total``).
AGENT_STAGES = ("ingest", "clinical", "alerting")
SKIP_REASONS = ("invalid_on_validated_topic",)
CLINICAL_RULES = tuple(f"R{n}" for n in range(1, 9))
TECHNICAL_RULES = tuple(f"T{n}" for n in range(100))
#: Alerting: one attempt to reach a channel's peer, and a page's final outcome on a channel
#: (``streams/alerting/channels/delivery.py``'s ``DeliveryOutcome``; a unit test keeps them equal).
DELIVERY_RESULTS = ("ok", "error")
DELIVERY_OUTCOMES = ("delivered", "failed", "rejected")
#: Why the alert lifecycle did not apply an input: it changed nothing (re-delivery, immaterial
#: update, unknown alert), or it failed validation on a topic only validated messages reach.
LIFECYCLE_IGNORE_REASONS = ("unchanged", "invalid_on_validated_topic")


def dose_rate_band(dose_rate_mg_kg_min: float | None) -> str:
    """The band a dose rate falls in; ``not_running`` when nothing is running."""
    if dose_rate_mg_kg_min is None or dose_rate_mg_kg_min <= 0:
        return NOT_RUNNING_BAND
    return next(label for label, upper in DOSE_RATE_BANDS if dose_rate_mg_kg_min < upper)


def pain_band(pain_score: int | None) -> str:
    if pain_score is None:
        return UNSCORED_BAND
    return next(label for label, upper in PAIN_BANDS if pain_score <= upper)


def rule_label(rule: str) -> str:
    """The alert's rule id when it is one of the contract's (R1-R8, T0-T99), else ``other``."""
    return rule if rule in CLINICAL_RULES or rule in TECHNICAL_RULES else "other"


def topic_label(topic: str) -> str:
    """A registry topic's name as it is, any other topic (a table's changelog) as ``other``."""
    return topic if topic in _REGISTRY_TOPICS else OTHER_TOPIC


#: The ``record`` label of ``pumpstream_state_changelog_records_total`` and ``..._bytes_total``:
#: the kinds of patient-state changelog records (streams/clinical/state_changelog.py).
STATE_RECORD_KINDS = ("base", "core", "delta", "tombstone")
#: The ``outcome`` label of ``pumpstream_telemetry_readings_total``.
TELEMETRY_OUTCOMES = ("accepted", "dead_lettered", "forwarded", "set_aside")

_REGISTRY_TOPICS = frozenset(t.name for t in ALL_TOPICS)


class WardLabels:
    """Maps a ward to its label: configured wards as they are, any other ward to ``other``."""

    def __init__(self, wards: Iterable[str] = DEFAULT_WARDS) -> None:
        self.wards = tuple(dict.fromkeys(wards))

    def __call__(self, ward: str | None) -> str:
        return ward if ward in self.wards else OTHER_WARD

    @property
    def values(self) -> tuple[str, ...]:
        return (*self.wards, OTHER_WARD)


def allowed_label_values(
    wards: WardLabels, channel_types: Mapping[str, str] | None = None
) -> dict[str, frozenset[str]]:
    """Every value each label name may take, for a worker with these metric wards and roster
    channels (name -> type); the tests hold live scrapes against this."""
    topics = frozenset(t.name for t in ALL_TOPICS)
    channels = channel_types or {}
    return {
        "topic": topics | {OTHER_TOPIC},
        "reason": frozenset(r.value for r in DeadLetterReason)
        | frozenset(SKIP_REASONS)
        | frozenset(LIFECYCLE_IGNORE_REASONS),
        "stage": frozenset((*PROCESSING_STAGES, *AGENT_STAGES)),
        "rule": frozenset((*CLINICAL_RULES, *TECHNICAL_RULES, "other")),
        "priority": frozenset(p.value for p in AlertPriority),
        "phase": frozenset(p.value for p in AlertPhase),
        "product": frozenset(p.value for p in IvigProduct) | {UNKNOWN_PRODUCT},
        "ward": frozenset(wards.values),
        "band": frozenset(
            (*(b for b, _ in DOSE_RATE_BANDS), NOT_RUNNING_BAND, *(b for b, _ in PAIN_BANDS))
        )
        | {UNSCORED_BAND},
        "symptom": frozenset(s.value for s in SymptomKind),
        "direction": frozenset(RATE_CHANGE_DIRECTIONS),
        "response": frozenset(r.value for r in AckResponse),
        "action_taken": frozenset(a.value for a in ActionTaken),
        "kind": frozenset(k.value for k in NotificationKind),
        "result": frozenset(DELIVERY_RESULTS),
        "outcome": frozenset((*DELIVERY_OUTCOMES, *TELEMETRY_OUTCOMES)),
        "record": frozenset(STATE_RECORD_KINDS),
        "channel": frozenset(channels),
        "channel_type": frozenset(channels.values()),
    }
