"""Start and stop the child processes pumpstream runs (broker, workers, Prometheus) without
orphans: :class:`ChildProcess` starts one, waits until it is ready with a deadline, and stops it
with a grace period."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

from streams.exceptions import ChildProcessNotReady, PumpstreamError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us if the parent dies, so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path | None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (a terminal's Ctrl-C reaches only us, and we stop it
    in order), with output to ``log_path`` (or discarded)."""
    log: IO[bytes] | int
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    else:
        log = subprocess.DEVNULL
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        if not isinstance(log, int):
            log.close()


def terminate(process: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``grace_s``; return the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class StopSignals:
    """SIGTERM and SIGINT as a flag: :meth:`wait` polls until one has arrived or ``until``
    returns true.

    The handler only appends to a list. A ``threading.Event.set()`` in a signal handler can
    deadlock: the handler runs in the main thread, which may hold the event's lock inside
    ``Event.wait`` (4 in 200 SIGTERMs hung a polling loop here; CI once hung the broker)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received.append(signum)

    def wait(self, *, poll_s: float = 0.5, until: Callable[[], bool] = lambda: False) -> None:
        while not self.received and not until():
            time.sleep(poll_s)  # a signal's handler runs in here, then the sleep goes on


def tail(path: Path, lines: int = 15) -> str:
    """For error messages: the first error logged (with what follows it), else the last lines."""
    if not path.exists():
        return "(no log)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    first_error = next((i for i, line in enumerate(text) if "ERROR" in line), None)
    if first_error is not None:
        return "\n".join(text[first_error : first_error + lines])
    return "\n".join(text[-lines:])


def current_env() -> dict[str, str]:
    return dict(os.environ)


def accepts_connections(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a readiness probe)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def answers_ok(url: str) -> bool:
    """Whether ``url`` answers HTTP 200 (a readiness probe, e.g. Prometheus' ``/-/ready``)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback URL
            return bool(response.status == 200)
    except OSError:
        return False


class ChildProcess(ABC):
    """One child process: :meth:`start` spawns it (own session, output to ``log_path``),
    :meth:`wait_ready` polls :meth:`is_ready` until ``ready_timeout_s`` and raises
    ``not_ready_error`` naming the log if it exits or the deadline passes, :meth:`stop` sends
    SIGTERM and SIGKILL after ``stop_grace_s``. As a context manager: started and ready, then
    stopped. Subclasses say what to run (:meth:`command`) and when it is ready."""

    #: Who the child is in messages: "the embedded broker", "the worker".
    name: ClassVar[str]
    not_ready_error: ClassVar[type[PumpstreamError]] = ChildProcessNotReady
    stop_grace_s: ClassVar[float] = 10.0
    poll_s: ClassVar[float] = 0.1

    def __init__(
        self,
        *,
        log_path: Path | None,
        ready_timeout_s: float,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """The argv to run; may prepare what the child needs and raise when it cannot start."""

    @abstractmethod
    def is_ready(self) -> bool:
        """One readiness probe, called while the child runs."""

    def readiness(self) -> str:
        """What ready means, after "did not" in the error: "accept connections on ..."."""
        return "become ready"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Self:
        self._process = spawn(self.command(), log_path=self.log_path, env=self._env)
        return self

    def wait_ready(self, timeout_s: float | None = None) -> float:
        """Block until the child is ready; return the seconds it took. A child that exits or is
        not ready in time is stopped, and ``not_ready_error`` names its log."""
        if self._process is None:
            raise RuntimeError(f"start {self.name} first")
        timeout_s = self.ready_timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            code = self._process.poll()
            if code is not None:
                self.stop()
                raise self.not_ready_error(
                    f"{self.name} exited with code {code} before it was ready; {self._log()}"
                )
            if self.is_ready():
                return time.monotonic() - started
            time.sleep(self.poll_s)
        self.stop()
        raise self.not_ready_error(
            f"{self.name} did not {self.readiness()} within {timeout_s:g} s; {self._log()}"
        )

    def _log(self) -> str:
        if self.log_path is None:
            return "its output was discarded"
        return f"see {self.log_path}:\n{tail(self.log_path)}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL after ``stop_grace_s``); its exit code, or None
        when it was not started."""
        if self._process is None:
            return None
        code = terminate(self._process, grace_s=self.stop_grace_s)
        self._process = None
        return code

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:  # Ctrl-C while waiting too: __exit__ will not run
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
