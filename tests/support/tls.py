"""Kafka over TLS for the tests: Debian's stunnel4 terminates TLS in front of the embedded broker,
which advertises stunnel's address (Tansu 0.6.0's own ``--cert``/``--key`` cannot be given
together, and with ``--cert`` alone it still speaks plain TCP: measured here).

Certificates come from ``trustme`` (a CA, a server certificate for 127.0.0.1, client
certificates), written as PEM files the way an operator would have them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from streams.cli.local.child_process import ChildProcess, accepts_connections
from streams.cli.local.embedded_broker import LOOPBACK, EmbeddedBroker, free_port


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA that signed the broker's certificate, a client certificate and key
    signed by it, and a CA the broker's certificate does not chain to."""

    ca: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    server_cert: Path
    server_key: Path


def write_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(LOOPBACK, "localhost")
    client = ca.issue_cert("pumpstream-worker")
    files = TlsFiles(
        ca=directory / "ca.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    trustme.CA().cert_pem.write_to_path(str(files.other_ca))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    return files


class Stunnel(ChildProcess):
    """stunnel4 accepting TLS on ``port`` and forwarding plain TCP to ``target``; with
    ``client_ca`` it demands a client certificate signed by that CA (mutual TLS)."""

    name = "stunnel"
    stop_grace_s = 5.0
    poll_s = 0.05

    def __init__(
        self, files: TlsFiles, target: str, run_dir: Path, *, require_client_cert: bool
    ) -> None:
        super().__init__(log_path=run_dir / "stunnel.log", ready_timeout_s=15.0)
        self.files = files
        self.target = target
        self.run_dir = run_dir
        self.port = free_port()
        self.require_client_cert = require_client_cert

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        assert binary, "install stunnel4 (scripts/install-system-deps.sh)"
        verify = (
            f"verifyChain = yes\nCAfile = {self.files.ca}\n" if self.require_client_cert else ""
        )
        config = self.run_dir / "stunnel.conf"
        config.write_text(
            "foreground = yes\n"
            "pid =\n"
            f"output = {self.run_dir / 'stunnel-service.log'}\n"
            "[kafka]\n"
            f"accept = {self.address}\n"
            f"connect = {self.target}\n"
            f"cert = {self.files.server_cert}\n"
            f"key = {self.files.server_key}\n" + verify,
            encoding="utf-8",
        )
        return [binary, str(config)]

    def is_ready(self) -> bool:
        return accepts_connections(LOOPBACK, self.port)

    def readiness(self) -> str:
        return f"accept connections on {self.address}"


@contextmanager
def broker_behind_tls(
    run_dir: Path, files: TlsFiles, *, require_client_cert: bool = False
) -> Iterator[str]:
    """An embedded broker reachable only through TLS; yields the TLS bootstrap address."""
    run_dir.mkdir(parents=True, exist_ok=True)
    broker_port = free_port()
    tunnel = Stunnel(
        files, f"{LOOPBACK}:{broker_port}", run_dir, require_client_cert=require_client_cert
    )
    broker = EmbeddedBroker(
        port=broker_port, log_path=run_dir / "broker.log", advertised=tunnel.address
    )
    with broker, tunnel:
        yield tunnel.address
