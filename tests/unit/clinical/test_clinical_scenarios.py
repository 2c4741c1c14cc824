"""Every clinical scenario (tests/support/clinical_scenarios.py) through the clinical step the
agent calls, in the listed arrival order. The same rows run through the real agents on the
embedded broker in tests/integration/test_clinical_scenarios_on_broker.py."""

from __future__ import annotations

import pytest

from tests.support.clinical_scenarios import RULES, Outcome, Scenario, run_steps, scenario_params
from tests.support.events import Patient


@pytest.mark.parametrize(("name", "scenario"), scenario_params())
def test_scenario(name: str, scenario: Scenario) -> None:
    alerts, state = run_steps("pt-unit", scenario.build(Patient("pt-unit")))
    assert Outcome.of(alerts).rules == scenario.rules
    assert len(state.reactions) == scenario.reactions
    assert all(a.rules_version == RULES.version for a in alerts)


def test_there_are_at_least_thirty_situations() -> None:
    assert len(scenario_params()) >= 30
