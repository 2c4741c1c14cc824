"""The dashboards name their datasource through a `datasource` variable, so they work both
provisioned (deploy/compose.yaml: the variable defaults to the provisioned uid) and imported
through Grafana's UI into a Grafana whose Prometheus has another uid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_files import ROOT, load_yaml

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
VARIABLE_REF = "${datasource}"


def _datasource_refs(node: Any) -> list[Any]:
    """Every `datasource` value anywhere in a dashboard (panels, targets, variables)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append(value)
            found += _datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += _datasource_refs(value)
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_every_datasource_reference_is_the_variable(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    refs = _datasource_refs(dashboard)
    assert refs, "no datasource reference at all"
    assert all(ref == {"type": "prometheus", "uid": VARIABLE_REF} for ref in refs), refs
    assert "pumpstream-prometheus" not in json.dumps(
        [p for p in dashboard["panels"]] + dashboard.get("annotations", {}).get("list", [])
    )


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_the_variable_picks_a_prometheus_and_defaults_to_the_provisioned_one(path: Path) -> None:
    (provisioned,) = load_yaml(ROOT / "grafana/provisioning/datasources/prometheus.yml")[
        "datasources"
    ]
    variables = json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]
    assert variables[0]["name"] == "datasource"  # first: the others query through it
    assert variables[0]["type"] == "datasource"
    assert variables[0]["query"] == "prometheus"
    assert variables[0]["current"]["value"] == provisioned["uid"]


def test_four_dashboards() -> None:
    assert len(DASHBOARDS) == 4
