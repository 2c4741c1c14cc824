"""The figures the benchmarks report: one :class:`Sample` per measurement, its median
(``statistics.median``) and its 90th :func:`percentile`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured figure: its name, median, 90th percentile and unit."""

    name: str
    median: float
    p90: float
    unit: str


def percentile(values: Sequence[float], q: float) -> float:
    """The value ``q`` (0 to 1) of the way up the sorted ``values``: the one at 0-based rank
    floor(q * n), capped at the largest (the 0.9 percentile of 10 values is the largest, of 20
    the 19th)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
