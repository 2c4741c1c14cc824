"""A local Prometheus (the installed binary, e.g. Debian's) scraping workers on loopback.

Used by ``pumpstream demo --prometheus`` and by the tests. The config is written as JSON (YAML
is a superset of JSON, so Prometheus reads it) into a run directory with a throwaway data dir.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from streams.cli.local.child_process import spawn, tail, terminate
from streams.cli.local.embedded_broker import LOOPBACK, free_port
from streams.exceptions import PrometheusError

#: deploy/prometheus/rules in a source checkout (the demo loads them when present).
DEPLOY_RULES_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "rules"
WORKER_JOB = "pumpstream-worker"


def find_prometheus() -> Path | None:
    found = shutil.which("prometheus")
    return Path(found) if found else None


def scrape_config(
    targets: Sequence[str],
    *,
    scrape_interval_s: float = 5.0,
    evaluation_interval_s: float = 5.0,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """A Prometheus config scraping ``targets`` (host:port) as the worker job."""
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{scrape_interval_s:g}s",
            "evaluation_interval": f"{evaluation_interval_s:g}s",
        },
        "rule_files": [str(p.resolve()) for p in rule_files],
        "scrape_configs": [
            {"job_name": WORKER_JOB, "static_configs": [{"targets": list(targets)}]}
        ],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]}
    return config


class LocalPrometheus:
    """A Prometheus process on a loopback port; ``start()``/``stop()`` or a context manager."""

    def __init__(
        self,
        config: dict[str, Any],
        run_dir: Path,
        *,
        port: int | None = None,
        binary: Path | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.port = port or free_port()
        self.binary = binary or find_prometheus()
        self.log_path = run_dir / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalPrometheus:
        if self.binary is None:
            raise PrometheusError(
                "no prometheus binary on PATH: install Debian's 'prometheus' package "
                "(scripts/install-system-deps.sh)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "prometheus.yml"
        config_path.write_text(json.dumps(self.config, indent=2), encoding="utf-8")
        self._process = spawn(
            [
                str(self.binary),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.run_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
            ],
            log_path=self.log_path,
        )
        return self

    def wait_ready(self, timeout_s: float = 30.0) -> float:
        """Block until ``/-/ready`` answers 200; return the seconds it took."""
        assert self._process is not None, "start() first"
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self._process.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with code {self._process.returncode}:\n"
                    f"{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310 - our loopback URL
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise PrometheusError(f"prometheus not ready within {timeout_s:.0f} s; see {self.log_path}")

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; return its ``data``."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our loopback URL
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (empty when the query returns no data)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        return result

    def firing_alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return [a for a in alerts if a["state"] == "firing"]

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, grace_s=10.0)
            self._process = None

    def __enter__(self) -> LocalPrometheus:
        self.start()
        self.wait_ready()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
