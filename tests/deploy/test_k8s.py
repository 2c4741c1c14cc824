"""deploy/k8s: every object valid against its schema (Kubernetes' own through kubernetes-validate,
Strimzi's and the Prometheus Operator's through deploy/schemas), the generated files current,
and the pieces agreeing with each other: topics, partitions, the Kafka user, probes, monitoring."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from schemas.topics import ALL_TOPICS
from streams.cli import deploy_manifests
from tests.deploy.deploy_files import (
    DEPLOY,
    K8S_DIR,
    SCHEMA_DIR,
    k8s_documents,
    k8s_files,
    k8s_object,
    k8s_objects,
    load_yaml,
    worker_container,
    worker_env,
    worker_statefulset,
)

#: The oldest Kubernetes the manifests target, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.31", kubernetes_validate.latest_version())
CUSTOM_GROUPS = ("kafka.strimzi.io/", "monitoring.coreos.com/")


@cache
def _custom_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        props = schema["properties"]
        schemas[(props["apiVersion"]["const"], props["kind"]["const"])] = schema
    return schemas


def _custom_errors(doc: dict[str, Any]) -> list[str]:
    schema = _custom_schemas()[(doc["apiVersion"], doc["kind"])]
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def _ids(docs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{name}:{d['kind']}/{d['metadata']['name']}" for name, d in docs]


ALL_DOCS = k8s_documents()
BUILTIN = [(n, d) for n, d in ALL_DOCS if not d["apiVersion"].startswith(CUSTOM_GROUPS)]
CUSTOM = [(n, d) for n, d in ALL_DOCS if d["apiVersion"].startswith(CUSTOM_GROUPS)]


def test_every_manifest_parses_to_named_objects() -> None:
    assert {p.name for p in k8s_files()} >= {"kafka.yaml", "topics.yaml", "worker.yaml"}
    for name, doc in ALL_DOCS:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"]), name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("file", "doc"), BUILTIN, ids=_ids(BUILTIN))
def test_kubernetes_objects_match_the_kubernetes_schema(
    file: str, doc: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_kubernetes_check_notices_a_misspelt_field() -> None:
    broken = copy.deepcopy(worker_statefulset())
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize(("file", "doc"), CUSTOM, ids=_ids(CUSTOM))
def test_custom_resources_match_their_schema(file: str, doc: dict[str, Any]) -> None:
    assert (doc["apiVersion"], doc["kind"]) in _custom_schemas(), "no schema in deploy/schemas"
    assert _custom_errors(doc) == []


@pytest.mark.parametrize(
    ("kind", "path", "value", "complaint"),
    [
        pytest.param("KafkaTopic", ("spec", "partition"), 12, "partition", id="topic-typo"),
        pytest.param("KafkaTopic", ("spec", "partitions"), 0, "minimum", id="topic-zero"),
        pytest.param(
            "KafkaUser",
            ("spec", "authorization", "acls", 0, "operations"),
            ["Wrte"],
            "Wrte",
            id="user-operation",
        ),
        pytest.param(
            "Kafka",
            ("spec", "kafka", "listeners", 0, "type"),
            "intern",
            "intern",
            id="listener-type",
        ),
        pytest.param(
            "KafkaNodePool", ("spec", "roles"), ["brokers"], "brokers", id="node-pool-role"
        ),
        pytest.param(
            "PodMonitor",
            ("spec", "podMetricsEndpoints", 0, "interval"),
            "15 seconds",
            "15 seconds",
            id="podmonitor-interval",
        ),
        pytest.param(
            "PrometheusRule", ("spec", "groups", 0, "rules", 0, "for"), "1 min", "1 min", id="rule"
        ),
    ],
)
def test_the_custom_resource_check_notices_a_mistake(
    kind: str, path: tuple[str | int, ...], value: object, complaint: str
) -> None:
    doc = copy.deepcopy(k8s_objects(kind)[0])
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert any(complaint in error for error in _custom_errors(doc))


def test_kustomization_applies_every_manifest_and_its_generated_config() -> None:
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    assert set(kustomization["resources"]) == {p.name for p in k8s_files()}
    generated = {g["name"]: g["files"] for g in kustomization["configMapGenerator"]}
    for files in generated.values():
        for file in files:
            assert (K8S_DIR / file).is_file(), file
    volumes = worker_statefulset()["spec"]["template"]["spec"]["volumes"]
    config_maps = {v["configMap"]["name"] for v in volumes if "configMap" in v}
    assert config_maps <= set(generated)
    assert {i["name"] for i in kustomization["images"]} == {worker_container()["image"]}
    assert kustomization["namespace"] == k8s_object("Namespace")["metadata"]["name"]


def test_generated_manifests_are_current() -> None:
    assert deploy_manifests.stale_files() == [], (
        "deploy/k8s is out of date: run `python -m streams.cli.deploy_manifests`"
    )


def test_the_stale_check_notices_an_edited_or_missing_file(tmp_path: Path) -> None:
    for name, text in deploy_manifests.rendered().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert deploy_manifests.stale_files(tmp_path) == []
    topics = tmp_path / "topics.yaml"
    topics.write_text(topics.read_text(encoding="utf-8").replace("partitions: 12", "partitions: 6"))
    (tmp_path / "kafka-user.yaml").unlink()
    assert sorted(deploy_manifests.stale_files(tmp_path)) == ["kafka-user.yaml", "topics.yaml"]


def test_every_registry_topic_is_a_kafka_topic_with_the_workers_partition_count() -> None:
    topics = {t["metadata"]["name"]: t for t in k8s_objects("KafkaTopic")}
    assert list(topics) == [t.name for t in ALL_TOPICS]
    env = worker_env()
    partitions = int(env["PUMPSTREAM_TOPIC_PARTITIONS"])
    replicas = int(env["PUMPSTREAM_TOPIC_REPLICATION_FACTOR"])
    cluster = k8s_object("Kafka")["metadata"]["name"]
    for spec in ALL_TOPICS:
        topic = topics[spec.name]
        assert topic["spec"]["partitions"] == partitions, spec.name
        assert topic["spec"]["replicas"] == replicas, spec.name
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        compacted = topic["spec"]["config"].get("cleanup.policy") == "compact"
        assert compacted == spec.compacted, spec.name


def test_partitions_are_a_multiple_of_the_worker_count() -> None:
    partitions = int(worker_env()["PUMPSTREAM_TOPIC_PARTITIONS"])
    workers = worker_statefulset()["spec"]["replicas"]
    assert partitions == deploy_manifests.PARTITIONS
    assert partitions % workers == 0
    assert f"At most {partitions}" in (K8S_DIR / "worker.yaml").read_text(encoding="utf-8")


def test_brokers_can_hold_the_replicas_with_one_down() -> None:
    brokers = sum(
        pool["spec"]["replicas"]
        for pool in k8s_objects("KafkaNodePool")
        if "broker" in pool["spec"]["roles"]
    )
    config = k8s_object("Kafka")["spec"]["kafka"]["config"]
    replicas = int(worker_env()["PUMPSTREAM_TOPIC_REPLICATION_FACTOR"])
    assert brokers >= replicas >= 3
    assert config["min.insync.replicas"] == replicas - 1
    assert config["auto.create.topics.enable"] is False


def _acls(user: dict[str, Any]) -> dict[tuple[str, str, str], set[str]]:
    return {
        (a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"]): set(
            a["operations"]
        )
        for a in user["spec"]["authorization"]["acls"]
    }


def test_the_worker_user_may_use_every_topic_and_its_group() -> None:
    acls = _acls(k8s_object("KafkaUser", "pumpstream-worker"))
    for spec in ALL_TOPICS:
        assert {"Describe", "Read", "Write"} <= acls[("topic", spec.name, "literal")], spec.name
    app_id = deploy_manifests.APP_ID
    assert "Create" in acls[("topic", f"{app_id}-", "prefix")]  # Faust's changelogs
    assert "Read" in acls[("group", app_id, "literal")]
    assert "PUMPSTREAM_APP_ID" not in worker_env()  # the default, which the ACLs name


def test_workers_reach_kafka_through_the_tls_listener_as_the_kafka_user() -> None:
    kafka = k8s_object("Kafka")
    cluster = kafka["metadata"]["name"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    env = worker_env()
    assert env["PUMPSTREAM_KAFKA_BOOTSTRAP"] == f"{cluster}-kafka-bootstrap:{listener['port']}"
    assert listener["tls"]
    assert env["PUMPSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    user = k8s_object("KafkaUser")
    assert listener["authentication"]["type"] == user["spec"]["authentication"]["type"]
    assert env["PUMPSTREAM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["PUMPSTREAM_KAFKA_SASL_USERNAME"] == user["metadata"]["name"]
    assert "PUMPSTREAM_KAFKA_SASL_PASSWORD" not in env  # a file, never the environment

    volumes = {v["name"]: v for v in worker_statefulset()["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in worker_container()["volumeMounts"]}
    secret_files = _secret_files(volumes[mounts[env["PUMPSTREAM_SECRETS_DIR"]]])
    assert secret_files["PUMPSTREAM_KAFKA_SASL_PASSWORD"] == (user["metadata"]["name"], "password")
    ca_dir, _, ca_file = env["PUMPSTREAM_KAFKA_SSL_CA_FILE"].rpartition("/")
    ca_volume = volumes[mounts[ca_dir]]["secret"]
    assert ca_volume["secretName"] == f"{cluster}-cluster-ca-cert"
    assert {"key": "ca.crt", "path": ca_file} in ca_volume["items"]


def _secret_files(volume: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """File name in the secrets directory -> (Secret, key)."""
    return {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def test_static_membership_takes_the_pod_name() -> None:
    env = worker_env()
    assert env["PUMPSTREAM_GROUP_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    statefulset = worker_statefulset()
    assert statefulset["kind"] == "StatefulSet"  # stable pod names across restarts
    assert float(env["PUMPSTREAM_BROKER_SESSION_TIMEOUT_S"]) >= 10


def test_probes_ask_the_metrics_server_and_resources_are_set() -> None:
    container = worker_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(worker_env()["PUMPSTREAM_METRICS_PORT"])
    assert worker_env()["PUMPSTREAM_BIND_ADDRESS"] == "0.0.0.0"
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe
    resources = container["resources"]
    assert resources["requests"]["cpu"]
    assert resources["requests"]["memory"]
    assert resources["limits"]["memory"]


def test_the_disruption_budget_and_services_select_the_workers() -> None:
    labels = worker_statefulset()["spec"]["template"]["metadata"]["labels"]
    budget = k8s_object("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    selectors = [budget["spec"]["selector"]["matchLabels"]]
    selectors += [s["spec"]["selector"] for s in k8s_objects("Service")]
    selectors.append(k8s_object("PodMonitor")["spec"]["selector"]["matchLabels"])
    for selector in selectors:
        assert selector.items() <= labels.items()


def test_the_pod_monitor_sets_the_job_the_rules_and_dashboards_use() -> None:
    (endpoint,) = k8s_object("PodMonitor")["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    jobs = {r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"}
    rules = (DEPLOY / "prometheus" / "rules" / "alerts.yml").read_text(encoding="utf-8")
    assert jobs == set(re.findall(r'job="([^"]+)"', rules))


def test_the_prometheus_rule_holds_the_project_rules() -> None:
    groups = []
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        groups += load_yaml(path)["groups"]
    rule = k8s_object("PrometheusRule")
    assert rule["spec"]["groups"] == groups
    assert rule["metadata"]["labels"]["prometheus"] == "pumpstream"


def test_the_roster_config_map_is_a_valid_roster() -> None:
    from streams.alerting.roster import load_roster

    roster = load_roster(K8S_DIR / "alerting.toml")
    assert roster.wards
    mount = next(m for m in worker_container()["volumeMounts"] if m["name"] == "alerting")
    assert worker_env()["PUMPSTREAM_ALERTING_CONFIG"] == f"{mount['mountPath']}/alerting.toml"


def test_yaml_of_the_topics_and_the_user_reads_back_as_the_data() -> None:
    documents = [*deploy_manifests.kafka_topics(6, replicas=1), deploy_manifests.worker_user()]
    text = deploy_manifests.yaml_documents(documents)
    assert [d for d in yaml.safe_load_all(text)] == documents
    with pytest.raises(ValueError, match="partitions"):
        deploy_manifests.kafka_topics(0)
