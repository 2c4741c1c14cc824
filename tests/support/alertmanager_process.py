"""Debian's Alertmanager on loopback (its webhook peer: ``tests/support/webhook_receiver.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from streams.cli.local.child_process import ChildProcess, answers_ok
from streams.cli.local.embedded_broker import free_port


def alertmanager_test_config(deploy_config: Path, webhook_url: str) -> dict[str, Any]:
    """The deployed routing, with receivers pointed at ``webhook_url`` and no batching delay."""
    config: dict[str, Any] = yaml.safe_load(deploy_config.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/{receiver['name']}"
    config["route"].update(group_wait="0s", group_interval="1s")
    return config


class LocalAlertmanager(ChildProcess):
    """Debian's ``prometheus-alertmanager`` on a free loopback port with ``config``."""

    name = "alertmanager"
    stop_grace_s = 10.0
    poll_s = 0.2

    def __init__(self, config: dict[str, Any], run_dir: Path) -> None:
        super().__init__(log_path=run_dir / "alertmanager.log", ready_timeout_s=30.0)
        self.config = config
        self.run_dir = run_dir
        self.config_path = run_dir / "alertmanager.yml"
        self.address = f"127.0.0.1:{free_port()}"

    def command(self) -> list[str]:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        assert binary, "install prometheus-alertmanager (scripts/install-system-deps.sh)"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        return [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.run_dir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",
        ]

    def is_ready(self) -> bool:
        return answers_ok(f"http://{self.address}/-/ready")

    def readiness(self) -> str:
        return f"answer http://{self.address}/-/ready"


@contextmanager
def running_alertmanager(config: dict[str, Any], run_dir: Path) -> Iterator[str]:
    """Start ``prometheus-alertmanager`` with ``config``; yield its host:port."""
    with LocalAlertmanager(config, run_dir) as alertmanager:
        yield alertmanager.address
