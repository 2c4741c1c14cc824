"""``pumpstream gateway``: the standards gateway (HL7 v2 over MLLP in, and the symptom intake API
when ``PUMPSTREAM_INTAKE_TOKEN`` is set) with its ``/metrics``, ``/healthz`` and ``/readyz``; and
``pumpstream bench gateway`` (``gateway_bench.py``). Registered on the main CLI by
:func:`_register_gateway` (one call in ``streams/cli/main.py``); docs/integration.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streams.settings import Settings, load_settings

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from streams.gateway.intake import SymptomIntake
    from streams.kafka.connection import KafkaConnection
    from streams.metrics.families import GatewayMetrics

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _gateway_settings() -> Settings:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def gateway() -> None:
    """Run the standards gateway: HL7 v2 over MLLP (IHE PCD-01 vitals and pump status, PCD-10
    pump events, pain scores) onto the raw topics, answering each message only once Kafka has it;
    with PUMPSTREAM_INTAKE_TOKEN set, the symptom intake API too. Ctrl-C or SIGTERM stops it."""
    from streams.cli.kafka_access import reachable_kafka
    from streams.gateway.pseudonym import Pseudonymiser

    settings = _gateway_settings()
    Pseudonymiser(settings.pseudonym_key)  # a missing or short key is named before Kafka
    kafka = reachable_kafka(settings)
    asyncio.run(serve_gateway(settings, kafka))
    console.print("gateway stopped")


async def serve_gateway(settings: Settings, kafka: KafkaConnection) -> None:
    """Create the topics, serve metrics and probes, run the MLLP listener (and the intake API)
    until SIGTERM or SIGINT."""
    from prometheus_client import CollectorRegistry

    from streams.gateway.health import GatewayHealth
    from streams.gateway.service import Hl7Gateway
    from streams.kafka.admin import ensure_topics
    from streams.metrics.families import GatewayMetrics
    from streams.metrics.server import serve_metrics

    await ensure_topics(
        kafka,
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
    )
    metrics = GatewayMetrics(CollectorRegistry())
    health = GatewayHealth()
    service = Hl7Gateway.from_settings(settings, kafka, metrics, health)
    server: WSGIServer | None = None
    if settings.metrics_port:  # first: a port in use stops us before anything listens
        server = serve_metrics(
            metrics.registry, health, settings.bind_address, settings.metrics_port
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    intake: SymptomIntake | None = None
    try:
        # the intake first: the MLLP listener marks the gateway ready, so /readyz answers 200
        # only once both accept connections
        intake = await _start_intake(settings, kafka, metrics)
        try:
            await service.start()
            try:
                _print_addresses(settings, service.port, intake, server)
                await stop.wait()
            finally:
                await service.stop()
        finally:
            if intake is not None:
                await intake.stop()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if server is not None:
            server.shutdown()
            server.server_close()


async def _start_intake(
    settings: Settings, kafka: KafkaConnection, metrics: GatewayMetrics
) -> SymptomIntake | None:
    from streams.gateway.intake import SymptomIntake

    if settings.intake_token is None:
        return None
    intake = SymptomIntake(
        kafka,
        settings.intake_token.get_secret_value(),
        settings.bind_address,
        settings.gateway_http_port,
        settings.gateway_max_message_bytes,
        on_outcome=lambda outcome: metrics.intake_requests.labels(outcome).inc(),
        ack_timeout_s=settings.gateway_ack_timeout_s,
    )
    await intake.start()
    return intake


def _print_addresses(
    settings: Settings, mllp_port: int, intake: SymptomIntake | None, server: WSGIServer | None
) -> None:
    from streams.gateway.intake import INTAKE_PATH

    host = settings.bind_address
    console.print(f"MLLP (HL7 v2: PCD-01, PCD-10, pain scores) on {host}:{mllp_port}")
    if intake is not None:
        console.print(f"symptom intake on http://{host}:{intake.port}{INTAKE_PATH}")
    if server is not None:
        console.print(
            f"metrics and probes on http://{host}:{server.server_port}/metrics, /healthz, /readyz"
        )
    if intake is None:
        err_console.print("symptom intake off (set PUMPSTREAM_INTAKE_TOKEN to run it)")
    err_console.print("Ctrl-C or SIGTERM stops the gateway")
    with contextlib.suppress(OSError):
        sys.stdout.flush()


def bench_gateway(
    senders: Annotated[
        list[int] | None,
        typer.Option(help="Concurrent MLLP senders, one run each (repeat); default 1, 10, 50."),
    ] = None,
    messages: Annotated[int, typer.Option(min=1, help="Messages per run.")] = 3000,
) -> None:
    """Messages/s of one gateway process and its ACK latency (p50/p99) on the embedded broker."""
    from streams.cli.gateway_bench import run_bench_gateway

    settings = load_settings()
    for line in run_bench_gateway(settings, tuple(senders or (1, 10, 50)), messages):
        console.print(line)


def _register_gateway(cli: typer.Typer) -> None:
    """Add ``gateway`` to ``cli`` (and ``gateway`` to its bench group)."""
    cli.command()(gateway)
    for group in cli.registered_groups:
        if group.name == "bench" and group.typer_instance is not None:
            group.typer_instance.command("gateway")(bench_gateway)
