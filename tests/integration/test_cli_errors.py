"""Every operational mistake ends the real CLI with one line on stderr naming the cause and what
to do, a non-zero exit and no traceback (``--debug`` shows it); progress bars keep output clean.

An unreachable broker is a closed free port; "Kafka" for a check that must get past the
reachability probe is a listening socket; only the nurse-station case and the progress cases start
a real broker.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.ground_truth import GroundTruth
from simulators.recording import write_recording
from simulators.sim_event import SimEvent
from streams.cli.local.embedded_broker import LOOPBACK, EmbeddedBroker, free_port
from tests.integration.test_broker_cli import PUMPSTREAM, cli_env
from tests.support.alerting import write_roster

pytestmark = pytest.mark.integration

KAFKA_FIX = "start the broker (`pumpstream broker`) or fix PUMPSTREAM_KAFKA_BOOTSTRAP"
TOKEN = "a-token-of-at-least-16-characters"


def run(*args: str, timeout_s: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PUMPSTREAM, *args],
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=timeout_s,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one line a failed command printed on stderr (asserting there is exactly one)."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_bootstrap() -> str:
    return f"{LOOPBACK}:{free_port()}"


@pytest.fixture
def listener() -> Iterator[int]:
    """A port something listens on (and never answers): taken, yet "reachable"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def write_small_recording(directory: Path) -> Path:
    events = [
        SimEvent(0.0, "pump.events.raw", b"p-1", b'{"kind":"infusion_started"}', "start"),
        SimEvent(0.1, "vitals.raw", b"p-1", b'{"kind":"vitals"}'),
        SimEvent(0.2, "symptoms.raw", b"p-1", b'{"kind":"symptom"}', "back pain 6/10"),
        SimEvent(0.3, "pump.events.raw", b"p-1", b'{"kind":"rate_changed"}'),
        SimEvent(0.4, "vitals.raw", b"p-1", b"not json"),
    ]
    write_recording(directory, events)
    return directory


def write_truth(path: Path) -> Path:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    GroundTruth(
        scenario="t", seed=1, start=at, end=at, infusions=0, patients_with_chronic_back_pain=0,
        labels=(),
    ).write(path)  # fmt: skip
    return path


# -- an unreachable broker ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["worker"], id="worker"),
        pytest.param(["topics", "create"], id="topics-create"),
        pytest.param(["simulate", "--live"], id="simulate-live"),
        pytest.param(["replay", "{recording}"], id="replay"),
        pytest.param(["evaluate", "--truth", "{truth}"], id="evaluate"),
        pytest.param(["load", "--duration-s", "1"], id="load"),
        pytest.param(["reactions", "show", "p-1"], id="reactions-show"),
    ],
)
def test_an_unreachable_broker_is_one_line_naming_it_and_the_fix(
    command: list[str], tmp_path: Path
) -> None:
    recording = write_small_recording(tmp_path / "recording")
    truth = write_truth(tmp_path / "truth.json")
    args = [a.format(recording=recording, truth=truth) for a in command]
    bootstrap = closed_bootstrap()
    line = error_line(
        run(*args, PUMPSTREAM_KAFKA_BOOTSTRAP=bootstrap, PUMPSTREAM_DATA_DIR=str(tmp_path))
    )
    assert f"cannot reach Kafka at {bootstrap}" in line
    assert "Connection refused" in line
    assert KAFKA_FIX in line


# -- a port in use --------------------------------------------------------------------------------


def test_the_worker_metrics_port_in_use(listener: int, tmp_path: Path) -> None:
    line = error_line(
        run(
            "worker",
            PUMPSTREAM_KAFKA_BOOTSTRAP=f"{LOOPBACK}:{listener}",
            PUMPSTREAM_METRICS_PORT=str(listener),
            PUMPSTREAM_DATA_DIR=str(tmp_path),
        )
    )
    assert f"port {listener} on {LOOPBACK} is already in use" in line
    assert "set PUMPSTREAM_METRICS_PORT to a free port" in line


def test_the_embedded_broker_port_in_use(listener: int, tmp_path: Path) -> None:
    line = error_line(run("broker", "--port", str(listener), PUMPSTREAM_DATA_DIR=str(tmp_path)))
    assert f"port {listener} on {LOOPBACK} is already in use" in line
    assert "choose another with --port or omit it" in line


