"""One step of the clinical stage: what one message does to one patient's state.

:func:`clinical_step` is the whole of the clinical agent's logic, pure (no Faust, no I/O, the
time passed in): apply the message, judge lateness, run the rules, and say what happened in a
:class:`Step`. The agent loads the state before it and stores, observes and publishes after it;
the unit tests and ``pumpstream bench rules`` call the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.alerts import Alert
from schemas.clinical_timer import QuietStreamCheck
from schemas.events import InfusionStarted, SymptomKind, SymptomReport, VitalSigns
from schemas.reactions import ReactionHistory, ReactionRecord
from streams.clinical.blind_spots import pump_may_fall_silent, technical_alerts
from streams.clinical.correlator import evaluate
from streams.clinical.infusion_snapshot import InfusionSnapshot, dose_rate_at
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import (
    ClinicalEventModel,
    PatientState,
    PumpEventModel,
    apply_event,
    apply_reading,
    settle_readings,
)
from streams.clinical.vitals_assessment import Reading

#: Everything the clinical agent reads: clinical events and nurses' acknowledgements, the
#: reaction ledger read back, and the R5 timer's checks.
ClinicalMessage = ClinicalEventModel | ReactionHistory | QuietStreamCheck


@dataclass(frozen=True, slots=True)
class Step:
    """What one message did to a patient's state."""

    #: The state changed: the caller stores it and publishes the alerts and reactions.
    applied: bool
    #: The patient's infusion before and after the step (for the metrics); None for a step of
    #: vital signs (:func:`vitals_step`), which never change an infusion's rate, status or
    #: context, and whose readings the metrics count without them.
    before: InfusionSnapshot | None
    after: InfusionSnapshot | None
    #: An event already applied (same ``event_id``): nothing changed.
    duplicate: bool = False
    #: An event older than the grace behind the patient's newest event time (it still counts).
    late: bool = False
    alerts: tuple[Alert, ...] = ()
    #: Reactions newly documented in the ledger.
    reactions: tuple[ReactionRecord, ...] = ()
    #: The clinical event the metrics count; None when they count only the alerts (a timer
    #: check, the ledger read back, a duplicate).
    observed: ClinicalEventModel | None = None
    #: For a back-pain report, the dose rate running at its event time (the metrics band it);
    #: None for every other message, which saves the lookup on the per-event path.
    event_dose_rate_mg_kg_min: float | None = None
    #: A documented reaction was corrected (a late event showed its episode ended otherwise):
    #: the ledger is rewritten even when ``reactions`` is empty.
    ledger_changed: bool = False
    #: Of a batch of vital signs (:func:`vitals_step`): how many were late.
    late_count: int = 0
    #: Of a batch of vital signs: how many were applied already (read again after a rebalance
    #: or a restart, under at-least-once).
    duplicate_count: int = 0


def _is_back_pain(event: ClinicalEventModel) -> bool:
    return isinstance(event, SymptomReport) and event.symptom is SymptomKind.BACK_PAIN


def _concerns_earlier_infusions(state: PatientState, message: ClinicalMessage | Reading) -> bool:
    """Whether ``message`` may change what an infusion before the current one calls for: an
    infusion's start (it bounds the others), the ledger (R7 of each), a pump event of an earlier
    infusion, any event older than the current infusion's start; or an episode of an earlier
    infusion is still open. Otherwise only the current infusion is judged (the usual case)."""
    current = state.infusion
    if not state.earlier_infusions or current is None:
        return False
    if isinstance(message, InfusionStarted | ReactionHistory):
        return True
    if any(e.infusion_id != current.infusion_id for e in state.episodes.values()):
        return True
    if isinstance(message, QuietStreamCheck):
        return False
    if getattr(message, "infusion_id", None) not in (None, current.infusion_id):
        return True
    return message.event_time < current.started_at


def clinical_step(
    state: PatientState, message: ClinicalMessage, rules: RulesConfig, now: datetime
) -> Step:
    """Apply ``message`` to ``state`` in place and run the rules; ``now`` stamps the alerts and
    the patient's arrival time (``last_arrival_epoch_s``, read by the R5 timer)."""
    before = InfusionSnapshot.of(state)
    if isinstance(message, QuietStreamCheck):
        evaluation = evaluate(
            state,
            rules,
            now,
            horizon=message.horizon,
            earlier_infusions=_concerns_earlier_infusions(state, message),
        )
    elif isinstance(message, ReactionHistory):
        # The ledger, read back (ours, or documented elsewhere): R7 reads it.
        if not state.merge_reactions(list(message.reactions)):
            return Step(applied=False, before=before, after=before)
        evaluation = evaluate(state, rules, now)
    else:
        watermark = state.watermark
        if not apply_event(state, message, rules):
            return Step(applied=False, before=before, after=before, duplicate=True)
        state.last_arrival_epoch_s = now.timestamp()
        if isinstance(message, VitalSigns):
            state.last_vitals_arrival_epoch_s = now.timestamp()
        elif isinstance(message, PumpEventModel):
            state.last_pump_arrival_epoch_s = now.timestamp()
        lag = watermark - message.event_time if watermark is not None else None
        if lag is not None and lag > rules.timing.grace:
            state.note_late_arrival(message.event_id, round(lag.total_seconds() / 60, 1))
        evaluation = evaluate(
            state, rules, now, earlier_infusions=_concerns_earlier_infusions(state, message)
        )
        return Step(
            applied=True,
            before=before,
            after=InfusionSnapshot.of(state),
            late=lag is not None and lag > rules.timing.grace,
            alerts=(
                *evaluation.alerts,
                *technical_alerts(state, now, rules),
            ),
            reactions=tuple(evaluation.reactions),
            ledger_changed=evaluation.ledger_changed,
            observed=message,
            event_dose_rate_mg_kg_min=(
                dose_rate_at(state, message.event_time) if _is_back_pain(message) else None
            ),
        )
    return Step(
        applied=True,
        before=before,
        after=InfusionSnapshot.of(state),
        alerts=tuple(evaluation.alerts),
        reactions=tuple(evaluation.reactions),
        ledger_changed=evaluation.ledger_changed,
    )


