"""Every clinical scenario (tests/support/clinical_scenarios.py) through the pure state and rule
functions the clinical agent calls, in the listed arrival order. The same rows run through the
real agents on the embedded broker in tests/integration/test_clinical_scenarios_on_broker.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.alerts import Alert
from streams.clinical.correlator import evaluate
from streams.clinical.rules_file import load_rules
from streams.clinical.state import PatientState, apply_event
from tests.support.clinical_scenarios import Outcome, Patient, Scenario, scenario_params

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
RULES = load_rules()


def run(scenario: Scenario, ref: str = "pt-unit") -> tuple[list[Alert], PatientState]:
    state = PatientState(patient_ref=ref)
    alerts: list[Alert] = []
    for event in scenario.build(Patient(ref)):
        if apply_event(state, event):
            alerts += evaluate(state, RULES, NOW).alerts
    return alerts, state


@pytest.mark.parametrize(("name", "scenario"), scenario_params())
def test_scenario(name: str, scenario: Scenario) -> None:
    alerts, state = run(scenario)
    assert Outcome.of(alerts).rules == scenario.rules
    assert len(state.reactions) == scenario.reactions
    assert all(a.rules_version == RULES.version for a in alerts)


def test_there_are_at_least_thirty_situations() -> None:
    assert len(scenario_params()) >= 30
