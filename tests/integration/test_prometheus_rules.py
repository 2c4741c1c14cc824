"""deploy/prometheus and deploy/alertmanager, checked by Debian's promtool and amtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from streams.metrics.families import WorkerMetrics

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=60, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for group in _yaml(PROMETHEUS / "rules" / "alerts.yml")["groups"]
        for rule in group["rules"]
    ]


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    out = _ok(_run("promtool", "check", "config", PROMETHEUS / "prometheus.yml"))
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in out


def test_promtool_checks_the_rules() -> None:
    _ok(_run("promtool", "check", "rules", *RULE_FILES))


def test_promtool_rule_unit_tests_pass() -> None:
    out = _ok(_run("promtool", "test", "rules", PROMETHEUS / "tests" / "alerts_test.yml"))
    assert "SUCCESS" in out


def test_every_alert_rule_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = _yaml(PROMETHEUS / "tests" / "alerts_test.yml")["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {rule["alert"] for rule in _alert_rules()}
    assert names - firing == set(), "alert rules never shown firing"
    assert names - quiet == set(), "alert rules never shown staying quiet"


def test_alert_rules_route_to_operators_and_carry_no_patient_label() -> None:
    for rule in _alert_rules():
        assert rule["labels"]["team"] == "operators", rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert "patient" not in rule["expr"], "rules aggregate away from patients"


def test_rules_use_only_metrics_the_worker_exports() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    exported = {
        family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]
    }
    recorded = {
        rule["record"]
        for path in RULE_FILES
        for group in _yaml(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    used = set()
    for path in RULE_FILES:
        used |= set(re.findall(r"\bpumpstream[:_][a-z0-9_:]+", path.read_text(encoding="utf-8")))
    assert used - exported - recorded == set()


def test_amtool_checks_the_alertmanager_config() -> None:
    _ok(_run("amtool", "check-config", ALERTMANAGER_CONFIG))


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        pytest.param(
            ["alertname=PumpstreamWorkerDown", "team=operators", "severity=critical"],
            "operators-oncall",
            id="critical-pages-on-call",
        ),
        pytest.param(
            ["alertname=PumpstreamConsumerLagHigh", "team=operators", "severity=warning"],
            "operators",
            id="warning-to-operators",
        ),
        pytest.param(["alertname=Unknown"], "operators", id="anything-else-to-operators"),
    ],
)
def test_alertmanager_routes_to_operators(labels: list[str], receiver: str) -> None:
    out = _run(
        "amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels
    )
    assert _ok(out).splitlines()[0] == receiver


def test_no_receiver_reaches_nurses() -> None:
    receivers = _yaml(ALERTMANAGER_CONFIG)["receivers"]
    assert all(r["name"].startswith("operators") for r in receivers)


def test_a_failed_produce_alerts_at_once() -> None:
    """A worker whose producer gave up stops within seconds (docs/reliability.md): its counter
    is scraped once or twice and then goes stale, so the rule must not wait with a ``for``."""
    rule = next(r for r in _alert_rules() if r["alert"] == "PumpstreamProduceFailing")
    assert "for" not in rule
    assert rule["labels"]["severity"] == "critical"
    assert "pumpstream_produce_errors_total" in rule["expr"]
