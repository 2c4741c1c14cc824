"""The PromQL of every panel of the committed dashboards, and the names it uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.metrics.families import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
#: Grafana's own variables, as a panel would see them on a short test run.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$ward": ".*"}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) for every target of every panel."""
    out = []
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", []):
                out.append((path.name, panel["title"], target["expr"]))
    return out


def with_variables(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def names_used(expr: str) -> set[str]:
    return set(re.findall(r"\bpumpstream[:_][a-z0-9_:]+", expr))


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    return {
        family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]
    }


def recorded_names() -> set[str]:
    names = set()
    for path in RULE_FILES:
        names |= set(re.findall(r"^\s*- record: (\S+)", path.read_text(encoding="utf-8"), re.M))
    return names
