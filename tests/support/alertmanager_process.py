"""Debian's Alertmanager on loopback, and a webhook receiver standing in for the operators'."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from streams.cli.local.child_process import ChildProcess, answers_ok
from streams.cli.local.embedded_broker import free_port


class WebhookReceiver:
    """Collects the JSON bodies Alertmanager posts, by URL path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.received.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
