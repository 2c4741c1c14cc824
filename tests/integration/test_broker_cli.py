"""`pumpstream broker` and worker start-up errors, as a person at a terminal sees them (the
one-line errors of every command: test_cli_errors.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli.local.embedded_broker import LOOPBACK

pytestmark = pytest.mark.integration

PUMPSTREAM = [sys.executable, "-m", "streams.cli"]


#: Variables that would change how rich writes to a pipe (colour, terminal behaviour).
TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


def cli_env(**extra: str) -> dict[str, str]:
    """This environment without ``PUMPSTREAM_*`` or terminal-forcing variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PUMPSTREAM_") and k not in TERMINAL_VARIABLES
    }
    return {**env, **extra}


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_broker_prints_its_address_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*PUMPSTREAM, "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(PUMPSTREAM_DATA_DIR=str(tmp_path)),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        assert line.startswith(f"PUMPSTREAM_KAFKA_BOOTSTRAP={LOOPBACK}:")
        port = int(line.rsplit(":", 1)[1])
        assert _accepts(port)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert not _accepts(port), "the broker process must be gone"


def test_broker_with_a_missing_binary_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "no-tansu"
    result = subprocess.run(
        [*PUMPSTREAM, "broker"],
        capture_output=True,
        env=cli_env(PUMPSTREAM_BROKER_BIN=str(missing)),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"PUMPSTREAM_BROKER_BIN" in result.stderr


def test_broker_that_exits_at_once_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "fake-tansu"
    fake.write_text("#!/bin/sh\necho 'cannot bind' >&2\nexit 3\n")
    fake.chmod(0o755)
    result = subprocess.run(
        [*PUMPSTREAM, "broker"],
        capture_output=True,
        env=cli_env(PUMPSTREAM_BROKER_BIN=str(fake), PUMPSTREAM_DATA_DIR=str(tmp_path)),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"exited with code 3" in result.stderr
    assert b"cannot bind" in result.stderr, "the broker's own words are shown"


def test_worker_without_bootstrap_explains_what_to_do() -> None:
    result = subprocess.run(
        [*PUMPSTREAM, "worker"], capture_output=True, env=cli_env(), timeout=30, check=False
    )
    assert result.returncode == 2
    assert b"PUMPSTREAM_KAFKA_BOOTSTRAP is not set" in result.stderr


def test_broker_that_never_answers_times_out_with_a_clear_error(tmp_path: Path) -> None:
    silent = tmp_path / "silent-tansu"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    result = subprocess.run(
        [*PUMPSTREAM, "broker"],
        capture_output=True,
        env=cli_env(
            PUMPSTREAM_BROKER_BIN=str(silent),
            PUMPSTREAM_BROKER_READY_TIMEOUT_S="1",
            PUMPSTREAM_DATA_DIR=str(tmp_path),
        ),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"did not accept connections" in result.stderr
    assert b"within 1 s" in result.stderr
