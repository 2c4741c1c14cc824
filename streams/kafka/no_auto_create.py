"""pumpstream's Kafka clients never create a topic by asking about it.

A Kafka metadata request (v4 and later) says whether the broker may create the topics it names;
aiokafka 0.14 always says yes and has no setting for it. With a broker that allows it (Apache
Kafka's ``auto.create.topics.enable`` is on by default; Tansu always does), a client that asks
about a lost topic re-creates it with the broker's default partition count, not the count
pumpstream's keys are spread over. CI saw it: after the embedded broker lost its topics, the old
worker's consumer re-created them with 4 partitions before it stopped, and the restarted worker
then refused them. pumpstream creates every topic itself (``streams.kafka.admin.ensure_topics``,
Faust's changelogs through its admin calls), so its clients ask with ``allow_auto_topic_creation``
false: a lost topic stays lost until a worker creates it again with the right layout.

:func:`install` swaps the request class aiokafka's client and admin client build; importing
``streams.kafka.connection`` calls it. Tested on aiokafka 0.14 (the pinned range)
(``tests/integration/test_no_auto_create.py`` fails if it stops taking effect); proposed upstream
as a consumer/producer/admin setting in docs/benchmarks.md.
"""

from __future__ import annotations

import aiokafka.admin.client
import aiokafka.client
from aiokafka.protocol.metadata import MetadataRequest


class NoAutoCreateMetadataRequest(MetadataRequest):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka's metadata request, not allowing the broker to create the topics it names."""

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False
    ) -> None:
        super().__init__(topics, allow_auto_topic_creation)


def install() -> None:
    """Make every aiokafka client in this process ask without allowing topic creation."""
    aiokafka.client.MetadataRequest = NoAutoCreateMetadataRequest
    aiokafka.admin.client.MetadataRequest = NoAutoCreateMetadataRequest