def test_the_nurse_station_port_in_use_inside_the_faust_worker(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The nurse station binds when Faust starts its services; Faust would log the error with its
    traceback and exit 1: the CLI reports it like every other mistake."""
    taken = broker.port
    line = error_line(
        run(
            "worker",
            PUMPSTREAM_KAFKA_BOOTSTRAP=broker.bootstrap,
            PUMPSTREAM_METRICS_PORT="0",
            PUMPSTREAM_DATA_DIR=str(tmp_path / "data"),
            PUMPSTREAM_ALERTING_CONFIG=str(write_roster(tmp_path / "roster.toml")),
            PUMPSTREAM_ACK_TOKEN=TOKEN,
            PUMPSTREAM_NURSE_STATION_PORT=str(taken),
            timeout_s=60,
        )
    )
    assert f"port {taken} on {LOOPBACK} is already in use (the nurse station)" in line
    assert "set PUMPSTREAM_NURSE_STATION_PORT to a free port" in line


# -- a missing or malformed file ------------------------------------------------------------------


def _not_json(path: Path) -> Path:
    path.write_text("no json here\n", encoding="utf-8")
    return path


def _not_toml(path: Path) -> Path:
    path.write_text("x = = 1\n", encoding="utf-8")
    return path


TRUTH_FIX = "give the truth.json that `pumpstream simulate --out DIR` wrote"
RULES_FIX = "point PUMPSTREAM_RULES_FILE at a valid rules TOML file"
ROSTER_FIX = "point PUMPSTREAM_ALERTING_CONFIG at a valid on-call roster"
RECORDING_FIX = "give a directory written by `pumpstream simulate --out DIR`"
SCENARIO_FIX = "--scenario takes a shipped scenario name or the path of a scenario TOML file"


def test_evaluate_truth_missing(tmp_path: Path) -> None:
    missing = tmp_path / "truth.json"
    line = error_line(run("evaluate", "--truth", str(missing), "--bootstrap", closed_bootstrap()))
    assert f"--truth {missing}: no such file" in line
    assert TRUTH_FIX in line


def test_evaluate_truth_not_json(tmp_path: Path) -> None:
    truth = _not_json(tmp_path / "truth.json")
    line = error_line(run("evaluate", "--truth", str(truth), "--bootstrap", closed_bootstrap()))
    assert f"--truth {truth}: not JSON" in line
    assert TRUTH_FIX in line


def test_evaluate_truth_of_the_wrong_shape(tmp_path: Path) -> None:
    truth = tmp_path / "manifest.json"
    truth.write_text('{"scenario": "infusion-day", "seed": 7}\n', encoding="utf-8")
    line = error_line(run("evaluate", "--truth", str(truth), "--bootstrap", closed_bootstrap()))
    assert f"--truth {truth}: not a truth file (start: Field required;" in line
    assert TRUTH_FIX in line


def test_rules_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "rules.toml"
    line = error_line(
        run(
            "worker",
            PUMPSTREAM_KAFKA_BOOTSTRAP=closed_bootstrap(),
            PUMPSTREAM_RULES_FILE=str(missing),
        )
    )
    assert f"rules file {missing}: cannot read: No such file or directory" in line
    assert RULES_FIX in line


def test_rules_file_not_toml(tmp_path: Path) -> None:
    rules = _not_toml(tmp_path / "rules.toml")
    line = error_line(
        run(
            "worker",
            PUMPSTREAM_KAFKA_BOOTSTRAP=closed_bootstrap(),
            PUMPSTREAM_RULES_FILE=str(rules),
        )
    )
    assert f"rules file {rules}: not valid TOML" in line
    assert RULES_FIX in line


def test_alerting_roster_missing(tmp_path: Path) -> None:
    missing = tmp_path / "roster.toml"
    line = error_line(
        run(
            "worker",
            PUMPSTREAM_KAFKA_BOOTSTRAP=closed_bootstrap(),
            PUMPSTREAM_ALERTING_CONFIG=str(missing),
        )
    )
    assert f"cannot read the on-call roster {missing}: No such file or directory" in line
    assert ROSTER_FIX in line


def test_alerting_roster_not_toml(tmp_path: Path) -> None:
    roster = _not_toml(tmp_path / "roster.toml")
    line = error_line(
        run(
            "worker",
            PUMPSTREAM_KAFKA_BOOTSTRAP=closed_bootstrap(),
            PUMPSTREAM_ALERTING_CONFIG=str(roster),
        )
    )
    assert f"{roster}: not valid TOML" in line
    assert ROSTER_FIX in line


def test_replay_directory_missing(tmp_path: Path) -> None:
    missing = tmp_path / "day"
    line = error_line(run("replay", str(missing), "--bootstrap", closed_bootstrap()))
    assert f"{missing}: no such directory" in line
    assert RECORDING_FIX in line


def test_replay_directory_empty(tmp_path: Path) -> None:
    line = error_line(run("replay", str(tmp_path), "--bootstrap", closed_bootstrap()))
    assert f"{tmp_path}: no recording files (pump.events.raw.ndjson" in line
    assert RECORDING_FIX in line


def test_replay_malformed_line(tmp_path: Path) -> None:
    recording = write_small_recording(tmp_path / "day")
    with (recording / "vitals.raw.ndjson").open("a", encoding="utf-8") as f:
        f.write('{"offset_s": 1.0, "value": {}}\n')
    line = error_line(run("replay", str(recording), "--bootstrap", closed_bootstrap()))
    assert f"{recording / 'vitals.raw.ndjson'}:3: not a recording line (no 'key')" in line
    assert "fix or delete it" in line


def test_simulate_scenario_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "ward.toml"
    line = error_line(run("simulate", "--scenario", str(missing), "--out", str(tmp_path / "o")))
    assert f"{missing}: no such scenario file" in line
    assert SCENARIO_FIX in line


def test_simulate_scenario_file_not_toml(tmp_path: Path) -> None:
    scenario = _not_toml(tmp_path / "ward.toml")
    line = error_line(run("simulate", "--scenario", str(scenario), "--out", str(tmp_path / "o")))
    assert f"{scenario}: not TOML" in line
    assert SCENARIO_FIX in line


def test_schemas_export_into_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schemas"
    target.write_text("", encoding="utf-8")
    line = error_line(run("schemas", "export", str(target)))
    assert f"{target} is a file, not a directory: give a directory" in line


# -- a bad setting --------------------------------------------------------------------------------


def test_a_bad_setting_names_the_variable_and_the_reason() -> None:
    result = run("topics", "create", PUMPSTREAM_TOPIC_PARTITIONS="many")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: invalid settings:",
        "  PUMPSTREAM_TOPIC_PARTITIONS: 'many': Input should be a valid integer, unable to parse "
        "string as an integer",
    ]


def test_an_unknown_setting_lists_the_valid_names() -> None:
    line = error_line(run("topics", "create", PUMPSTREAM_KAFKA_BOOTSTARP="never-read"))
    assert "unknown setting(s) PUMPSTREAM_KAFKA_BOOTSTARP: remove or rename them" in line
    assert "PUMPSTREAM_KAFKA_BOOTSTRAP" in line


# -- unexpected errors and --debug ----------------------------------------------------------------

# A command that fails in a way nobody planned for, on the real CLI's main().
FAILING_COMMAND = """
from streams.cli import main as m

@m.cli.command("explode")
def explode() -> None:
    raise RuntimeError("the unexpected\\nhappened")

m.main()
"""


def _run_failing(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FAILING_COMMAND, *args],
        capture_output=True, text=True, env=cli_env(**env), timeout=30, check=False,
    )  # fmt: skip


def test_an_unexpected_error_is_one_line_with_its_type() -> None:
    line = error_line(_run_failing("explode"), code=1)
    assert line == (
        "error: RuntimeError: the unexpected; happened (rerun with --debug for the traceback)"
    )


def test_debug_shows_the_traceback() -> None:
    result = _run_failing("--debug", "explode")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert 'File "<string>", line 6, in explode' in result.stderr
    assert result.stderr.splitlines()[-1] == "error: RuntimeError: the unexpected; happened"


def test_debug_log_level_shows_the_traceback_of_a_mistake(tmp_path: Path) -> None:
    target = tmp_path / "schemas"
    target.write_text("", encoding="utf-8")
    result = run("schemas", "export", str(target), PUMPSTREAM_LOG_LEVEL="debug")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "streams.exceptions.InputFileError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"error: {target} is a file")


# -- progress -------------------------------------------------------------------------------------

#: rich draws its bars only on an interactive terminal; these make it believe stderr is one.
TERMINAL = {"FORCE_COLOR": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"}


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_replay_at_a_real_pace_keeps_its_output_clean(
    terminal: bool, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    recording = write_small_recording(tmp_path / "day")
    args = ["replay", str(recording), "--bootstrap", broker.bootstrap, "--speed", "2"]
    result = run(*args, PUMPSTREAM_TOPIC_PARTITIONS="2", **(TERMINAL if terminal else {}))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"replayed 5 messages from {recording} to {broker.bootstrap}"
    ]
    if terminal:
        # The bars and what was sent last: the final frame holds all of it.
        assert "5/5" in result.stderr
        assert "symptoms.raw" in result.stderr
        assert "t+0:00:00 of 0:00:00" in result.stderr
        assert "malformed" in result.stderr
    else:
        assert result.stderr == ""


def test_load_progress_keeps_its_output_clean(broker: EmbeddedBroker) -> None:
    args = ["load", "--bootstrap", broker.bootstrap, "--pumps", "3", "--monitors", "2"]
    result = run(*args, "--interval-s", "0.2", "--duration-s", "0.5", **TERMINAL)
    assert result.returncode == 0, result.stderr
    [summary] = result.stdout.splitlines()
    assert summary.startswith("sent 15 events in ")
    assert "15/15" in result.stderr


def test_simulate_out_progress_keeps_its_output_clean(tmp_path: Path) -> None:
    out = tmp_path / "day"
    result = run("simulate", "--out", str(out), "--no-hl7", **TERMINAL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"wrote 6 files to {out}"
    assert "simulating infusion-day seed 7" in result.stderr
