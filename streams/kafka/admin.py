"""Create the registry's topics before anyone produces to them.

Tansu (and Kafka with auto-create on) would otherwise create a topic on first use with
the broker's default partition count, breaking co-partitioning of the clinical topics.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import ALL_TOPICS, TopicSpec
from streams.exceptions import PumpstreamError
from streams.kafka.connection import KafkaConnection

_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


async def ensure_topics(
    kafka: KafkaConnection,
    *,
    partitions: int,
    replication_factor: int = 1,
    topics: Iterable[TopicSpec] = ALL_TOPICS,
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Raises :class:`PumpstreamError` if an existing topic has a different partition count,
    since patients' events would then no longer meet on one worker.
    """
    specs = list(topics)
    admin = kafka.admin(client_id="pumpstream-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        s.name,
                        partitions,
                        replication_factor,
                        topic_configs={"cleanup.policy": "compact"} if s.compacted else {},
                    )
                    for s in missing
                ]
            )
            for name, code, message in response.topic_errors:
                if code == 0:
                    created.append(name)
                elif code != _TOPIC_ALREADY_EXISTS:
                    raise PumpstreamError(f"could not create topic {name!r}: {message} ({code})")
        described = await admin.describe_topics([s.name for s in specs])
        wrong = [
            f"{d['topic']} has {len(d['partitions'])}"
            for d in described
            if d.get("partitions") and len(d["partitions"]) != partitions
        ]
        if wrong:
            raise PumpstreamError(
                f"topics exist with a partition count other than PUMPSTREAM_TOPIC_PARTITIONS="
                f"{partitions}: {'; '.join(wrong)}. Use the existing count or recreate the topics."
            )
        return created
    finally:
        await admin.close()
