"""A local Prometheus (the installed binary, e.g. Debian's) scraping workers on loopback.

Used by ``pumpstream demo --prometheus`` and by the tests. The config is written as JSON (YAML
is a superset of JSON, so Prometheus reads it) into a run directory with a throwaway data dir.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.cli.local.child_process import ChildProcess, answers_ok
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


class LocalPrometheus(ChildProcess):
    """A Prometheus process on a loopback port; a context manager, or :meth:`start` then
    :meth:`wait_ready` and :meth:`stop`."""

    name = "prometheus"
    not_ready_error = PrometheusError
    stop_grace_s = 10.0
    poll_s = 0.2

    def __init__(
        self,
        config: dict[str, Any],
        run_dir: Path,
        *,
        port: int | None = None,
        binary: Path | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(log_path=run_dir / "prometheus.log", ready_timeout_s=ready_timeout_s)
        self.config = config
        self.run_dir = run_dir
        self.port = port or free_port()
        self.binary = binary or find_prometheus()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        if self.binary is None:
            raise PrometheusError(
                "no prometheus binary on PATH: install Debian's 'prometheus' package "
                "(scripts/install-system-deps.sh)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "prometheus.yml"
        config_path.write_text(json.dumps(self.config, indent=2), encoding="utf-8")
        return [
            str(self.binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.run_dir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
        ]

    def is_ready(self) -> bool:
        return answers_ok(f"{self.url}/-/ready")

    def readiness(self) -> str:
        return f"answer {self.url}/-/ready"

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
