"""One KafkaConnection gives every client the same servers, TLS and SASL; the reachability check
names the cause of a failure."""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path

import faust
import pytest
import trustme
from pydantic import SecretStr

from streams.exceptions import KafkaSecurityError, KafkaUnreachable
from streams.kafka.connection import KafkaConnection


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_plaintext_clients_get_only_the_servers() -> None:
    kafka = KafkaConnection("k1:9092,k2:9092")
    assert kafka.client_options() == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka.faust_options() == {
        "broker": ["kafka://k1:9092", "kafka://k2:9092"],
        "broker_credentials": None,
    }


async def test_sasl_over_tls_reaches_aiokafka_and_faust(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    kafka = KafkaConnection(
        "k1:9093",
        security_protocol="SASL_SSL",
        ssl_ca_file=ca,
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="worker",
        sasl_password=SecretStr("s3cret-pw"),
    )
    options = kafka.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == (
        "SCRAM-SHA-256",
        "worker",
    )
    assert options["sasl_plain_password"] == "s3cret-pw"
    credentials = kafka.faust_options()["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.ssl_context is options["ssl_context"]  # one context for every client
    producer = kafka.producer()  # built, never started: no broker needed
    assert producer.client._sasl_mechanism == "SCRAM-SHA-256"
    assert producer.client._security_protocol == "SASL_SSL"
    await producer.stop()
    assert "s3cret" not in repr(kafka) + kafka.describe()


def test_tls_alone_gives_faust_ssl_credentials(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    credentials = KafkaConnection(
        "k:9093", security_protocol="SSL", ssl_ca_file=ca
    ).faust_options()["broker_credentials"]
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"


def test_a_file_that_is_not_pem_is_named_as_a_security_error(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("this is not a certificate", encoding="utf-8")
    kafka = KafkaConnection("k:9093", security_protocol="SSL", ssl_ca_file=ca)
    with pytest.raises(KafkaSecurityError, match="cannot load the Kafka TLS files"):
        kafka.client_options()


async def test_an_unreachable_broker_is_named_with_what_to_do() -> None:
    port = _closed_port()
    kafka = KafkaConnection(f"127.0.0.1:{port}")
    with pytest.raises(KafkaUnreachable) as caught:
        await kafka.check_reachable(timeout_s=2)
    message = str(caught.value)
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in message
    assert "refused" in message.lower()
    assert "PUMPSTREAM_KAFKA_BOOTSTRAP" in message


async def test_a_plain_listener_is_not_mistaken_for_tls(tmp_path: Path) -> None:
    """A TLS client pointed at a port that does not speak TLS gets a handshake error, not a hang."""
    import asyncio

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x00\x00\x00\x00plain")
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    try:
        kafka = KafkaConnection(f"127.0.0.1:{port}", security_protocol="SSL", ssl_ca_file=ca)
        with pytest.raises((KafkaSecurityError, KafkaUnreachable)):
            await kafka.check_reachable(timeout_s=2)
    finally:
        server.close()
        await server.wait_closed()


def test_no_kafka_client_is_built_outside_the_connection_factory() -> None:
    """Every producer, consumer and admin client comes from KafkaConnection, so none can miss the
    security settings (before it, 17 places built clients from a bare bootstrap address)."""
    root = Path(__file__).parents[3]
    constructors = re.compile(r"\bAIOKafka(Producer|Consumer|AdminClient)\(|bootstrap_servers=")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("streams", "simulators", "tests")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "streams/kafka/connection.py" and path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if constructors.search(line)
    ]
    assert offenders == []
