"""A simulated message scheduled on simulated time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SimEvent:
    #: Seconds of simulated time from the start of the scenario.
    offset_s: float
    topic: str
    key: bytes
    value: bytes
    #: What this message is meant to show (ground truth for tests and the demo summary).
    note: str = ""
    #: The partition to produce to (telemetry batches); None: the key's partition.
    partition: int | None = None
