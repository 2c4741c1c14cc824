"""Start ``pumpstream worker`` as a child process and wait until it holds its partitions."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from streams.cli.local.child_process import current_env, spawn, tail, terminate
from streams.exceptions import WorkerNotReady


class WorkerProcess:
    def __init__(self, bootstrap: str, run_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.ready_file = run_dir / "worker.ready"
        self.log_path = run_dir / "worker.log"
        self._env = {**current_env(), **(env or {}), "PUMPSTREAM_KAFKA_BOOTSTRAP": bootstrap}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> WorkerProcess:
        self.ready_file.unlink(missing_ok=True)
        self._process = spawn(
            [sys.executable, "-m", "streams.cli", "worker", "--ready-file", str(self.ready_file)],
            log_path=self.log_path,
            env=self._env,
        )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Block until the worker is ready; return the seconds it took."""
        assert self._process is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self._process.poll() is not None:
                raise WorkerNotReady(
                    f"the worker exited with code {self._process.returncode}; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            if self.ready_file.exists():
                return time.monotonic() - started
            time.sleep(0.1)
        raise WorkerNotReady(
            f"the worker was not ready within {timeout_s:.0f} s; see {self.log_path}:\n"
            f"{tail(self.log_path)}"
        )

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> int | None:
        if self._process is None:
            return None
        code = terminate(self._process, grace_s=15.0)
        self._process = None
        return code
