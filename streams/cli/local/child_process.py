"""Start and stop the child processes pumpstream runs (broker, workers) without orphans."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

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
