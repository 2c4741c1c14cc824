"""The Kafka a command talks to, checked before any client starts, so a person reads why it
cannot connect (aiokafka alone says only "Unable to bootstrap")."""

from __future__ import annotations

import asyncio

from streams.kafka.connection import KafkaConnection
from streams.settings import Settings


def reachable_kafka(settings: Settings, bootstrap: str | None = None) -> KafkaConnection:
    """``bootstrap`` (a ``--bootstrap`` option) or ``PUMPSTREAM_KAFKA_BOOTSTRAP``, with the security
    settings; raises :class:`~streams.exceptions.PumpstreamError` naming the cause and the fix
    when it is unset, unreachable, or its TLS files or certificate do not check out."""
    kafka = settings.kafka_connection(bootstrap)
    asyncio.run(kafka.check_reachable())
    return kafka
