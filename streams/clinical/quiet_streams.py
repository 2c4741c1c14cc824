"""The R5 timer's question: which patients owe a persistence check that no event will trigger,
because their streams have gone quiet (docs/clinical-rules.md, "R5 is time-driven")."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from streams.clinical.rules_file import RulesConfig
from streams.clinical.state import PatientState
from streams.clinical.symptom_rules import r5_due


def quiet_patients_due(
    table_items: Iterable[tuple[str, bytes | None]],
    rules: RulesConfig,
    now: datetime,
    grace_s: float,
) -> list[str]:
    """Patients (from the state table) with an R5 check due by ``now`` whose streams have been
    quiet for ``grace_s``: the timer asks the agent to evaluate them with ``now`` as horizon."""
    due_refs = []
    quiet_before = now.timestamp() - grace_s
    for patient_ref, value in table_items:
        if not value:
            continue
        document = json.loads(value)  # cheaper than validating every patient on every tick
        if not document.get("episodes"):
            continue
        if (document.get("last_arrival_epoch_s") or 0.0) > quiet_before:
            continue
        state = PatientState.model_validate(document)
        for episode in state.episodes.values():
            due = r5_due(episode, rules)
            if due is not None and not episode.persistence_checked and due <= now:
                due_refs.append(patient_ref)
                break
    return due_refs
