"""Every PUMPSTREAM_* variable the image, the compose file and the manifests set is a real
setting: pumpstream stops at start-up on an unknown one (streams/settings.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings, load_settings
from tests.deploy.deploy_files import (
    ENV_PREFIX,
    SECRETS_DIR_VARIABLE,
    compose,
    dockerfile_env,
    dockerfile_instructions,
    k8s_documents,
)


def _is_setting(variable: str) -> bool:
    """A field of Settings (the variable less its prefix, lower-cased), or the secrets directory."""
    field = variable.removeprefix(ENV_PREFIX).lower()
    return variable == SECRETS_DIR_VARIABLE or field in Settings.model_fields


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every container spec (a mapping with `env`) and projected volume in a manifest."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "env" in node or "projected" in node:
            found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def _variables() -> dict[str, set[str]]:
    """Where each PUMPSTREAM_* variable (or secret file named like one) is set."""
    seen: dict[str, set[str]] = {}

    def add(name: str, where: str) -> None:
        if name.upper().startswith(ENV_PREFIX):
            seen.setdefault(name, set()).add(where)

    instructions = dockerfile_instructions()
    for stage in {i.stage for i in instructions}:
        for name in dockerfile_env(instructions, stage):
            add(name, "deploy/Dockerfile")
    for service_name, service in compose()["services"].items():
        for name in service.get("environment", {}):
            add(name, f"compose {service_name}")
        for secret in service.get("secrets", []):
            add(secret["target"] if isinstance(secret, dict) else secret, f"compose {service_name}")
    for file, doc in k8s_documents():
        for node in _walk(doc):
            for item in node.get("env", []):
                add(item["name"], f"k8s/{file}")
            for source in node.get("projected", {}).get("sources", []):
                for item in source.get("secret", {}).get("items", []):
                    add(item["path"], f"k8s/{file} (secret file)")
    return seen


def test_the_deployment_files_set_pumpstream_variables() -> None:
    seen = _variables()
    assert {"PUMPSTREAM_KAFKA_BOOTSTRAP", "PUMPSTREAM_BIND_ADDRESS", SECRETS_DIR_VARIABLE} <= set(
        seen
    )
    assert "PUMPSTREAM_KAFKA_SASL_PASSWORD" in seen  # as a secret file


def test_every_variable_is_a_setting() -> None:
    unknown = {name: sorted(where) for name, where in _variables().items() if not _is_setting(name)}
    assert unknown == {}, "not fields of streams.settings.Settings"


def test_the_check_notices_an_unknown_variable() -> None:
    assert not _is_setting("PUMPSTREAM_KAFKA_SASL_PASWORD")
    assert _is_setting("PUMPSTREAM_KAFKA_SASL_PASSWORD")


@pytest.fixture
def _no_pumpstream_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("_no_pumpstream_environment")
def test_secret_files_named_like_the_manifests_name_them_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The k8s secrets directory holds files named like variables: load_settings reads them."""
    secret_files = [n for n, where in _variables().items() if any("secret" in w for w in where)]
    assert secret_files
    values = {
        "PUMPSTREAM_KAFKA_SASL_PASSWORD": "scram-password-from-strimzi",
        "PUMPSTREAM_ACK_TOKEN": "an-ack-token-of-32-characters-xx",
    }
    for name in secret_files:
        (tmp_path / name).write_text(values[name] + "\n", encoding="utf-8")
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setenv("PUMPSTREAM_KAFKA_BOOTSTRAP", "kafka:9093")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PUMPSTREAM_KAFKA_SASL_USERNAME", "pumpstream-worker")
    settings = load_settings()
    for name in secret_files:
        secret = getattr(settings, name.removeprefix(ENV_PREFIX).lower())
        assert secret.get_secret_value() == values[name]