def vitals_step(
    state: PatientState, vitals: Sequence[VitalSigns], rules: RulesConfig, now: datetime
) -> Step:
    """:func:`readings_step` of ``VitalSigns`` events (a reading alone, on ``vitals.raw``)."""
    return readings_step(state, [Reading.of(v) for v in vitals], rules, now)


def readings_step(
    state: PatientState, readings: Sequence[Reading], rules: RulesConfig, now: datetime
) -> Step:
    """Apply one patient's vital-sign sets from a telemetry batch, as the state keeps them
    (telemetry is read straight into them: ``telemetry.py``). The rules run only for a
    reading that can change what they call for (:func:`_vitals_can_matter`), and then as if it
    had come alone, so a batch calls for exactly what its readings one by one would; any other
    reading is a few list operations, whatever the length of the infusion. The step carries no
    snapshots: readings do not change what they hold (tests/unit/clinical/test_vitals_batches.py).
    """
    grace = rules.timing.grace
    applied = late_count = 0
    alerts: list[Alert] = []
    reactions: list[ReactionRecord] = []
    ledger_changed = False
    deferred: list[datetime] = []  # (apply_reading's: settled before the sets are read)
    for reading in readings:
        watermark = state.watermark
        if not apply_reading(state, reading, rules, deferred):
            continue
        applied += 1
        if watermark is not None and watermark - reading.event_time > grace:
            late_count += 1
            lag_min = (watermark - reading.event_time).total_seconds() / 60
            state.note_late_arrival(reading.event_id, round(lag_min, 1))
        if not _vitals_can_matter(state, reading, watermark, rules):
            continue
        settle_readings(state, rules, deferred)
        evaluation = evaluate(
            state, rules, now, earlier_infusions=_concerns_earlier_infusions(state, reading)
        )
        alerts += evaluation.alerts
        reactions += evaluation.reactions
        ledger_changed = ledger_changed or evaluation.ledger_changed
    settle_readings(state, rules, deferred)
    if not applied:
        return Step(
            applied=False, before=None, after=None, duplicate=True, duplicate_count=len(readings)
        )
    state.last_arrival_epoch_s = state.last_vitals_arrival_epoch_s = now.timestamp()
    pump_quiet_s = now.timestamp() - (state.last_pump_arrival_epoch_s or now.timestamp())
    if (
        state.technical_alerts
        or state.unmatched_pump_facts
        or (pump_quiet_s >= rules.technical.pump_silent_min * 60 and pump_may_fall_silent(state))
    ):
        # Readings end a silent-monitor alert (T2), or move time on for a missing start (T1)
        # or a silent pump (T3; only one that reports its status can fall silent); otherwise
        # they cannot change a technical alert.
        alerts += technical_alerts(state, now, rules)
    return Step(
        applied=True,
        before=None,
        after=None,
        late=late_count > 0,
        late_count=late_count,
        duplicate_count=len(readings) - applied,
        alerts=tuple(alerts),
        reactions=tuple(reactions),
        ledger_changed=ledger_changed,
    )


def _vitals_can_matter(
    state: PatientState, reading: Reading, watermark: datetime | None, rules: RulesConfig
) -> bool:
    """Whether a reading just applied can change any rule's finding. Vital signs act only
    through R2 (abnormal readings within its window of a symptom report) and as the evidence of
    open episodes; a reading older than the patient's newest event may also move an infusion's
    baseline or an ended episode's R5 check. Otherwise the rules would find what they found."""
    if state.infusion is None:
        return False  # nothing is judged before an infusion starts (its start re-judges)
    if state.episodes:
        return True
    when = reading.event_time
    if watermark is None or when < watermark:
        return True
    window = rules.r2.vitals_window
    for report in reversed(state.recent_symptoms):  # sorted by event time
        if report.event_time > when + window:
            continue
        return report.event_time >= when - window
    return False
