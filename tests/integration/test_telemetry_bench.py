"""``pumpstream bench telemetry --quick`` on the real broker: correctness, not speed. Every
observation sent is applied (the worker's accepted-readings counter equals what was sent, and the
group's lag reaches 0), every back-pain report under the telemetry load gets its alert, and a
worker restarted on the changelog holds the very state the previous one wrote (the whole state
it writes after a restart equals the state the previous worker's records assemble to). No timed
assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.events import VitalSigns
from streams.cli.telemetry_bench import run
from streams.cli.telemetry_bench_data import reading_json, telemetry_data
from streams.cli.telemetry_bench_report import TelemetryBenchConfig, TelemetryBenchReport
from tests.conftest import TEST_PARTITIONS

pytestmark = [pytest.mark.integration, pytest.mark.bench]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[TelemetryBenchReport, Path]:
    """One quick run of the bench for the whole module (it starts three workers)."""
    json_path = tmp_path_factory.mktemp("bench") / "bench-telemetry.json"
    config = TelemetryBenchConfig.quick(partitions=TEST_PARTITIONS)
    return run(config, json_path, print), json_path  # progress shows when a test fails


def _check(report: TelemetryBenchReport, name_part: str) -> list[tuple[object, object]]:
    found = [(c.expected, c.actual) for c in report.checks if name_part in c.name]
    assert found, f"no check named like {name_part!r}"
    return found


def test_every_observation_sent_is_applied(
    quick_report: tuple[TelemetryBenchReport, Path],
) -> None:
    report, _ = quick_report
    for expected, actual in _check(report, "readings applied once = sent"):
        assert actual == expected
    for expected, actual in _check(report, "(lag 0)"):
        assert actual == expected


def test_every_report_under_load_gets_its_alert(
    quick_report: tuple[TelemetryBenchReport, Path],
) -> None:
    report, _ = quick_report
    assert _check(report, "every report got its alert") == [(True, True)]
    p99 = next(f for f in report.figures if f.key == "latency_p99")
    assert p99.note.startswith(f"{report.config.reports} reports")


def test_recovery_restores_identical_state(
    quick_report: tuple[TelemetryBenchReport, Path],
) -> None:
    report, _ = quick_report
    patients = report.config.patients
    assert _check(report, "recovered state raised every probe's R1") == [(True, True)]
    # Every recovered patient writes its base: the telemetry patients and one probe a partition.
    recovered = patients + report.config.partitions
    assert _check(report, "states rewritten whole after restart") == [(recovered, recovered)]
    assert _check(report, "recovered state identical") == [(patients, patients)]


def test_the_json_holds_every_figure_and_check(
    quick_report: tuple[TelemetryBenchReport, Path],
) -> None:
    report, json_path = quick_report
    written = json.loads(json_path.read_text())
    assert [f["key"] for f in written["figures"]] == [f.key for f in report.figures]
    assert all(c["ok"] for c in written["checks"]), [c for c in written["checks"] if not c["ok"]]
    assert {"vitals_step", "read_batch"} <= set(written["profile"])


def test_the_generated_readings_are_valid_and_batched_by_partition() -> None:
    """The bench writes readings from a template: each one passes the schema, and every
    envelope's patients hash to the partition it goes to."""
    from datetime import UTC, datetime

    from streams.kafka.partitioning import partition_of

    data = telemetry_data("t", 7, 3, 4, TEST_PARTITIONS, datetime(2026, 1, 5, 8, tzinfo=UTC))
    assert data.observations == 21
    for partition, value in data.envelopes:
        vitals = [VitalSigns.model_validate(v) for v in json.loads(value)["vitals"]]
        assert 1 <= len(vitals) <= 4
        assert {partition_of(v.patient_ref.encode(), TEST_PARTITIONS) for v in vitals} == {
            partition
        }
    assert VitalSigns.model_validate_json(reading_json("x", 1, "2026-01-05T08:00:00Z", 70.0))
