"""Start ``pumpstream worker`` as a child process and wait until it holds its partitions."""

from __future__ import annotations

import sys
from pathlib import Path

from streams.cli.local.child_process import ChildProcess, current_env
from streams.exceptions import WorkerNotReady


class WorkerProcess(ChildProcess):
    """A pipeline worker on ``bootstrap``, ready once it writes its ready file; logs and ready
    file in ``run_dir``."""

    name = "the worker"
    not_ready_error = WorkerNotReady
    stop_grace_s = 15.0

    def __init__(
        self,
        bootstrap: str,
        run_dir: Path,
        *,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        super().__init__(
            log_path=run_dir / "worker.log",
            ready_timeout_s=ready_timeout_s,
            env={**current_env(), **(env or {}), "PUMPSTREAM_KAFKA_BOOTSTRAP": bootstrap},
        )
        self.bootstrap = bootstrap
        self.ready_file = run_dir / "worker.ready"

    def command(self) -> list[str]:
        self.ready_file.unlink(missing_ok=True)
        return [sys.executable, "-m", "streams.cli", "worker", "--ready-file", str(self.ready_file)]

    def is_ready(self) -> bool:
        return self.ready_file.exists()

    def readiness(self) -> str:
        return "join its consumer group (write its ready file)"
