"""Debian's Alertmanager on loopback, and a webhook receiver standing in for the operators'."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from streams.cli.local.child_process import spawn, tail, terminate
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


@contextmanager
def running_alertmanager(config: dict[str, Any], run_dir: Path) -> Iterator[str]:
    """Start ``prometheus-alertmanager`` with ``config``; yield its host:port."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "install prometheus-alertmanager (scripts/install-system-deps.sh)"
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log_path = run_dir / "alertmanager.log"
    process: subprocess.Popen[bytes] = spawn(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.path={run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        log_path=log_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, tail(log_path)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"alertmanager not ready: {tail(log_path)}"
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        terminate(process)
