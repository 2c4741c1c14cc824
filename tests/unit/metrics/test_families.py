"""The metric containers: built once from one registry, one container per stage, every exported
label on the allow-list, and no family built anywhere but ``streams/metrics``."""

from __future__ import annotations

import ast
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from streams.alerting.channels.delivery import DeliveryOutcome
from streams.metrics.families import WorkerMetrics
from streams.metrics.labels import DELIVERY_OUTCOMES, WardLabels, allowed_label_values
from tests.support.metrics_scrape import label_violations, samples

ROOT = Path(__file__).resolve().parents[3]
CHANNELS = {"pager": "webhook", "acm": "hl7-mllp", "alertmanager": "alertmanager"}
FAMILY_CLASSES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


def _exported(channel_types: dict[str, str] | None) -> str:
    registry = CollectorRegistry()
    WorkerMetrics(registry, WardLabels(["infusion-centre", "day-unit"]), channel_types)
    return generate_latest(registry).decode()


def test_every_zero_series_is_on_the_allow_list_of_its_roster() -> None:
    allowed = allowed_label_values(WardLabels(["infusion-centre", "day-unit"]), CHANNELS)
    assert label_violations(_exported(CHANNELS), allowed, forbidden=("pt-",)) == []


def test_channel_is_the_roster_name_and_channel_type_its_type() -> None:
    found: dict[str, set[str]] = {"channel": set(), "channel_type": set()}
    for (_, labels), _ in samples(_exported(CHANNELS)).items():
        for label, label_value in labels:
            if label in found:
                found[label].add(label_value)
    assert found == {"channel": set(CHANNELS), "channel_type": set(CHANNELS.values())}


def test_without_a_roster_no_series_names_a_channel() -> None:
    allowed = allowed_label_values(WardLabels(["infusion-centre", "day-unit"]))
    assert allowed["channel"] == allowed["channel_type"] == frozenset()
    assert label_violations(_exported(None), allowed, forbidden=()) == []


def test_the_outcome_label_is_the_delivery_outcomes() -> None:
    assert tuple(o.value for o in DeliveryOutcome) == DELIVERY_OUTCOMES


def test_each_stage_has_one_container_and_no_family_is_shared() -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    assert metrics.ingest.flow is metrics.clinical.flow is metrics.flow
    owners: dict[int, str] = {}
    for stage in ("flow", "ingest", "clinical", "alerting"):
        container = getattr(metrics, stage)
        for name, family in vars(container).items():
            if type(family).__name__ in FAMILY_CLASSES:
                assert id(family) not in owners, f"{stage}.{name} is {owners[id(family)]}"
                owners[id(family)] = f"{stage}.{name}"
    assert len(owners) == len(list(metrics.registry.collect()))


def test_only_streams_metrics_builds_metric_families() -> None:
    """Stages get their container from ``create_app``; none builds a family of its own."""
    builders = []
    for path in sorted((ROOT / "streams").rglob("*.py")):
        if path.is_relative_to(ROOT / "streams" / "metrics"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client":
                names = {alias.name for alias in node.names} & FAMILY_CLASSES
                builders += [f"{path.relative_to(ROOT)} imports {n}" for n in sorted(names)]
    assert builders == []
