"""Which partition a key lands on: Kafka's default partitioner, as aiokafka and Faust use it."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


@lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition the default partitioner (murmur2) gives ``key`` among ``partitions``.
    Remembered for the last 65,536 keys: aiokafka's murmur2 is pure Python (~4 us), and the
    telemetry path asks it for every reading's patient (docs/benchmarks.md)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
