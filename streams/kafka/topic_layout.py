"""Whether the broker still has the topics a worker was started on.

A broker that lost its data (the embedded broker keeps everything in memory: a restart loses every
topic) leaves a running worker holding an assignment for topics that no longer exist, or that a
producer has since auto-created with the broker's default partition count. Measured on Tansu
0.6.0: such a worker rejoins its group, answers ``/readyz`` with 200, and never processes another
message (docs/reliability.md, "Broker faults"). :class:`TopicLayoutProbe` notices it, so the
worker can stop and be started again on topics it creates itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import TopicSpec
from streams.kafka.connection import KafkaConnection


def layout_problem(
    described: Iterable[dict[str, object]], expected: Iterable[str], partitions: int
) -> str | None:
    """What is wrong with ``described`` (``describe_topics``' answer) against ``expected`` topic
    names with ``partitions`` each; None when nothing is."""
    counts: dict[str, int] = {}
    for entry in described:
        found = entry.get("partitions")
        error = entry.get("error_code", 0)
        if isinstance(found, list) and found and not error:
            counts[str(entry.get("topic"))] = len(found)
    missing = [name for name in expected if name not in counts]
    if missing:
        listed = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        return f"the broker no longer has topic(s) {listed}"
    wrong = [f"{name} has {counts[name]}" for name in expected if counts[name] != partitions]
    if wrong:
        return (
            f"topic(s) re-created with a partition count other than {partitions}: "
            f"{'; '.join(wrong)}"
        )
    return None


class TopicLayoutProbe:
    """Describes ``topics`` on the broker; its admin client opens on first use and stays open
    until :meth:`close`."""

    def __init__(
        self, kafka: KafkaConnection, topics: Iterable[TopicSpec], *, partitions: int
    ) -> None:
        self.kafka = kafka
        self.topics = tuple(t.name for t in topics)
        self.partitions = partitions
        self._admin: AIOKafkaAdminClient | None = None

    async def problem(self) -> str | None:
        """None while every topic exists with its partition count; else what is wrong. Raises
        the client's error when the broker cannot be asked (an outage is not a lost topic)."""
        if self._admin is None:
            admin = self.kafka.admin(client_id="pumpstream-topic-check")
            await admin.start()
            self._admin = admin
        # Only topics that exist are described: a broker creates a topic it is asked to
        # describe unless the request says not to (streams/kafka/no_auto_create.py does).
        existing = set(await self._admin.list_topics())
        present = [name for name in self.topics if name in existing]
        described = await self._admin.describe_topics(present) if present else []
        return layout_problem(described, self.topics, self.partitions)

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        self._admin = None
