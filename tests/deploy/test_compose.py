"""deploy/compose.yaml: valid against the Compose Specification, every mounted file present, the
pumpstream services running real commands, Prometheus and Grafana wired to the project's files."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.alerting.roster import load_roster
from streams.cli.main import cli
from tests.deploy.deploy_files import COMPOSE_FILE, DEPLOY, ROOT, compose, load_yaml

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _check_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the Compose Specification's schema it ships (vendor.compose-spec)."""
    assert CHECK_JSONSCHEMA.is_file(), "check-jsonschema is missing: install the dev extra"
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_matches_the_compose_specification() -> None:
    result = _check_compose_spec(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_check_notices_a_misspelt_key(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE_FILE.read_text(encoding="utf-8").replace("depends_on:", "depend_on:"))
    result = _check_compose_spec(bad)
    assert result.returncode != 0
    assert "depend_on" in result.stdout


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def _pumpstream_services() -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in _services().items()
        if str(s.get("image", "")).startswith("pumpstream")
    }


def _bind_sources() -> list[str]:
    sources = []
    for service in _services().values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                sources.append(source)
    return sources


def test_every_file_the_compose_file_mounts_or_builds_from_exists() -> None:
    data = compose()
    sources = _bind_sources() + [s["file"] for s in data.get("secrets", {}).values()]
    assert sources
    for source in sources:
        assert (DEPLOY / source).exists(), f"{source} (relative to deploy/) does not exist"
    for service in _pumpstream_services().values():
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (
            DEPLOY / "Dockerfile"
        )
    named = set(data["volumes"])
    for service in _services().values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith(".") or source in named, f"undeclared volume {source}"


def test_kafka_is_the_official_image_in_kraft_mode_on_a_volume() -> None:
    kafka = _services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    data_dir = env["KAFKA_LOG_DIRS"]
    assert any(v == f"kafka-data:{data_dir}" for v in kafka["volumes"])
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # The storage is formatted with CLUSTER_ID: a base64url-encoded 16-byte UUID.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16


def test_topics_are_created_from_the_registry_before_the_workers_start() -> None:
    services = _services()
    assert services["topics"]["command"] == ["topics", "create"]
    workers = [
        n for n, s in _pumpstream_services().items() if s.get("command", ["worker"]) == ["worker"]
    ]
    assert workers == ["worker-1", "worker-2"]
    for name in workers:
        assert services[name]["depends_on"]["topics"] == {
            "condition": "service_completed_successfully"
        }


def test_workers_have_their_own_data_volume_directory_and_member_id() -> None:
    services = _services()
    seen: dict[str, set[str]] = {"volume": set(), "data_dir": set(), "member": set()}
    for name in ("worker-1", "worker-2"):
        env = services[name]["environment"]
        volumes = [v for v in services[name]["volumes"] if not v.startswith(".")]
        assert len(volumes) == 1
        volume, target = volumes[0].split(":")[:2]
        assert env["PUMPSTREAM_DATA_DIR"].startswith(target)
        seen["volume"].add(volume)
        seen["data_dir"].add(env["PUMPSTREAM_DATA_DIR"])
        seen["member"].add(env["PUMPSTREAM_GROUP_INSTANCE_ID"])
    assert all(len(values) == 2 for values in seen.values()), seen


def test_partitions_are_a_multiple_of_the_workers() -> None:
    services = _pumpstream_services()
    partitions = {int(s["environment"]["PUMPSTREAM_TOPIC_PARTITIONS"]) for s in services.values()}
    assert len(partitions) == 1, "every pumpstream service must agree on the partition count"
    assert partitions.pop() % 2 == 0


def _command_args(name: str) -> list[str]:
    command: list[str] = _services()[name].get("command", ["worker"])
    return command


