"""The HL7 gateway as one service: the Kafka producer, the receiver and the MLLP listener, plus
the probes' heartbeat and a periodic Kafka check (``pumpstream gateway`` runs it; tests and the
benchmark run it in process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import SecretStr

from streams.exceptions import PumpstreamError
from streams.gateway.durable_producer import DurableProducer
from streams.gateway.health import GatewayHealth
from streams.gateway.mllp_listener import ListenerLimits, MllpListener
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.receiver import Hl7Receiver
from streams.kafka.connection import KafkaConnection
from streams.metrics.families import GatewayMetrics
from streams.settings import Settings

log = logging.getLogger(__name__)

#: How often the probes' heartbeat ticks, and how often an idle gateway checks Kafka.
HEARTBEAT_S = 1.0
KAFKA_CHECK_INTERVAL_S = 5.0


class Hl7Gateway:
    """MLLP in, raw topics out; :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        kafka: KafkaConnection,
        pseudonym_key: SecretStr | None,
        metrics: GatewayMetrics,
        limits: ListenerLimits,
        *,
        host: str,
        port: int,
        ack_timeout_s: float,
        health: GatewayHealth | None = None,
    ) -> None:
        self.kafka = kafka
        self.metrics = metrics
        self.health = health or GatewayHealth()
        pseudonymiser = Pseudonymiser(pseudonym_key)  # a missing key stops us before Kafka
        self.producer = DurableProducer(kafka, ack_timeout_s=ack_timeout_s)
        self.receiver = Hl7Receiver(
            self.producer,
            pseudonymiser,
            metrics,
            self.health,
            max_message_bytes=limits.max_message_bytes,
        )
        self.listener = MllpListener(self.receiver, metrics, limits, host=host, port=port)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        kafka: KafkaConnection,
        metrics: GatewayMetrics,
        health: GatewayHealth | None = None,
    ) -> Hl7Gateway:
        return cls(
            kafka,
            settings.pseudonym_key,
            metrics,
            ListenerLimits(
                max_message_bytes=settings.gateway_max_message_bytes,
                idle_timeout_s=settings.gateway_idle_timeout_s,
                max_connections=settings.gateway_max_connections,
            ),
            host=settings.bind_address,
            port=settings.gateway_mllp_port,
            ack_timeout_s=settings.gateway_ack_timeout_s,
            health=health,
        )

    @property
    def port(self) -> int:
        return self.listener.port

    async def start(self) -> None:
        await self.listener.bind()
        try:
            await self.producer.start()
        except PumpstreamError:
            await self.listener.stop()
            raise
        await self.listener.serve()
        self.health.listening()
        self._tasks = [
            asyncio.create_task(self._heartbeat(), name="gateway-heartbeat"),
            asyncio.create_task(self._check_kafka(), name="gateway-kafka-check"),
        ]
        log.info("MLLP listener on %s:%d; Kafka %s", self.listener.host, self.port,
                 self.kafka.describe())  # fmt: skip

    async def stop(self) -> None:
        self.health.not_listening()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.listener.stop(grace_s=self.producer.ack_timeout_s + 1)
        await self.producer.stop()

    async def _heartbeat(self) -> None:
        while True:
            self.health.tick()
            await asyncio.sleep(HEARTBEAT_S)

    async def _check_kafka(self) -> None:
        """Between messages, whether Kafka still answers (for ``/readyz``)."""
        while True:
            await asyncio.sleep(KAFKA_CHECK_INTERVAL_S)
            try:
                await self.kafka.check_reachable(timeout_s=KAFKA_CHECK_INTERVAL_S / 2)
            except PumpstreamError as exc:
                self.health.broker_failed(str(exc))
            else:
                self.health.broker_ok()
