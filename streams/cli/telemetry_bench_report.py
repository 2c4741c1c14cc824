"""What ``pumpstream bench telemetry`` runs with and reports: its parameters, the figures (one
table row each, with its target), the correctness checks, and the table and JSON written from
them (the run itself: ``telemetry_bench.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

#: Where the run's progress lines go (the CLI prints them).
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TelemetryBenchConfig:
    """The command's parameters (recorded with every figure in the JSON)."""

    patients: int = 2000
    observations: int = 200_000
    batch_size: int = 50
    clinical_events: int = 20_000
    #: The target's own count (measured, not extrapolated: from 2,000, run 11's extrapolation
    #: gave 704 MB where 10,000 measured 482 MB, the backlog's fixed cost counted five times).
    infusions: int = 10_000
    #: Past the 300 sets a patient keeps (``VITALS_KEPT``): the memory of infusions in a steady
    #: state at 1 Hz (100 readings, the default until run 10, held ~half of it).
    readings_per_infusion: int = 330
    reports: int = 30
    load_per_s: float = 10_000.0
    loops: tuple[str, ...] = ("uvloop", "asyncio")
    partitions: int = 4
    app_id: str = "pumpstream"
    repeats: int = 3
    #: The speed-only variants (naive agent, unbatched events, readings one per message); off
    #: in the quick mode.
    comparisons: bool = True

    @classmethod
    def quick(cls, partitions: int = 2, app_id: str = "pumpstream") -> TelemetryBenchConfig:
        """Small sizes for the test: correctness, not speed."""
        return cls(
            patients=30,
            observations=1500,
            batch_size=20,
            clinical_events=300,
            infusions=30,
            readings_per_infusion=50,
            reports=4,
            load_per_s=400.0,
            loops=("uvloop",),
            partitions=partitions,
            app_id=app_id,
            repeats=1,
            comparisons=False,
        )


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of the table: a measured value, its target (if the issue sets one) and whether
    it was met."""

    key: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """A correctness check of the run: what was expected and what was found."""

    name: str
    expected: object
    actual: object

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class TelemetryBenchReport:
    config: TelemetryBenchConfig
    figures: list[Figure] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    profile: dict[str, str] = field(default_factory=dict)
    machine: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "config": asdict(self.config),
                "machine": self.machine,
                "figures": [asdict(f) for f in self.figures],
                "checks": [{**asdict(c), "ok": c.ok} for c in self.checks],
                "profile": self.profile,
            },
            indent=2,
            default=str,
        )

    def table(self) -> str:
        lines = [f"{'figure':62} {'value':>12} {'unit':10} {'target':14} status"]
        for f in self.figures:
            status = "" if f.met is None else ("met" if f.met else "missed")
            lines.append(f"{f.name:62} {f.value:12,.1f} {f.unit:10} {f.target:14} {status}")
            if f.note:
                lines.append(f"    {f.note}")
        failed = [c for c in self.checks if not c.ok]
        lines.append(f"checks: {len(self.checks) - len(failed)}/{len(self.checks)} ok")
        lines += [f"  FAILED {c.name}: expected {c.expected}, found {c.actual}" for c in failed]
        return "\n".join(lines)