@pytest.mark.parametrize(
    "service",
    [
        "topics",
        "worker-1",
        "worker-2",
        "simulator",
        "load",
        "gateway",
    ],
)
def test_each_pumpstream_service_runs_a_real_command(service: str) -> None:
    """The service's command and options exist in the CLI (``--help`` parses them, runs nothing)."""
    args = _command_args(service)
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"{service}: pumpstream {' '.join(args)}: {result.output}"
    assert "Usage:" in result.output


def test_simulator_feeds_kafka_and_waits_for_healthy_workers() -> None:
    simulator = _services()["simulator"]
    assert "--live" in simulator["command"]
    assert all(dep["condition"] == "service_healthy" for dep in simulator["depends_on"].values())
    assert simulator["healthcheck"] == {"disable": True}


def test_the_gateway_runs_by_default_and_load_behind_its_profile() -> None:
    services = _services()
    assert "profiles" not in services["gateway"]
    assert services["load"]["profiles"] == ["load"]


def test_workers_read_the_ack_token_from_the_secrets_directory() -> None:
    services = _services()
    for name in ("worker-1", "worker-2"):
        env = services[name]["environment"]
        assert env["PUMPSTREAM_SECRETS_DIR"] == "/run/secrets"
        targets = {s["target"] for s in services[name]["secrets"]}
        assert "PUMPSTREAM_ACK_TOKEN" in targets
        assert "PUMPSTREAM_ACK_TOKEN" not in env
        roster = env["PUMPSTREAM_ALERTING_CONFIG"]
        mounted = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        load_roster(DEPLOY / mounted[roster])


def _prometheus_config() -> dict[str, Any]:
    mounts = _mounts("prometheus")
    config: dict[str, Any] = load_yaml(DEPLOY / mounts["/etc/prometheus/prometheus.yml"])
    return config


def _mounts(service: str) -> dict[str, str]:
    """Container path -> host path (relative to deploy/) of a service's bind mounts."""
    out = {}
    for volume in _services()[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = source
    return out


def test_prometheus_scrapes_every_worker_and_alerts_to_alertmanager() -> None:
    config = _prometheus_config()
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "pumpstream-worker"]
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"worker-1:6066", "worker-2:6066"}
    managers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert managers == ["alertmanager:9093"]


def test_prometheus_loads_the_projects_rule_files_unchanged() -> None:
    config = _prometheus_config()
    mounts = _mounts("prometheus")
    assert mounts["/etc/prometheus/rules"] == "./prometheus/rules"
    loaded = {Path(DEPLOY / "prometheus" / f).resolve() for f in config["rule_files"]}
    assert loaded == set((DEPLOY / "prometheus" / "rules").resolve().glob("*.yml"))


@pytest.mark.integration
def test_promtool_accepts_the_compose_prometheus_config(tmp_path: Path) -> None:
    """The config as the container sees it: /etc/prometheus/{prometheus.yml,rules/}."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/install-system-deps.sh installs it"
    shutil.copy(DEPLOY / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(DEPLOY / "prometheus" / "rules", tmp_path / "rules")
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout + result.stderr


def test_grafana_is_provisioned_with_the_dashboards_and_the_datasource_uid() -> None:
    mounts = _mounts("grafana")
    provider = load_yaml(ROOT / "grafana/provisioning/dashboards/pumpstream.yml")["providers"][0]
    assert mounts[provider["options"]["path"]] == "../grafana/dashboards"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "../grafana/provisioning/dashboards"
    datasource_files = [
        DEPLOY / host for target, host in mounts.items() if "provisioning/datasources" in target
    ]
    (datasource,) = load_yaml(datasource_files[0])["datasources"]
    (provisioned,) = load_yaml(ROOT / "grafana/provisioning/datasources/prometheus.yml")[
        "datasources"
    ]
    assert datasource["uid"] == provisioned["uid"]
    assert datasource["url"] == "http://prometheus:9090"
    assert _services()["grafana"]["image"].startswith("grafana/grafana:11.6")
