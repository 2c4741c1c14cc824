"""The in-process figures of ``pumpstream bench telemetry``: ``vitals_step``'s cost per
observation at the start and in the 4th hour of an infusion, the snapshot's, ``read_batch``'s,
and cProfile listings of both (no broker, no worker)."""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.events import InfusionStarted, VitalSigns
from schemas.raw_validation import IngestLimits
from streams.cli.telemetry_bench_data import TelemetryData, iso, reading_json, start_event
from streams.cli.telemetry_bench_report import Figure, TelemetryBenchConfig, TelemetryBenchReport
from streams.clinical.rules_file import RulesConfig, load_rules
from streams.clinical.state import VITALS_KEPT, PatientState
from streams.clinical.state_changelog import encode_checkpoint
from streams.clinical.step import clinical_step, vitals_step
from streams.clinical.telemetry import read_batch
from streams.settings import Settings


def infusion_readings(seconds: int, t0: datetime) -> list[VitalSigns]:
    return [
        VitalSigns.model_validate_json(
            reading_json("inproc", s, iso(t0 + timedelta(seconds=s)), 70.0 + s % 7)
        )
        for s in range(seconds)
    ]


def steady_changelog(commit_interval_s: float, seconds: int = 1200) -> tuple[float, float]:
    """In process, one patient with 1 Hz vitals for ``seconds``, checkpointed every
    ``commit_interval_s`` as a worker's commits do (``encode_checkpoint``): the changelog's
    value bytes per observation over the second half (300 sets kept long before), and the
    median cost of a checkpoint there in us."""
    rules = load_rules()
    t0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
    state = PatientState(patient_ref="inproc")
    start = InfusionStarted.model_validate_json(start_event("inproc", t0 - timedelta(seconds=1)))
    clinical_step(state, start, rules, t0)
    readings = infusion_readings(seconds, t0)
    written = observed = 0
    costs: list[float] = []
    next_commit = commit_interval_s
    for second, reading in enumerate(readings):
        vitals_step(state, [reading], rules, reading.event_time)
        counted = second >= seconds // 2
        observed += counted
        if second + 1 >= next_commit:
            next_commit += commit_interval_s
            began = time.perf_counter_ns()
            checkpoint = encode_checkpoint(state)
            if counted:
                costs.append((time.perf_counter_ns() - began) / 1000)
                written += sum(len(value) for _, value in checkpoint.records)
    return written / observed, statistics.median(costs)


def _started(ref: str, rules: RulesConfig, t0: datetime) -> PatientState:
    state = PatientState(patient_ref=ref)
    start = InfusionStarted.model_validate_json(start_event(ref, t0 - timedelta(seconds=1)))
    clinical_step(state, start, rules, t0)
    return state


@dataclass(frozen=True, slots=True)
class CostOverInfusion:
    """Median us per observation of ``vitals_step`` at three ages of an infusion, and the
    snapshot's (``to_table_value``) cost in us after the first minute and at the end."""

    first_minute: float
    #: The 6th minute: the first in which every reading drops the oldest of the sets kept.
    sixth_minute: float
    fourth_hour: float
    snapshot_first: float
    snapshot_last: float


def cost_over_infusion(per_call: int) -> CostOverInfusion:
    """In process, one patient with 1 Hz vitals for 4 hours through ``vitals_step``,
    ``per_call`` readings a call: median us/observation over its 4th hour, and over the first
    and the 6th minute of other patients, one call of each in turn while the 4th hour is
    measured (so that all are taken in the same seconds, under the same collector and machine;
    a first minute taken alone, 60 calls before the rest, moved the ratio by 0.5 between
    runs); and the snapshot's cost after the first minute and at the end."""
    rules = load_rules()
    t0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
    state = _started("inproc", rules, t0)
    readings = infusion_readings(4 * 3600, t0)
    kept_full = VITALS_KEPT  # (from the next reading on, each drops the oldest set)
    first: list[float] = []
    sixth: list[float] = []
    fourth: list[float] = []
    snapshots: list[float] = []

    def timed(patient: PatientState, chunk: list[VitalSigns]) -> float:
        began = time.perf_counter_ns()
        vitals_step(patient, chunk, rules, chunk[-1].event_time)
        return (time.perf_counter_ns() - began) / 1000 / len(chunk)

    def snapshot() -> None:
        began = time.perf_counter_ns()
        state.to_table_value()
        snapshots.append((time.perf_counter_ns() - began) / 1000)

    def aged(n: int) -> PatientState:
        patient = _started(f"inproc-aged-{n}", rules, t0)
        for i in range(0, kept_full, per_call):
            vitals_step(patient, readings[i : min(i + per_call, kept_full)], rules, t0)
        return patient

    for i in range(0, 3 * 3600, per_call):
        vitals_step(state, readings[i : i + per_call], rules, readings[i].event_time)
        if i < 60 <= i + per_call:
            snapshot()
    fresh, fresh_at = _started("inproc-fresh-0", rules, t0), 0
    older, older_at = aged(0), kept_full
    for i in range(3 * 3600, len(readings), per_call):
        fourth.append(timed(state, readings[i : i + per_call]))
        if fresh_at >= 60:
            fresh, fresh_at = _started(f"inproc-fresh-{len(first)}", rules, t0), 0
        first.append(timed(fresh, readings[fresh_at : min(fresh_at + per_call, 60)]))
        fresh_at += per_call
        if older_at >= kept_full + 60:
            older, older_at = aged(len(sixth)), kept_full
        sixth.append(timed(older, readings[older_at : min(older_at + per_call, kept_full + 60)]))
        older_at += per_call
    snapshot()
    return CostOverInfusion(
        statistics.median(first),
        statistics.median(sixth),
        statistics.median(fourth),
        snapshots[0],
        snapshots[-1],
    )


