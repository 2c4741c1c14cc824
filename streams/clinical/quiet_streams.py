"""The R5 timer's question: which patients owe a persistence check that no event will trigger,
because their streams have gone quiet (docs/clinical-rules.md, "R5 is time-driven")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.symptom_rules import r5_due


def quiet_patients_due(
    states: Iterable[tuple[str, PatientState]],
    rules: RulesConfig,
    now: datetime,
    grace_s: float,
) -> list[str]:
    """Patients (the owned states) with an R5 check due by ``now`` whose streams have been quiet
    for ``grace_s``: the timer asks the agent to evaluate them with ``now`` as horizon."""
    due_refs = []
    quiet_before = now.timestamp() - grace_s
    for patient_ref, state in states:
        if not state.episodes:
            continue
        if (state.last_arrival_epoch_s or 0.0) > quiet_before:
            continue
        for episode in state.episodes.values():
            due = r5_due(episode, rules)
            if due is not None and not episode.persistence_checked and due <= now:
                due_refs.append(patient_ref)
                break
    return due_refs
