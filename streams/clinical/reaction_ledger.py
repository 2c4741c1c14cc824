"""The reaction ledger (guidance: "Document reaction details to guide management of future
infusions"): a record per ended R1-R3 episode, kept per patient on the compacted ``reactions``
topic and read back by R7."""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import AckResponse
from schemas.reactions import ReactionHistory, ReactionRecord
from streams.clinical.state import Episode, InfusionState, PatientState


def reaction_record(
    state: PatientState,
    infusion: InfusionState,
    episode: Episode,
    outcome: str,
    ended_time: datetime,
    nurse_response: AckResponse | None,
) -> ReactionRecord:
    context = infusion.context
    rate = episode.rate_at_onset_ml_h
    if rate is None:
        point = infusion.point_at(episode.onset_time)
        rate = point.rate_ml_h if point is not None else 0.0
    tolerated = episode.last_tolerated_rate_ml_h
    return ReactionRecord(
        patient_ref=state.patient_ref,
        infusion_id=infusion.infusion_id,
        alert_id=episode.alert_id,
        rule=episode.rule,
        product=context.product,
        concentration_mg_ml=context.concentration_mg_ml,
        rate_at_onset_ml_h=rate,
        dose_rate_at_onset_mg_kg_min=round(context.dose_rate_mg_kg_min(rate), 3),
        minutes_since_rate_step=episode.minutes_since_step,
        peak_pain_score=episode.peak_pain,
        vitals=episode.vitals_at_onset,
        actions_taken=tuple(dict.fromkeys(episode.actions)),
        outcome=outcome[:200],
        onset_time=episode.onset_time,
        ended_time=max(ended_time, episode.onset_time),
        nurse_response=nurse_response,
        last_tolerated_rate_ml_h=tolerated,
        last_tolerated_dose_rate_mg_kg_min=(
            round(context.dose_rate_mg_kg_min(tolerated), 3) if tolerated is not None else None
        ),
    )


def history(state: PatientState) -> ReactionHistory:
    """The value written to the compacted topic: the patient's whole documented history."""
    return ReactionHistory(patient_ref=state.patient_ref, reactions=tuple(state.reactions))


async def read_history(bootstrap: str, patient_ref: str) -> ReactionHistory | None:
    """The newest history of ``patient_ref`` on the ``reactions`` topic (read to its end)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.topics import REACTIONS
    from streams.kafka.offsets import end_offsets

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(REACTIONS.name)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(REACTIONS.name) or set()
        tps = [TopicPartition(REACTIONS.name, p) for p in sorted(partitions)]
        if not tps:
            return None
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await end_offsets(bootstrap, tps)  # Tansu under-reports the end
        key = patient_ref.encode()
        found: ReactionHistory | None = None
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key == key and record.value is not None:
                        found = ReactionHistory.model_validate_json(record.value)
        return found
    finally:
        await consumer.stop()
