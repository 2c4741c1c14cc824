"""`pumpstream demo --prometheus`: the demo also runs Debian's Prometheus on the worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_prints_the_metrics_and_prometheus_addresses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUMPSTREAM_")}
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--speed", "240", "--prometheus"],
        capture_output=True, timeout=150, check=False,
        env={**env, "PUMPSTREAM_DATA_DIR": str(tmp_path), "COLUMNS": "200"},
    )  # fmt: skip
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert re.search(r"metrics on http://127\.0\.0\.1:\d+/metrics", out)
    assert re.search(r"prometheus on http://127\.0\.0\.1:\d+ ", out)
    log = (tmp_path / "demo" / "prometheus" / "prometheus.log").read_text(encoding="utf-8")
    assert "Server is ready to receive web requests" in log
    assert "level=error" not in log, log[-2000:]
