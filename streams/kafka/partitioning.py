"""Which partition a key lands on: Kafka's default partitioner, as aiokafka and Faust use it."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the default partitioner (murmur2) gives ``key`` among ``partitions``."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
