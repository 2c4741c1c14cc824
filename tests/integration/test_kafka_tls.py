"""Kafka over TLS for real: stunnel4 terminates TLS (optionally demanding a client certificate)
in front of the embedded broker, and every client pumpstream builds goes through
:class:`KafkaConnection`: producers, readers, the admin client and a whole worker (Faust)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from schemas.alerts import Alert
from schemas.topics import ALERTS, PUMP_EVENTS_RAW, SYMPTOMS_RAW
from streams.cli.local.embedded_broker import free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.exceptions import KafkaSecurityError
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import read_topic
from tests.support.events import Patient
from tests.support.kafka_client import produce, read_until
from tests.support.tls import TlsFiles, broker_behind_tls, write_tls_files

pytestmark = pytest.mark.integration

PARTITIONS = 2


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path / "tls")


def _env(**settings: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUMPSTREAM_")}
    return {**clean, **{f"PUMPSTREAM_{k.upper()}": v for k, v in settings.items()}}


async def test_records_go_through_tls_verified_against_the_ca(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    with broker_behind_tls(tmp_path / "run", tls_files) as address:
        kafka = KafkaConnection(address, security_protocol="SSL", ssl_ca_file=tls_files.ca)
        await kafka.check_reachable()
        assert await ensure_topics(kafka, partitions=PARTITIONS)
        await produce(kafka, "vitals.raw", b"through tls", b"pt-1")
        records = await read_topic(kafka, "vitals.raw", timeout_s=10)
        assert [(r.key, r.value) for r in records] == [(b"pt-1", b"through tls")]


async def test_a_ca_that_did_not_sign_the_broker_fails_with_a_clear_message(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    with broker_behind_tls(tmp_path / "run", tls_files) as address:
        kafka = KafkaConnection(address, security_protocol="SSL", ssl_ca_file=tls_files.other_ca)
        with pytest.raises(KafkaSecurityError, match=r"SSL_CA_FILE=\S+ does not verify"):
            await kafka.check_reachable()

        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", "topics", "create"],
            env=_env(
                kafka_bootstrap=address,
                kafka_security_protocol="SSL",
                kafka_ssl_ca_file=str(tls_files.other_ca),
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert "does not verify" in lines[0]
        assert "PUMPSTREAM_KAFKA_SSL_CA_FILE" in lines[0]


async def test_mutual_tls_needs_the_client_certificate(tmp_path: Path, tls_files: TlsFiles) -> None:
    with broker_behind_tls(tmp_path / "run", tls_files, require_client_cert=True) as address:
        anonymous = KafkaConnection(address, security_protocol="SSL", ssl_ca_file=tls_files.ca)
        with pytest.raises(KafkaSecurityError, match="refused the TLS client"):
            await anonymous.check_reachable()
        with pytest.raises(KafkaConnectionError):
            await produce(anonymous, "vitals.raw", b"no certificate")

        kafka = replace(
            anonymous, ssl_cert_file=tls_files.client_cert, ssl_key_file=tls_files.client_key
        )
        await kafka.check_reachable()
        await ensure_topics(kafka, partitions=PARTITIONS)
        await produce(kafka, "vitals.raw", b"with a certificate")
        assert [r.value for r in await read_topic(kafka, "vitals.raw", timeout_s=10)] == [
            b"with a certificate"
        ]


async def test_a_worker_runs_the_pipeline_over_mutual_tls(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    """The Faust app (consumers, producer, table changelog), its admin and lag clients all take
    the security settings: an alert comes out of a worker that can only reach Kafka via TLS."""
    with broker_behind_tls(tmp_path / "run", tls_files, require_client_cert=True) as address:
        kafka = KafkaConnection(
            address,
            security_protocol="SSL",
            ssl_ca_file=tls_files.ca,
            ssl_cert_file=tls_files.client_cert,
            ssl_key_file=tls_files.client_key,
        )
        await ensure_topics(kafka, partitions=PARTITIONS)
        worker = WorkerProcess(
            address,
            tmp_path / "worker",
            env={
                "PUMPSTREAM_TOPIC_PARTITIONS": str(PARTITIONS),
                "PUMPSTREAM_METRICS_PORT": str(free_port()),
                "PUMPSTREAM_DATA_DIR": str(tmp_path / "worker" / "data"),
                "PUMPSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL",
                "PUMPSTREAM_KAFKA_SSL_CA_FILE": str(tls_files.ca),
                "PUMPSTREAM_KAFKA_SSL_CERT_FILE": str(tls_files.client_cert),
                "PUMPSTREAM_KAFKA_SSL_KEY_FILE": str(tls_files.client_key),
            },
        ).start()
        try:
            worker.wait_ready(timeout_s=60)
            p = Patient("pt-tls")
            for event in (p.start(), p.rate(30, 84.0), p.rate(60, 168.0)):
                await produce(
                    kafka, PUMP_EVENTS_RAW.name, event.model_dump_json().encode(), b"pt-tls"
                )
            await produce(
                kafka, SYMPTOMS_RAW.name, p.pain(78, 6).model_dump_json().encode(), b"pt-tls"
            )
            records = await read_until(kafka, ALERTS.name, lambda rs: bool(rs), timeout_s=30)
        finally:
            worker.stop()
        alerts = [Alert.model_validate_json(r.value or b"") for r in records]
        assert alerts
        assert (alerts[0].rule, alerts[0].patient_ref) == ("R1", "pt-tls")
