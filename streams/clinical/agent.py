"""The clinical stage's agent and R5 timer: parse -> load the patient's state -> step
(:func:`streams.clinical.step.clinical_step`) -> store -> observe -> publish alerts and reaction
records."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import faust
from pydantic import ValidationError

from schemas.clinical_timer import QuietStreamCheck
from schemas.dead_letters import DeadLetterReason
from schemas.topics import (
    ALERT_ACKS,
    ALERTS,
    CLINICAL_TIMER,
    CLINICAL_TOPICS,
    PROCESSING_DLQ,
    REACTIONS,
)
from streams.clinical.observer import ClinicalObserver
from streams.clinical.publish_order import in_paging_order
from streams.clinical.quiet_streams import quiet_patients_due
from streams.clinical.reaction_ledger import history
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.step import ClinicalMessage, Step, clinical_step
from streams.kafka.dead_letters import DeadLetter, DeadLetterSink
from streams.kafka.transport import raw_topic
from streams.metrics.families import ClinicalMetrics

log = logging.getLogger(__name__)

#: The Faust table of patient state (its changelog topic is named after it: keep the name).
STATE_TABLE = "patient-state"


def register_clinical(
    app: faust.App,
    rules: RulesConfig,
    metrics: ClinicalMetrics,
    clock: Callable[[], datetime],
    observer: ClinicalObserver,
    quiet_check_interval_s: float,
) -> None:
    """One agent over the validated clinical topics, the nurses' acknowledgements and the reaction
    ledger: all share the patient_ref key and the partition count, so one worker sees all of a
    patient's events and owns their state."""
    state_table = app.Table(STATE_TABLE, default=None, key_type=str, value_type=bytes)
    alerts = raw_topic(app, ALERTS.name)
    reactions = raw_topic(app, REACTIONS.name)
    timer_topic = raw_topic(app, CLINICAL_TIMER.name)
    adapters = {
        spec.name: spec for spec in (*CLINICAL_TOPICS, ALERT_ACKS, REACTIONS, CLINICAL_TIMER)
    }
    source = raw_topic(app, *adapters)
    failures = raw_topic(app, PROCESSING_DLQ.name)
    sink = DeadLetterSink(log)
    grace_s = rules.timing.grace.total_seconds()

    def parse(message: Any) -> ClinicalMessage | None:
        spec = adapters[message.topic]
        assert spec.value_adapter is not None
        try:
            parsed: ClinicalMessage = spec.value_adapter.validate_json(message.value)
        except ValidationError as exc:
            # Ingest validated it: only a producer bypassing ingest or a schema skew between
            # worker versions gets here. Skip it loudly rather than stop the partition.
            log.error(
                "invalid message on validated topic %s[%s]@%s (%d errors); skipped",
                message.topic,
                message.partition,
                message.offset,
                exc.error_count(),
            )
            metrics.skipped.labels(message.topic, "invalid_on_validated_topic").inc()
            return None
        return parsed

    async def publish(state: PatientState, step: Step) -> None:
        key = state.patient_ref.encode()
        for alert in in_paging_order(step.alerts):
            log.info("alert %s %s %s %s", alert.alert_id, alert.rule, alert.phase, alert.priority)
            metrics.flow.events_out.labels(ALERTS.name).inc()
            await alerts.send(key=key, value=alert.model_dump_json().encode())
        for record in step.reactions:
            metrics.reactions.labels(record.rule).inc()
        if step.reactions or step.ledger_changed:
            metrics.flow.events_out.labels(REACTIONS.name).inc()
            await reactions.send(key=key, value=history(state).model_dump_json().encode())

    async def handle(message: Any) -> None:
        started = time.perf_counter()
        topic = message.topic
        parsed = parse(message)
        if parsed is None:
            return
        patient_ref = parsed.patient_ref
        state = PatientState.from_table_value(patient_ref, state_table.get(patient_ref))
        step = clinical_step(state, parsed, rules, clock())
        if step.duplicate:
            metrics.duplicates.labels(topic).inc()
        if step.late:
            metrics.late_events.labels(topic).inc()
        if not step.applied:
            return
        state_table[patient_ref] = state.to_table_value()
        observer.observe(step)
        await publish(state, step)
        metrics.flow.processing.labels("clinical").observe(time.perf_counter() - started)

    async def clinical(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            metrics.flow.events_in.labels(message.topic).inc()
            try:
                await handle(message)
            except Exception as exc:
                # Nothing was stored (the state is stored only after a whole step), so the
                # patient's state is as before this message.
                metrics.flow.agent_failures.labels("clinical").inc()
                metrics.flow.events_out.labels(PROCESSING_DLQ.name).inc()
                letter = DeadLetter(
                    DeadLetterReason.PROCESSING_FAILED,
                    f"{type(exc).__name__} in the clinical step: {exc}",
                    message.topic,
                    message.partition,
                    message.offset,
                )
                await sink.send(failures, message.key, message.value, letter)

    async def quiet_streams_check() -> None:
        """R5 falls due 30 min after slowing even when nothing more arrives for the patient: ask
        the agent to evaluate each patient whose check is due and whose streams have been quiet
        for the grace. A failure is logged and retried at the next tick, never fatal."""
        try:
            now = clock()
            for patient_ref in quiet_patients_due(state_table.items(), rules, now, grace_s):
                check = QuietStreamCheck(patient_ref=patient_ref, horizon=now)
                metrics.flow.events_out.labels(CLINICAL_TIMER.name).inc()
                await timer_topic.send(
                    key=patient_ref.encode(), value=check.model_dump_json().encode()
                )
        except Exception:
            log.exception("quiet-stream check failed; retrying at the next tick")

    app.agent(source, name="clinical")(clinical)
    app.timer(interval=quiet_check_interval_s, name="quiet_streams_check")(quiet_streams_check)
