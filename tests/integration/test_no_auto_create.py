"""pumpstream's Kafka clients do not create a topic by asking about it
(streams/kafka/no_auto_create.py): the embedded broker creates any topic a metadata request names
unless the request says not to, as Apache Kafka does with ``auto.create.topics.enable`` on."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import UnknownTopicOrPartitionError
from aiokafka.protocol.metadata import MetadataRequest

from streams.cli.local.embedded_broker import EmbeddedBroker
from streams.kafka.no_auto_create import NoAutoCreateMetadataRequest

pytestmark = pytest.mark.integration


async def _topics(broker: EmbeddedBroker) -> set[str]:
    admin = broker.connection.admin()
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_aiokafka_asks_without_allowing_creation() -> None:
    """If aiokafka stops building its requests through the module's name, this fails first."""
    import aiokafka.admin.client

    assert aiokafka.client.MetadataRequest is NoAutoCreateMetadataRequest
    assert aiokafka.admin.client.MetadataRequest is NoAutoCreateMetadataRequest


async def test_a_producer_a_consumer_and_an_admin_leave_a_missing_topic_missing(
    broker: EmbeddedBroker,
) -> None:
    producer = broker.connection.producer(request_timeout_ms=1500)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send_and_wait("lost-orders", b"x")
    finally:
        await producer.stop()
    consumer = broker.connection.consumer("lost-vitals", group_id=None, request_timeout_ms=1500)
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await consumer.start()
    finally:
        await consumer.stop()
    admin = broker.connection.admin()
    await admin.start()
    try:
        described = await admin.describe_topics(["lost-pain"])
        assert described[0]["error_code"] != 0, described
    finally:
        await admin.close()
    assert not {"lost-orders", "lost-vitals", "lost-pain"} & await _topics(broker)


async def test_the_broker_would_have_created_them(broker: EmbeddedBroker) -> None:
    """The other half: a request allowing creation (aiokafka's default) does create one, so the
    test above shows the setting, not a broker that never creates topics."""
    client = AIOKafkaClient(**broker.connection.client_options())
    await client.bootstrap()
    try:
        node = next(iter(client.cluster.brokers())).nodeId
        conn = await client._get_conn(node)
        assert conn is not None
        await conn.send(MetadataRequest(["created-by-asking"], allow_auto_topic_creation=True))
    finally:
        await client.close()
    await asyncio.sleep(0)
    assert "created-by-asking" in await _topics(broker)