def read_batch_cost(data: TelemetryData, partitions: int) -> float:
    """Median us/observation of ``read_batch`` over the data set's envelopes."""
    limits = IngestLimits(
        max_message_bytes=1 << 24, max_age=timedelta(days=3650), max_ahead=timedelta(days=1)
    )
    arrival = datetime.now(UTC)
    costs = []
    for partition, value in data.envelopes[:2000]:
        began = time.perf_counter_ns()
        reading = read_batch(
            value, partition=partition, partitions=partitions, arrival=arrival, limits=limits
        )
        costs.append((time.perf_counter_ns() - began) / 1000 / max(reading.accepted, 1))
    return statistics.median(costs)


def profiles(data: TelemetryData, partitions: int) -> dict[str, str]:
    """cProfile of one hour of one patient's vitals_step (one reading a call, as the agent calls
    it at 1 Hz) and of read_batch over the envelopes: the top functions by own time."""
    out = {}
    profiler = cProfile.Profile()
    rules = load_rules()
    t0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
    state = PatientState(patient_ref="inproc")
    clinical_step(state, InfusionStarted.model_validate_json(start_event("inproc", t0)), rules, t0)
    readings = infusion_readings(3600, t0 + timedelta(seconds=1))
    profiler.enable()
    for reading in readings:
        vitals_step(state, [reading], rules, reading.event_time)
    profiler.disable()
    out["vitals_step"] = _top(profiler)
    profiler = cProfile.Profile()
    limits = IngestLimits(
        max_message_bytes=1 << 24, max_age=timedelta(days=3650), max_ahead=timedelta(days=1)
    )
    arrival = datetime.now(UTC)
    profiler.enable()
    for partition, value in data.envelopes[:500]:
        read_batch(
            value, partition=partition, partitions=partitions, arrival=arrival, limits=limits
        )
    profiler.disable()
    out["read_batch"] = _top(profiler)
    return out


def _top(profiler: cProfile.Profile, lines: int = 14) -> str:
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime").print_stats(lines)
    return text.getvalue()


def in_process_figures(
    config: TelemetryBenchConfig, data: TelemetryData, report: TelemetryBenchReport
) -> None:
    for per_call in sorted({1, config.batch_size}):
        runs = [cost_over_infusion(per_call) for _ in range(config.repeats)]
        first = statistics.median(r.first_minute for r in runs)
        sixth = statistics.median(r.sixth_minute for r in runs)
        fourth = statistics.median(r.fourth_hour for r in runs)
        snap_first = statistics.median(r.snapshot_first for r in runs)
        snap_fourth = statistics.median(r.snapshot_last for r in runs)
        ratio = fourth / first
        report.figures += [
            Figure(
                f"vitals_step_first_min_{per_call}",
                f"9. vitals_step, 1st minute, {per_call} reading(s)/call",
                first,
                "us/obs",
            ),
            Figure(
                f"vitals_step_sixth_min_{per_call}",
                f"9. vitals_step, 6th minute, {per_call} reading(s)/call",
                sixth,
                "us/obs",
                note="the first minute in which each reading drops the oldest set kept",
            ),
            Figure(
                f"vitals_step_4th_hour_{per_call}",
                f"9. vitals_step, 4th hour, {per_call} reading(s)/call",
                fourth,
                "us/obs",
            ),
            Figure(
                f"vitals_step_ratio_{per_call}",
                f"9. 4th hour / 1st minute, {per_call}/call",
                ratio,
                "x",
                "<= 1.2",
                ratio <= 1.2,
            ),
            Figure(
                f"vitals_step_ratio_sixth_{per_call}",
                f"9. 4th hour / 6th minute, {per_call}/call",
                fourth / sixth,
                "x",
                note="what history adds once the sets kept are full",
            ),
        ]
    commit_interval_s = Settings.model_fields["commit_interval_s"].default
    steady_bytes, checkpoint_us = steady_changelog(commit_interval_s)
    report.figures += [
        Figure(
            "changelog_steady_bytes_per_obs",
            f"7. changelog, steady state (1 Hz, a commit every {commit_interval_s:g} s)",
            steady_bytes,
            "B/obs",
            "<= 50",
            steady_bytes <= 50,
            note="values; in process, one patient, the second of 20 minutes",
        ),
        Figure("checkpoint_steady", "9. a checkpoint in steady state", checkpoint_us, "us"),
        Figure("snapshot_first_min", "9. base (to_table_value), after 1 minute", snap_first, "us"),
        Figure("snapshot_4th_hour", "9. base (to_table_value), after 4 hours", snap_fourth, "us"),
        Figure(
            "read_batch",
            "9. read_batch",
            read_batch_cost(data, config.partitions),
            "us/obs",
            note=f"envelopes of {config.batch_size}",
        ),
    ]
    report.profile = profiles(data, config.partitions)
