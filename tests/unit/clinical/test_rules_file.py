"""The rules file: the shipped defaults match DOMAIN.md §1, and a bad file is refused with the
field and the reason."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas.alerts import AlertPriority
from streams.cli.main import cli
from streams.clinical.rules_file import DEFAULT_RULES_FILE, load_rules, rules_for
from streams.exceptions import RulesFileError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _default_with(old: str, new: str) -> str:
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_defaults_match_the_domain_reference() -> None:
    rules = load_rules()
    assert rules.r1.lookback_window_min == 60
    assert rules.timing.grace_min == 2
    assert [rules.pain_bands.priority(n) for n in (1, 3, 4, 6, 7, 10)] == [
        AlertPriority.LOW, AlertPriority.LOW, AlertPriority.MEDIUM, AlertPriority.MEDIUM,
        AlertPriority.HIGH, AlertPriority.HIGH,
    ]  # fmt: skip
    r2 = rules.r2
    assert (r2.heart_rate_above_bpm, r2.heart_rate_rise_over_baseline_bpm) == (120, 20)
    assert (r2.systolic_below_mmhg, r2.systolic_change_from_baseline_mmhg) == (90, 20)
    assert (r2.temperature_at_or_above_c, r2.spo2_below_percent) == (38.0, 92)
    assert (rules.r5.persistence_window_min, rules.pain_bands.meaningful_change) == (30, 2)
    assert rules.r8.risk_max_mg_kg_min == 3.3
    assert rules.r4.priority_steps == 1


def test_a_bad_value_is_named_with_its_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path, _default_with("heart_rate_above_bpm = 120.0", "heart_rate_above_bpm = -5")
    )
    with pytest.raises(
        RulesFileError, match=r"r2\.heart_rate_above_bpm: Input should be greater than 0 \(got -5\)"
    ):
        load_rules(path)


def test_an_unknown_field_is_refused_not_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, _default_with("[r1]\n", "[r1]\nlookback_minutes = 30\n"))
    with pytest.raises(
        RulesFileError, match=r"r1\.lookback_minutes: Extra inputs are not permitted"
    ):
        load_rules(path)


def test_bands_must_be_ordered(tmp_path: Path) -> None:
    path = _write(tmp_path, _default_with("high_from = 7", "high_from = 3"))
    with pytest.raises(RulesFileError, match="resolved_at_or_below < medium_from < high_from"):
        load_rules(path)


def test_a_priority_outside_the_vocabulary_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _default_with(
            'risk_max_mg_kg_min = 3.3\npriority = "medium"',
            'risk_max_mg_kg_min = 3.3\npriority = "urgent"',
        ),
    )
    with pytest.raises(
        RulesFileError, match=r"r8\.priority: Input should be 'low', 'medium' or 'high'"
    ):
        load_rules(path)


def test_not_toml_and_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="not valid TOML"):
        load_rules(_write(tmp_path, "version = "))
    with pytest.raises(RulesFileError, match="cannot read: No such file"):
        load_rules(tmp_path / "absent.toml")


def test_the_lookback_setting_overrides_the_file() -> None:
    assert rules_for(None, 1800).r1.lookback_window_min == 30
    assert rules_for(None, None).r1.lookback_window_min == 60


def test_the_shipped_file_is_valid_toml_with_a_version() -> None:
    document = tomllib.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    assert document["version"] == load_rules().version


def test_rules_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(cli, ["rules", "check", str(DEFAULT_RULES_FILE)])
    assert good.exit_code == 0
    assert "valid, version ivig-back-pain/2026.11.1" in good.output
    assert "[r2] vitals_window_min=15.0" in good.output
    bad = runner.invoke(cli, ["rules", "check", str(_write(tmp_path, "version = 'x'"))])
    assert isinstance(bad.exception, RulesFileError)
    assert "timing: Field required" in str(bad.exception)
