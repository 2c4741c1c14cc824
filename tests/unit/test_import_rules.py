"""The house's import rules hold: stages never import each other, the CLI or the simulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_rules import layer_of, violations

ROOT = Path(__file__).resolve().parents[2]


def test_the_code_follows_the_import_rules() -> None:
    assert [str(v) for v in violations(ROOT)] == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in ("schemas", "streams", "simulators"):
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "imported"),
    [
        pytest.param("streams/clinical/agent.py", "from streams.alerting.lifecycle import on_alert\n",
                     "streams.alerting.lifecycle", id="stage-imports-another-stage"),
        pytest.param("streams/alerting/board.py", "from streams.clinical import state\n",
                     "streams.clinical", id="stage-imports-another-stage-module"),
        pytest.param("streams/ingest/agent.py", "def f():\n    from streams.cli.main import cli\n",
                     "streams.cli.main", id="stage-imports-the-cli-in-a-function"),
        pytest.param("streams/clinical/step.py", "import simulators.clock\n",
                     "simulators.clock", id="stage-imports-the-simulators"),
        pytest.param("streams/app.py", "from streams.cli.local import embedded_broker\n",
                     "streams.cli.local", id="app-imports-the-cli"),
        pytest.param("schemas/events.py", "from streams.settings import Settings\n",
                     "streams.settings", id="schemas-import-streams"),
        pytest.param("streams/kafka/reading.py", "from streams.clinical.state import PatientState\n",
                     "streams.clinical.state", id="plumbing-imports-a-stage"),
        pytest.param("simulators/nurse.py", "from streams.alerting.lifecycle import on_ack\n",
                     "streams.alerting.lifecycle", id="simulator-imports-a-stage"),
        pytest.param("streams/clinical/agent.py", "from ..alerting import lifecycle\n",
                     "streams.alerting", id="relative-import-of-another-stage"),
    ],
)  # fmt: skip
def test_a_forbidden_import_is_reported(
    tmp_path: Path, module: str, source: str, imported: str
) -> None:
    root = _tree(tmp_path, {module: source})
    found = violations(root)
    assert [v.imported for v in found] == [imported]


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "streams/clinical/agent.py": (
                "from schemas.alerts import Alert\nfrom streams.kafka.transport import raw_topic\n"
                "from streams.metrics.families import PipelineMetrics\n"
                "from streams.clinical.step import clinical_step\nimport faust\n"
            ),
            "streams/app.py": "from streams.clinical.agent import register_clinical\n",
            "streams/cli/demo.py": "from simulators.publisher import publish\n",
        },
    )
    assert violations(root) == []


def test_every_module_of_the_house_belongs_to_a_layer() -> None:
    assert layer_of("streams.clinical.step") == "streams.clinical"
    assert layer_of("streams.cli.local.embedded_broker") == "streams.cli"
    assert layer_of("streams.kafka.offsets") == "streams.kafka"
