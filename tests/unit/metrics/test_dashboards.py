"""The committed dashboard JSON is what the code in grafana/ builds, and it is coherent."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from grafana.generate import DASHBOARDS, rendered, stale_files, write_all
from tests.support.dashboard_queries import (
    DASHBOARD_DIR,
    ROOT,
    exported_names,
    names_used,
    panel_queries,
    recorded_names,
)


def test_committed_json_is_what_the_code_generates() -> None:
    assert stale_files(DASHBOARD_DIR) == [], (
        "grafana/dashboards is out of date: run `pumpstream dashboards generate` and commit"
    )


def test_the_check_notices_an_edited_or_missing_file(tmp_path: Path) -> None:
    write_all(tmp_path)
    assert stale_files(tmp_path) == []
    edited = tmp_path / "pipeline-health.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Workers up", "Workers"))
    (tmp_path / "alarm-fatigue.json").unlink()
    assert sorted(stale_files(tmp_path)) == ["alarm-fatigue.json", "pipeline-health.json"]


def test_four_dashboards_with_unique_uids_and_panel_ids() -> None:
    dashboards = [json.loads(text) for text in rendered().values()]
    assert len(dashboards) == len(DASHBOARDS) == 4
    assert len({d["uid"] for d in dashboards}) == 4
    for d in dashboards:
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), d["title"]


def test_every_panel_queries_through_the_datasource_variable() -> None:
    """The variable defaults to the provisioned uid (tests/deploy/test_dashboard_import.py)."""
    for path in DASHBOARD_DIR.glob("*.json"):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], f"{path.name}: {panel['title']} has no query"


def test_panels_use_only_exported_metrics_and_recording_rules() -> None:
    known = exported_names() | recorded_names()
    unknown = {
        (name, title, expr)
        for name, title, expr in panel_queries()
        for used in names_used(expr)
        if used not in known
    }
    assert unknown == set()


def test_dashboard_provisioning_points_at_a_file_provider() -> None:
    provisioned = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/pumpstream.yml").read_text(encoding="utf-8")
    )
    assert provisioned["providers"][0]["type"] == "file"
