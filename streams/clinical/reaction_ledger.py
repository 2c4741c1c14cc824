"""The reaction ledger (guidance: "Document reaction details to guide management of future
infusions"): a record per ended R1-R3 episode, kept per patient on the compacted ``reactions``
topic and read back by R7."""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.events import SymptomKind
from schemas.reactions import ReactionHistory, ReactionRecord
from streams.clinical.episodes import ClinicalEpisode, EpisodeEnding
from streams.clinical.infusion_state import InfusionState
from streams.clinical.state import PatientState

if TYPE_CHECKING:
    from streams.kafka.connection import KafkaConnection


def reaction_record(
    state: PatientState, infusion: InfusionState, episode: ClinicalEpisode, ending: EpisodeEnding
) -> ReactionRecord:
    """The record of ``episode``, ended by ``ending``: its reaction facts, with the peak pain
    over every back-pain report from its onset to its end."""
    scores = [
        r.pain_score
        for r in state.recent_symptoms
        if r.pain_score is not None
        and r.symptom is SymptomKind.BACK_PAIN
        and episode.onset_time <= r.event_time <= ending.time
    ]
    facts = episode.facts.with_peak_pain(max([*scores, episode.facts.peak_pain or 0]) or None)
    context = infusion.context
    rate = facts.rate_at_onset_ml_h
    if rate is None:
        rate = infusion.rate_ml_h_at(episode.onset_time)
    tolerated = facts.last_tolerated_rate_ml_h
    return ReactionRecord(
        patient_ref=state.patient_ref,
        infusion_id=infusion.infusion_id,
        alert_id=episode.alert_id,
        rule=episode.rule,
        product=context.product,
        concentration_mg_ml=context.concentration_mg_ml,
        rate_at_onset_ml_h=rate,
        dose_rate_at_onset_mg_kg_min=round(context.dose_rate_mg_kg_min(rate), 3),
        minutes_since_rate_step=facts.minutes_since_step,
        peak_pain_score=facts.peak_pain,
        vitals=facts.vitals_at_onset,
        actions_taken=tuple(dict.fromkeys(episode.actions)),
        outcome=ending.outcome[:200],
        onset_time=episode.onset_time,
        ended_time=max(ending.time, episode.onset_time),
        nurse_response=ending.nurse_response,
        last_tolerated_rate_ml_h=tolerated,
        last_tolerated_dose_rate_mg_kg_min=(
            round(context.dose_rate_mg_kg_min(tolerated), 3) if tolerated is not None else None
        ),
    )


def corrected_record(state: PatientState, alert_id: str, ending: EpisodeEnding) -> bool:
    """Correct the record of ``alert_id`` after a late event showed its episode ended otherwise
    (how, when, and the nurse's judgement, which R7 reads); True when there was one."""
    for index, record in enumerate(state.reactions):
        if record.alert_id == alert_id:
            state.reactions[index] = record.model_copy(
                update={
                    "outcome": ending.outcome[:200],
                    "ended_time": max(ending.time, record.onset_time),
                    "nurse_response": ending.nurse_response,
                }
            )
            return True
    return False


def withdrawn_record(state: PatientState, alert_id: str) -> bool:
    """Take the record of ``alert_id`` out: late events showed its episode was no reaction to
    the infusion after all (R7 no longer cites it); True when there was one."""
    kept = [r for r in state.reactions if r.alert_id != alert_id]
    removed = len(kept) != len(state.reactions)
    state.reactions = kept
    return removed


def history(state: PatientState) -> ReactionHistory:
    """The value written to the compacted topic: the patient's whole documented history."""
    return ReactionHistory(patient_ref=state.patient_ref, reactions=tuple(state.reactions))


async def read_history(kafka: KafkaConnection, patient_ref: str) -> ReactionHistory | None:
    """The newest history of ``patient_ref`` on the ``reactions`` topic (read to its end)."""
    from schemas.topics import REACTIONS
    from streams.kafka.reading import read_topic

    key = patient_ref.encode()
    found: ReactionHistory | None = None
    for record in await read_topic(kafka, REACTIONS.name):
        if record.key == key and record.value is not None:
            found = ReactionHistory.model_validate_json(record.value)
    return found
