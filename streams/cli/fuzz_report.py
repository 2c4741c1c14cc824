"""The summary of a ``pumpstream fuzz`` run: the accounting per raw topic, dead letters by
reason, inputs by kind, what the guards set aside, timings and the targets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from streams.cli.fuzz_census import TopicCount

LATENCY_TARGET_S = 2.0


@dataclass
class FuzzReport:
    """What one run sent, where it went, and the targets."""

    seed: int
    inputs: int
    burst: int
    topics: dict[str, TopicCount]
    kinds: Counter[str]
    reasons: dict[tuple[str, str], float]
    agent_failures: dict[str, float]
    #: ``processing.dlq`` records by source topic (any stage), and by exception class.
    set_aside: Counter[str]
    failures: Counter[str]
    worker_alive: bool
    crash_lines: int
    latency_s: float | None
    run_dir: Path
    notes: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> bool:
        return all(count.accounted for count in self.topics.values())

    @property
    def crashes(self) -> int:
        return self.crash_lines + (0 if self.worker_alive else 1)

    @property
    def latency_met(self) -> bool:
        return self.latency_s is not None and self.latency_s <= LATENCY_TARGET_S

    @property
    def targets_met(self) -> bool:
        return self.accounted and self.crashes == 0 and self.latency_met


def _mark(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]MISSED[/]"


def print_report(report: FuzzReport, console: Console) -> None:
    """The accounting table, dead letters by reason, inputs by kind and the targets."""
    table = Table(
        title=f"{report.inputs:,} hostile inputs, seed {report.seed}: accounting per raw topic"
    )
    table.add_column("raw topic")
    columns = ("sent", "on the topic", "sent on", "read (metric)", "validated", "dead-lettered")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("set aside", justify="right")
    table.add_column("unaccounted", justify="right")
    for name, c in report.topics.items():
        table.add_row(
            name,
            f"{c.sent:,}",
            f"{c.on_topic:,}",
            f"{c.forwarded:,} / {c.metric_forwarded:,.0f}",
            f"{c.metric_in:,.0f}",
            f"{c.validated:,} / {c.metric_validated:,.0f}",
            f"{c.dead_lettered:,} / {c.metric_dead_lettered:,.0f}",
            f"{c.set_aside:,}",
            f"{c.unaccounted:,} / {c.metric_unaccounted:,.0f}",
        )
    table.caption = (
        "sent on (a valid event on another partition than its patient's, sent on to it and "
        "read again), validated, dead-lettered, unaccounted: counted on the topics / from /metrics"
    )
    console.print(table)
    reasons = Table(title="dead letters by reason (pumpstream_dead_letters_total)")
    for column in ("raw topic", "reason", "count"):
        reasons.add_column(column, justify="right" if column == "count" else "left")
    for (topic, reason), value in sorted(report.reasons.items()):
        reasons.add_row(topic, reason, f"{value:,.0f}")
    console.print(reasons)
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in report.kinds.most_common())
    console.print(f"inputs by kind: {kinds}")
    failures = ", ".join(f"{stage} {n:,.0f}" for stage, n in sorted(report.agent_failures.items()))
    console.print(f"pumpstream_agent_failures_total: {failures}")
    if report.set_aside:
        by_source = ", ".join(f"{topic} {n:,}" for topic, n in report.set_aside.most_common())
        by_class = ", ".join(f"{name} {n:,}" for name, n in report.failures.most_common())
        console.print(f"processing.dlq: from {by_source}; {by_class}")
    for note in report.notes:
        console.print(note)
    unaccounted = sum(
        abs(c.unaccounted) + abs(c.metric_unaccounted) for c in report.topics.values()
    )
    latency = "none" if report.latency_s is None else f"{report.latency_s:.2f} s"
    console.print(f"target 0 unaccounted: {unaccounted:,.0f} ({_mark(report.accounted)})")
    console.print(
        f"target 0 crashes: worker {'running' if report.worker_alive else 'EXITED'}, "
        f"{report.crash_lines} agent crash(es) logged ({_mark(report.crashes == 0)})"
    )
    console.print(
        f"target alert within {LATENCY_TARGET_S:g} s of its pain report after a {report.burst:,}"
        f"-message burst: {latency} ({_mark(report.latency_met)})"
    )
    console.print(f"logs: {report.run_dir}")
