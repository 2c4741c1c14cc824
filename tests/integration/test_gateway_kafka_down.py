"""Kafka goes away under the gateway and comes back: the sender hears AE (resend) while Kafka
does not acknowledge, AA once it does; every message ends up on its raw topic exactly once.

Kafka is cut off by a TCP proxy in front of the embedded broker (``tests/support/kafka_proxy.py``;
the broker advertises the proxy's address, so every client goes through it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from schemas.topics import ALL_TOPICS, VITALS_RAW
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.gateway.mllp_listener import ListenerLimits
from streams.gateway.service import Hl7Gateway
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import read_topic
from streams.metrics.families import GatewayMetrics
from tests.support.hl7_messages import (
    PSEUDONYM_KEY,
    ack_code,
    ack_segment,
    frame,
    read_ack,
    vitals_message,
)
from tests.support.kafka_client import read_until
from tests.support.kafka_proxy import KafkaProxy
from tests.support.metrics_scrape import value

pytestmark = pytest.mark.integration

ACK_TIMEOUT_S = 1.0


@pytest.fixture
async def proxied_kafka(tmp_path: Path) -> AsyncIterator[tuple[KafkaProxy, KafkaConnection]]:
    proxy_port = free_port()
    with EmbeddedBroker(
        log_path=tmp_path / "broker.log", advertised=f"127.0.0.1:{proxy_port}"
    ) as broker:
        proxy = await KafkaProxy(broker.port, port=proxy_port).start()
        kafka = KafkaConnection(proxy.bootstrap)
        await ensure_topics(kafka, partitions=2, topics=ALL_TOPICS)
        try:
            yield proxy, kafka
        finally:
            await proxy.stop()


async def test_ae_while_kafka_is_away_then_aa_and_every_message_once(
    proxied_kafka: tuple[KafkaProxy, KafkaConnection],
) -> None:
    proxy, kafka = proxied_kafka
    gateway = Hl7Gateway(
        kafka,
        PSEUDONYM_KEY,
        GatewayMetrics(CollectorRegistry()),
        ListenerLimits(max_message_bytes=8192, idle_timeout_s=60, max_connections=10),
        host="127.0.0.1",
        port=0,
        ack_timeout_s=ACK_TIMEOUT_S,
    )
    await gateway.start()
    messages = [vitals_message("MRN0101", minute) for minute in range(6)]
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)

    async def send(message: bytes) -> bytes:
        writer.write(frame(message))
        await writer.drain()
        return await asyncio.wait_for(read_ack(reader), 30)

    try:
        assert [ack_code(await send(m)) for m in messages[:2]] == ["AA", "AA"]

        await proxy.cut()
        began = time.monotonic()
        refused = [await send(messages[2]), await send(messages[2])]
        assert [ack_code(a) for a in refused] == ["AE", "AE"], "Kafka is away: resend"
        assert ack_segment(refused[0], "ERR")[3].startswith("207^")
        assert time.monotonic() - began < 4 * ACK_TIMEOUT_S + 2, "AE after the ack timeout"
        ready, why = gateway.health.readiness()
        assert not ready, why

        await proxy.restore()
        deadline, resends = time.monotonic() + 30, 0
        while ack_code(await send(messages[2])) == "AE":  # the sender's retry loop
            resends += 1
            assert time.monotonic() < deadline, "no AA within 30 s of Kafka's return"
            await asyncio.sleep(0.2)
        assert [ack_code(await send(m)) for m in messages[3:]] == ["AA"] * 3
        assert gateway.health.readiness() == (True, "ready")
    finally:
        writer.close()
        await writer.wait_closed()
        await gateway.stop()

    records = await read_until(kafka, VITALS_RAW.name, lambda rs: len(rs) >= 6)
    await asyncio.sleep(2 * ACK_TIMEOUT_S)  # anything sent before the AE would have landed now
    records = await read_topic(kafka, VITALS_RAW.name, timeout_s=10)
    times = sorted(json.loads(r.value or b"")["event_time"] for r in records)
    assert len(records) == 6, f"each message once, not {len(records)} records ({resends} resends)"
    assert len(set(times)) == 6, "no message lost"
    assert await read_topic(kafka, "vitals.raw.dlq", timeout_s=5) == []
    exported = generate_latest(gateway.metrics.registry).decode()
    assert value(exported, "pumpstream_gateway_messages_total", ack="AE") == 2 + resends
    assert value(exported, "pumpstream_gateway_messages_total", ack="AA") == 6
