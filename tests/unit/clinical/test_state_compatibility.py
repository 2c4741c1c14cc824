"""The ``patient-state`` table's values are the same bytes before and after the house move, so a
worker from before it and one after read the same state from the changelog.

``tests/support/data/pre_move_clinical_states.json`` holds, per clinical scenario, the final
table value and every alert the pre-move code (commit 02aad99) produced for the scenario's events
(tests/support/data/README.md says how it was made). Today's code must produce them exactly, the
events run as the clinical agent runs them: load the table value, :func:`clinical_step` (which
stamps the arrival at ``now``), store.

Since arrival order stopped mattering (docs/clinical-rules.md, "Arrival order") the value may
hold fields the recording has not (``ADDED_TABLE_FIELDS``: earlier infusions kept, ended episodes
remembered, the R5 timer's horizon). Each is left out while empty, so a state without them is
the same bytes as before; with them, every recorded field keeps its bytes, and an older worker,
which ignores fields it does not know, reads the rest as it always did.

One deliberate change of wording since the recording (issue 12): R3's pause says why with its own
rationale instead of the back-pain one; the recording's old text is replaced by the new before
comparing (``_TEXT_CHANGES``), and nothing else is.

Since issue 15 the ids of vital-signs sets are no longer remembered in ``seen_event_ids`` (they
are deduplicated by the kept readings themselves), and the sets are kept as compact readings
(``Reading``: event time, id and the valid values R2 reads, a JSON array) under ``readings``
instead of whole ``VitalSigns`` under ``vitals``, the infusion's baseline likewise under
``baseline`` instead of ``baseline_vitals``. ``_as_written_since_issue_15`` makes those three
changes to the recording before comparing, and nothing else; a recorded value still reads back
(its ``vitals`` and ``baseline_vitals`` into the new fields). The other way round, a worker from
before issue 15 reading a new value finds no vital signs and no baseline (it ignores fields it
does not know) until the next readings arrive: it does not fail (docs/architecture.md).

The infusion's ``indication`` and the neurological signs' ``progressive`` flag (issue 12) are
left out of the JSON while unset, so every recorded value still reads back to the same bytes;
the scenario rows that set them (``ROWS_AFTER_THE_RECORDING``) have no recording.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.alerts import AlertType
from streams.clinical.recommendation_texts import pause_for_neurological_signs
from streams.clinical.rules_file import load_rules
from streams.clinical.state import ADDED_TABLE_FIELDS, PatientState
from streams.clinical.step import clinical_step
from tests.support.clinical_scenarios import ROWS_AFTER_THE_RECORDING, SCENARIOS
from tests.support.events import Patient

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
RULES = load_rules()
_TEXT_CHANGES = {
    "Consider pausing the infusion now: neurological symptoms; back pain usually settles 15-30 "
    "min after.": pause_for_neurological_signs().text,
}
_RECORDED = (
    Path(__file__).parents[2] / "support" / "data" / "pre_move_clinical_states.json"
).read_text()
for _old, _new in _TEXT_CHANGES.items():
    _RECORDED = _RECORDED.replace(_old, _new)
REF = "pt-golden"


def _as_written_since_issue_15(state: str, *, read_back: bool = False) -> str:
    """The recorded state as today's code writes it: no vital-signs ids among the seen ids, the
    sets and the baselines as readings (each key renamed in place: the fields kept their order).
    A recorded value ``read_back`` keeps the ids it remembers."""
    value = json.loads(state)
    vitals = {v["event_id"] for v in value["vitals"]}
    assert all(i.startswith(f"{REF}-vitals-") for i in vitals)
    if not read_back:
        value["seen_event_ids"] = [i for i in value["seen_event_ids"] if i not in vitals]
    value = _renamed(value, "vitals", "readings", [_reading(v) for v in value["vitals"]])
    if value["infusion"] is not None:
        value["infusion"] = _with_baseline(value["infusion"])
    if "earlier_infusions" in value:
        value["earlier_infusions"] = [_with_baseline(i) for i in value["earlier_infusions"]]
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _renamed(value: dict[str, Any], old: str, new: str, content: Any) -> dict[str, Any]:
    return {new if key == old else key: content if key == old else v for key, v in value.items()}


def _with_baseline(infusion: dict[str, Any]) -> dict[str, Any]:
    baseline = infusion["baseline_vitals"]
    return _renamed(infusion, "baseline_vitals", "baseline", baseline and _reading(baseline))


def _reading(vitals: dict[str, Any]) -> list[Any]:
    """A recorded ``VitalSigns`` as a reading: time, id, and the valid values R2 reads."""
    values = []
    for name in ("heart_rate_bpm", "systolic_mmhg", "temperature_c", "spo2_percent"):
        measurement = vitals[name]
        valid = measurement is not None and measurement["validity"] == "valid"
        values.append(measurement["value"] if valid else None)
    return [vitals["event_time"], vitals["event_id"], *values]


GOLDEN: dict[str, Any] = json.loads(_RECORDED)


def test_every_scenario_has_a_recorded_pre_move_state() -> None:
    """But the rows using the infusion's indication or the progressive flag (issue 12), which
    the pre-move code refused as unknown fields."""
    assert sorted(GOLDEN) == sorted(set(SCENARIOS) - ROWS_AFTER_THE_RECORDING)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_same_events_give_the_same_table_value_and_alerts(name: str) -> None:
    state = PatientState(patient_ref=REF)
    alerts: list[str] = []
    for event in SCENARIOS[name].build(Patient(REF)):
        state = PatientState.from_table_value(REF, state.to_table_value())
        step = clinical_step(state, event, RULES, NOW)
        # Technical alerts (blind_spots.py) came after the recording.
        alerts += [a.model_dump_json() for a in step.alerts if a.type is not AlertType.TECHNICAL]
    assert alerts == GOLDEN[name]["alerts"]
    recorded = _as_written_since_issue_15(GOLDEN[name]["state"])
    assert state.model_dump_json(exclude=set(ADDED_TABLE_FIELDS)) == recorded
    added = json.loads(state.to_table_value()).keys() - json.loads(recorded).keys()
    assert added <= set(ADDED_TABLE_FIELDS)
    if not added:
        assert state.to_table_value().decode() == recorded


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_pre_move_table_value_reads_back_unchanged(name: str) -> None:
    value = GOLDEN[name]["state"]
    written = PatientState.from_table_value(REF, value.encode()).to_table_value()
    assert written.decode() == _as_written_since_issue_15(value, read_back=True)
