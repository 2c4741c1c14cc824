"""The deployment files of deploy/ and docs/deploy.md, read the way the tests need them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = DEPLOY / "compose.yaml"
K8S_DIR = DEPLOY / "k8s"
SCHEMA_DIR = DEPLOY / "schemas"
ENV_PREFIX = "PUMPSTREAM_"
#: The one PUMPSTREAM_* variable that is not a field of Settings: where secret files are read.
SECRETS_DIR_VARIABLE = "PUMPSTREAM_SECRETS_DIR"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    """deploy/compose.yaml with YAML merge keys (the x- anchors) resolved."""
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every Kubernetes object of deploy/k8s."""
    out = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                out.append((path.name, doc))
    return out


def k8s_objects(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc["kind"] == kind]


def k8s_object(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in k8s_objects(kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def worker_statefulset() -> dict[str, Any]:
    return k8s_object("StatefulSet", "pumpstream-worker")


def worker_container() -> dict[str, Any]:
    containers = worker_statefulset()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def worker_env() -> dict[str, Any]:
    """Variable -> its value (a string) or its valueFrom (a dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in worker_container()["env"]}


@dataclass(frozen=True)
class Instruction:
    stage: int  # 0 = the first FROM
    keyword: str
    arguments: str


def dockerfile_instructions(text: str | None = None) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    source = DOCKERFILE.read_text(encoding="utf-8") if text is None else text
    lines: list[str] = []
    pending = ""
    for raw in source.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    out = []
    stage = -1
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword, re.sub(r"\s+", " ", arguments).strip()))
    return out


def dockerfile_env(instructions: list[Instruction], stage: int) -> dict[str, str]:
    """ENV of one stage (``KEY=value`` form only, as the Dockerfile writes it)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.stage == stage and ins.keyword == "ENV":
            for item in shlex.split(ins.arguments):
                key, sep, value = item.partition("=")
                assert sep, f"ENV {ins.arguments!r}: write KEY=value"
                env[key] = value
    return env
