"""The clinical stage's agent and R5 timer: parse -> the patient's state (in memory,
``state_store``) -> step (:func:`streams.clinical.step.clinical_step`) -> mark dirty -> observe
-> publish alerts and reaction records (buffered; a commit's checkpoint waits for them).

A worker that runs every stage reads the raw clinical topics here, validating each event with
ingest's rules (:mod:`streams.clinical.raw_intake`): one Faust hop per event instead of ingest ->
validated topic -> clinical. The validated topics are still written (their contract); split
workers (``PUMPSTREAM_WORKER_ROLE``) keep the two hops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from schemas.clinical_timer import QuietStreamCheck
from schemas.dead_letters import DeadLetterReason
from schemas.events import VitalSigns
from schemas.raw_validation import Rejected
from schemas.telemetry import TelemetryBatch
from schemas.topics import (
    ALERT_ACKS,
    ALERTS,
    CLINICAL_TIMER,
    CLINICAL_TOPICS,
    PROCESSING_DLQ,
    REACTIONS,
    TELEMETRY_RAW,
    VALIDATED_TOPIC,
    TopicSpec,
)
from streams.clinical.observer import ClinicalObserver
from streams.clinical.publish_order import in_paging_order
from streams.clinical.quiet_streams import quiet_patients_due
from streams.clinical.raw_intake import HEADER_FORWARDED_FROM, Misrouted, RawIntake, read_raw
from streams.clinical.reaction_ledger import history
from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.state_store import register_checkpoints
from streams.clinical.step import (
    ClinicalMessage,
    Step,
    clinical_step,
    readings_step,
    vitals_step,
)
from streams.clinical.telemetry import read_batch, sent_readings
from streams.kafka.acking import handled
from streams.kafka.batched_sends import BatchedSends
from streams.kafka.bulk_recovery import BULK_RECOVERY_STORE
from streams.kafka.dead_letters import DeadLetter, DeadLetterSink, processing_failure
from streams.kafka.transport import PumpstreamApp, raw_topic
from streams.metrics.families import ClinicalMetrics

log = logging.getLogger(__name__)

#: The Faust table of patient state (its changelog topic is named after it: keep the name).
STATE_TABLE = "patient-state"


class _RawTopic(NamedTuple):
    """A raw clinical topic the clinical agent reads itself, with what it writes for it (its
    series looked up once: ``labels`` costs ~1 us a call)."""

    spec: TopicSpec
    #: The validated topic (its copies go in produce batches: ``BatchedSends``).
    validated_name: str
    #: Its dead-letter topic, and the raw topic itself (for an event sent on to its patient's
    #: partition).
    itself: Any
    dead_letters: Any
    #: ``pumpstream_events_out_total`` of the validated topic.
    copied: Any


def register_clinical(
    app: PumpstreamApp,
    rules: RulesConfig,
    metrics: ClinicalMetrics,
    clock: Callable[[], datetime],
    observer: ClinicalObserver,
    quiet_check_interval_s: float,
    intake: RawIntake,
) -> None:
    """Two agents over one patient state: ``clinical`` over the validated clinical topics, the
    nurses' acknowledgements, the reaction ledger and the timer, ``clinical_telemetry`` over the
    telemetry batches. All share the partition count, and every record of a patient lands on the
    patient's partition, so one worker sees all of a patient's events and owns their state.

    Two agents, so that a clinical event does not queue behind telemetry: each agent has its own
    buffer (``stream_buffer_maxsize`` events), and with one agent a back-pain report waited
    behind every buffered envelope (hundreds of readings each) whenever the worker fell behind
    for a moment (docs/benchmarks.md, "Report -> alert under load"). Both run on the worker's
    one event loop and neither yields between reading a patient's state and storing it, so
    they never interleave within a patient's step; the order between a patient's telemetry and
    clinical events was already the broker's (different topics), and the rules work on event
    time whatever the arrival order."""
    state_table = app.Table(
        STATE_TABLE, default=None, key_type=str, value_type=bytes, store=BULK_RECOVERY_STORE
    )

    def counted(kind: str, size: int) -> None:
        metrics.state_records.labels(record=kind).inc()
        metrics.state_bytes.labels(record=kind).inc(size)

    states = register_checkpoints(app, state_table, counted)
    # The validated copies of raw events, many to a produce batch (one Faust send each was
    # about half an unbatched event's cost); a checkpoint hands them over first.
    copies = BatchedSends(app, states.sent)
    states.before_outputs.append(copies.flush)
    alerts = raw_topic(app, ALERTS.name)
    reactions = raw_topic(app, REACTIONS.name)
    timer_topic = raw_topic(app, CLINICAL_TIMER.name)
    # The raw clinical topics, read and validated here, or (split stages) the validated ones.
    raw_topics = {
        spec.name: _RawTopic(
            spec,
            VALIDATED_TOPIC[spec.name].name,
            raw_topic(app, spec.name),
            raw_topic(app, spec.dlq or ""),
            metrics.flow.events_out.labels(VALIDATED_TOPIC[spec.name].name),
        )
        for spec in intake.raw_topics
    }
    parsed_topics = () if raw_topics else CLINICAL_TOPICS
    adapters = {spec.name: spec for spec in (*parsed_topics, ALERT_ACKS, REACTIONS, CLINICAL_TIMER)}
    source = raw_topic(app, *raw_topics, *adapters)
    telemetry_raw = raw_topic(app, TELEMETRY_RAW.name)
    assert TELEMETRY_RAW.dlq is not None
    telemetry_dlq = raw_topic(app, TELEMETRY_RAW.dlq)
    failures = raw_topic(app, PROCESSING_DLQ.name)
    sink = DeadLetterSink(log)
    grace_s = rules.timing.grace.total_seconds()
    # The telemetry path's series, looked up once (per patient, ``labels`` cost ~1 us each).
    telemetry_duplicates = metrics.duplicates.labels(TELEMETRY_RAW.name)
    telemetry_late = metrics.late_events.labels(TELEMETRY_RAW.name)
    readings_accepted = metrics.telemetry_readings.labels("accepted")

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

    def publish(state: PatientState, step: Step) -> None:
        """Into the producer's buffer, without yielding (see ``state_store``): the commit that
        checkpoints this step's state waits for their delivery first."""
        key = state.patient_ref.encode()
        for alert in in_paging_order(step.alerts):
            log.info("alert %s %s %s %s", alert.alert_id, alert.rule, alert.phase, alert.priority)
            metrics.flow.events_out.labels(ALERTS.name).inc()
            states.sent(alerts.send_soon(key=key, value=alert.model_dump_json().encode()))
        for record in step.reactions:
            metrics.reactions.labels(record.rule).inc()
        if step.reactions or step.ledger_changed:
            metrics.flow.events_out.labels(REACTIONS.name).inc()
            states.sent(
                reactions.send_soon(key=key, value=history(state).model_dump_json().encode())
            )

    def handle(parsed: ClinicalMessage, topic: str, partition: int) -> None:
        """``parsed`` (an event of the validated ``topic``) stepped on the patient's state."""
        in_place = False
        if isinstance(parsed, VitalSigns):
            in_place = True
            # A reading alone is a telemetry batch of one: applied in place, the rules run only
            # when it can change what they call for (``vitals_step``, which calls for what
            # ``clinical_step`` would: tests/unit/clinical/test_vitals_batches.py). As on
            # telemetry.raw, what a failing step changed stays (so the patient is dirty first)
            # and the reading is set aside.
            state = states.get(parsed.patient_ref)
            states.mark_dirty(parsed.patient_ref, partition)
            step = vitals_step(state, (parsed,), rules, clock())
        else:
            # A working copy, kept only when the step succeeds: a message the rules raise on
            # leaves the patient's state as it was, so it cannot poison the patient's next
            # events.
            state = states.get(parsed.patient_ref).working_copy()
            step = clinical_step(state, parsed, rules, clock())
        if step.duplicate:
            metrics.duplicates.labels(topic).inc()
        if step.late:
            metrics.late_events.labels(topic).inc()
        if not step.applied:
            return
        if not in_place:
            states.put(state)
            states.mark_dirty(state.patient_ref, partition)
        observer.observe(step)
        publish(state, step)

    async def take_raw(message: Any, raw: _RawTopic) -> ClinicalMessage | None:
        """A raw clinical event, with ingest's rules: a rejected one to its raw topic's
        dead-letter topic, a misrouted one on to its patient's partition, and a valid one to
        its validated topic (in a produce batch: the commit waits for it) and back."""
        outcome = read_raw(
            raw.spec,
            message.key,
            message.value,
            partition=message.partition,
            partitions=intake.partitions,
            arrival=clock(),
            limits=intake.limits,
        )
        if isinstance(outcome, Rejected):
            await dead_letter(
                raw.dead_letters, raw.spec, message, message.value, outcome.reason, outcome.detail
            )
            return None
        if isinstance(outcome, Misrouted):
            metrics.flow.events_out.labels(raw.spec.name).inc()
            await raw.itself.send(
                key=outcome.key,
                value=message.value,
                partition=outcome.owner,
                headers={HEADER_FORWARDED_FROM: f"{message.partition}@{message.offset}".encode()},
            )
            return None
        raw.copied.inc()
        copies.add(raw.validated_name, message.partition, outcome.key, outcome.value)
        event: ClinicalMessage = outcome.event
        return event

    async def dead_letter(
        topic: Any,
        spec: TopicSpec,
        message: Any,
        value: bytes | None,
        reason: DeadLetterReason,
        detail: str,
    ) -> None:
        """``value`` (of ``message``, a message of ``spec``'s raw topic) to its dead-letter
        topic, counted as ingest counts its own."""
        intake.dead_letters.labels(spec.name, reason.value).inc()
        metrics.flow.events_out.labels(spec.dlq).inc()
        letter = DeadLetter(reason, detail, message.topic, message.partition, message.offset)
        await sink.send(topic, message.key, value, letter)

    async def handle_telemetry(message: Any) -> None:
        """A batch of readings: dead letters and readings of other partitions first (they may
        wait for the broker), then each patient's readings in one step, without yielding."""
        started = time.perf_counter()
        where = {
            "partition": message.partition,
            "partitions": intake.partitions,
            "arrival": clock(),
            "limits": intake.limits,
        }
        reading = read_batch(message.value, **where)
        readings = metrics.telemetry_readings
        for rejected in reading.rejected:
            readings.labels("dead_lettered").inc()
            await dead_letter(
                telemetry_dlq, TELEMETRY_RAW, message, rejected.value, rejected.reason,
                rejected.detail,
            )  # fmt: skip
        for owner, vitals in reading.elsewhere.items():
            readings.labels("forwarded").inc(len(vitals))
            metrics.flow.events_out.labels(TELEMETRY_RAW.name).inc()
            forwarded = TelemetryBatch(batch_id=f"{reading.batch_id or 'batch'}.p{owner}",
                                       vitals=vitals)  # fmt: skip
            await telemetry_raw.send(
                key=message.key, value=forwarded.model_dump_json().encode(), partition=owner
            )
        failed: list[tuple[str, int, Exception]] = []
        now = clock()
        for patient_ref, readings_of_patient in reading.by_patient.items():
            try:
                # Readings are applied in place (no copy: the common case is a few list
                # operations); they passed read_batch's schema and time window. What a failing
                # step changed stays, and this batch's readings of the patient are set aside.
                state = states.get(patient_ref)
                states.mark_dirty(patient_ref, message.partition)
                step = readings_step(state, readings_of_patient, rules, now)
                if step.duplicate_count:
                    telemetry_duplicates.inc(step.duplicate_count)
                if step.late_count:
                    telemetry_late.inc(step.late_count)
                if step.applied:
                    observer.observe(step)
                    publish(state, step)
            except Exception as exc:
                failed.append((patient_ref, len(readings_of_patient), exc))
        readings_accepted.inc(reading.accepted - sum(count for _, count, _ in failed))
        for patient_ref, count, error in failed:
            # One patient's failure costs only that patient's readings, kept whole, as sent.
            readings.labels("set_aside").inc(count)
            vitals = sent_readings(message.value, patient_ref, **where)
            kept = TelemetryBatch(batch_id=reading.batch_id or "batch", vitals=vitals)
            await set_aside(
                message,
                error,
                patient_ref.encode(),
                kept.model_dump_json().encode(),
                f" (batch {reading.batch_id!r})",
            )
        metrics.flow.processing.labels("clinical").observe(time.perf_counter() - started)

    async def set_aside(
        message: Any, error: Exception, key: bytes | None, value: bytes | None, where: str = ""
    ) -> None:
        """``value`` to ``processing.dlq`` with the exception that stopped the clinical step."""
        metrics.flow.agent_failures.labels("clinical").inc()
        metrics.flow.events_out.labels(PROCESSING_DLQ.name).inc()
        letter = processing_failure(message, error, f"the clinical step{where}")
        await sink.send(failures, key, value, letter)

    async def clinical(stream: Any) -> None:
        processing = metrics.flow.processing.labels("clinical")
        async for event in handled(stream):
            started = time.perf_counter()
            message = event.message
            topic = message.topic
            metrics.flow.events_in.labels(topic).inc()
            try:
                raw = raw_topics.get(topic)
                if raw is not None:
                    parsed, topic = await take_raw(message, raw), raw.validated_name
                else:
                    parsed = parse(message)
                if parsed is not None:
                    handle(parsed, topic, message.partition)
                    processing.observe(time.perf_counter() - started)
            except Exception as exc:
                # The message is kept whole in processing.dlq. A step on a working copy left
                # the patient's state as before it; a reading's (in place) keeps what it did.
                await set_aside(message, exc, message.key, message.value)

    async def clinical_telemetry(stream: Any) -> None:
        async for event in handled(stream):
            message = event.message
            metrics.flow.events_in.labels(message.topic).inc()
            try:
                await handle_telemetry(message)
            except Exception as exc:
                # A failure outside a patient's step (handle_telemetry sets those aside per
                # patient): the envelope is kept whole in processing.dlq.
                await set_aside(message, exc, message.key, message.value)
            # Let the clinical agent in: with envelopes buffered, this loop would otherwise run
            # through all of them (milliseconds each) before a waiting report is stepped
            # (docs/benchmarks.md, "Report -> alert under load").
            await asyncio.sleep(0)

    async def quiet_streams_check() -> None:
        """R5 falls due 30 min after slowing even when nothing more arrives for the patient: ask
        the agent to evaluate each patient whose check is due and whose streams have been quiet
        for the grace. A failure is logged and retried at the next tick, never fatal."""
        try:
            now = clock()
            for patient_ref in quiet_patients_due(states.items(), rules, now, grace_s):
                check = QuietStreamCheck(patient_ref=patient_ref, horizon=now)
                metrics.flow.events_out.labels(CLINICAL_TIMER.name).inc()
                await timer_topic.send(
                    key=patient_ref.encode(), value=check.model_dump_json().encode()
                )
        except Exception:
            log.exception("quiet-stream check failed; retrying at the next tick")

    app.agent(source, name="clinical")(clinical)
    app.agent(telemetry_raw, name="clinical_telemetry")(clinical_telemetry)
    app.timer(interval=quiet_check_interval_s, name="quiet_streams_check")(quiet_streams_check)
