"""Start ``pumpstream worker`` as a child process and wait until it holds its partitions; a
supervised one that is killed and started again in place (``pumpstream chaos``)."""

from __future__ import annotations

import asyncio
import os
import signal
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


class SupervisedWorker:
    """A worker that can be SIGKILLed and is started again in place (``pumpstream chaos``): each
    start is a new :class:`WorkerProcess` with its log in ``run_dir/<name>-<n>``."""

    def __init__(self, name: str, bootstrap: str, run_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.bootstrap = bootstrap
        self.run_dir = run_dir
        self.env = env
        self.incarnation = 0
        self.process: WorkerProcess | None = None
        #: Set while the worker runs, cleared while it is being (re)started.
        self.idle = asyncio.Event()

    @property
    def busy(self) -> bool:
        return not self.idle.is_set()

    async def start(self) -> None:
        self.idle.clear()
        try:
            self.incarnation += 1
            process = WorkerProcess(
                self.bootstrap, self.run_dir / f"{self.name}-{self.incarnation}", env=self.env
            )
            self.process = process.start()
            await asyncio.to_thread(process.wait_ready)
        finally:
            self.idle.set()

    async def kill_and_restart(self) -> None:
        process = self.process
        self.idle.clear()
        if process is not None and process.pid is not None:
            os.kill(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.stop)
        await self.start()

    def stopped_by_itself(self) -> bool:
        return not self.busy and self.process is not None and not self.process.is_running()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
