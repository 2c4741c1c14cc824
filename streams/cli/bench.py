"""``pumpstream bench``: measured, not asserted. Results go to docs/benchmarks.md.

- ``bench rules``: per-event cost of the clinical step (state load, apply, rules R1-R8, state
  store) in process, against the same step without the table round trip, side by side in one run.
- ``bench pipeline``: the embedded broker and one worker; N raw events as fast as possible;
  throughput to a caught-up consumer group, and event-in -> alert-out latency for reacting patients.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import ConsumerRecord

from schemas.alerts import Alert
from schemas.topics import ALERTS
from simulators.publisher import publish
from simulators.scripted_sessions import DEMO_PATIENTS, ScriptedPatient, demo_script
from simulators.sim_event import SimEvent
from streams.cli.bench_figures import Sample, percentile
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.clinical.rules_file import load_rules
from streams.clinical.state import ClinicalEventModel, PatientState
from streams.clinical.step import clinical_step
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.reading import TopicReader
from streams.settings import Settings


def _cohort(patients: int, prefix: str = "bench") -> tuple[ScriptedPatient, ...]:
    """``patients`` copies of the demo patients under distinct pseudonymous refs."""
    cohort = []
    for i in range(patients):
        template = DEMO_PATIENTS[i % len(DEMO_PATIENTS)]
        cohort.append(
            ScriptedPatient(
                f"{prefix}-{i:05d}", template.product, template.weight_kg, template.age_years,
                template.risk_factors, template.steps, template.back_pain, template.end_min,
                template.hr_rise,
            )
        )  # fmt: skip
    return tuple(cohort)


def _parsed_events(patients: int) -> list[ClinicalEventModel]:
    from schemas.topics import VALIDATED_TOPIC

    events: list[ClinicalEventModel] = []
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for sim in demo_script(start, _cohort(patients)):
        spec = VALIDATED_TOPIC[sim.topic]
        assert spec.value_adapter is not None
        try:
            events.append(spec.value_adapter.validate_json(sim.value))
        except ValueError:
            continue  # the script's deliberate malformed message
    return events


def bench_rules(patients: int, repeats: int) -> list[Sample]:
    """Microseconds per event, median over ``repeats`` runs of the whole event list."""
    events = _parsed_events(patients)
    rules = load_rules()
    now = datetime.now(UTC)

    def with_table_round_trip() -> None:
        table: dict[str, bytes] = {}
        for event in events:
            state = PatientState.from_table_value(event.patient_ref, table.get(event.patient_ref))
            if clinical_step(state, event, rules, now).applied:
                table[event.patient_ref] = state.to_table_value()

    def in_memory_only() -> None:
        states: dict[str, PatientState] = {}
        for event in events:
            state = states.setdefault(
                event.patient_ref, PatientState(patient_ref=event.patient_ref)
            )
            clinical_step(state, event, rules, now)

    samples = []
    runs: dict[str, list[float]] = {"with table round trip": [], "in-memory state only": []}
    for _ in range(repeats):  # interleaved, so both see the same machine load
        for name, fn in (
            ("with table round trip", with_table_round_trip),
            ("in-memory state only", in_memory_only),
        ):
            began = time.perf_counter()
            fn()
            runs[name].append((time.perf_counter() - began) / len(events) * 1e6)
    for name, values in runs.items():
        samples.append(Sample(f"clinical step, {name}", statistics.median(values),
                              percentile(values, 0.9), "us/event"))  # fmt: skip
    return samples


async def _alerts_arrival(
    kafka: KafkaConnection, stop: asyncio.Event, arrivals: dict[str, float]
) -> None:
    """When each patient's first alert is read, until ``stop`` is set and then to the end."""

    def note(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            alert = Alert.model_validate_json(record.value or b"")
            arrivals.setdefault(alert.patient_ref, time.monotonic())

    # A short fetch wait, so that the observer does not add the broker's fetch hold to the
    # latency it measures.
    async with TopicReader(kafka, ALERTS.name, fetch_max_wait_ms=10) as reader:
        while not stop.is_set():
            note(await reader.read(timeout_ms=100))
        note(await reader.read_to_end())


async def bench_pipeline(
    settings: Settings,
    patients: int,
    progress: Callable[[str], None],
    fetch_waits_ms: tuple[int, ...] = (1500, 40),
) -> list[Sample]:
    """Throughput and event->alert latency through the embedded broker and one worker, once per
    consumer fetch wait (Faust's fixed 1500 ms, pumpstream's default 40 ms), in one run."""
    samples = []
    for fetch_wait_ms in fetch_waits_ms:
        with tempfile.TemporaryDirectory(prefix="pumpstream-bench-") as tmp:
            run_dir = Path(tmp)
            with EmbeddedBroker(log_path=run_dir / "broker.log") as broker:
                await ensure_topics(broker.connection, partitions=settings.topic_partitions)
                worker = WorkerProcess(
                    broker.bootstrap, run_dir,
                    env={"PUMPSTREAM_METRICS_PORT": str(free_port()),
                         "PUMPSTREAM_DATA_DIR": str(run_dir),
                         "PUMPSTREAM_CONSUMER_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)},
                ).start()  # fmt: skip
                try:
                    progress(
                        f"fetch wait {fetch_wait_ms} ms: worker ready in "
                        f"{worker.wait_ready(60):.1f} s"
                    )
                    measured = await _measure_pipeline(
                        broker.connection, settings, patients, progress
                    )
                finally:
                    worker.stop()
        samples += [
            Sample(f"fetch wait {fetch_wait_ms} ms, {s.name}", s.median, s.p90, s.unit)
            for s in measured
        ]
    return samples


async def _measure_pipeline(
    kafka: KafkaConnection, settings: Settings, patients: int, progress: Callable[[str], None]
) -> list[Sample]:
    throughput = await _play(kafka, settings, _cohort(patients, "burst"), speed=0)
    progress(
        f"burst: {throughput.sent} raw messages, all processed after {throughput.total_s:.1f} s"
    )
    # Latency on a paced feed (the demo script of 30 patients at 600x: ~5 msg/s) so that it
    # measures the pipeline, not a queue of its own making.
    paced = await _play(kafka, settings, _cohort(30, "paced"), speed=600)
    progress(f"paced: {len(paced.latencies_s)} alerts")
    # Sparse: 12 patients at 120x, seconds between messages, so each pain report meets consumers
    # that are idle in a fetch (the ward at night; where the fetch wait shows).
    sparse = await _play(kafka, settings, _cohort(12, "sparse"), speed=120)
    progress(f"sparse: {len(sparse.latencies_s)} alerts")
    rate = throughput.sent / throughput.total_s
    return [
        Sample("burst: raw messages through ingest + clinical agent", rate, rate, "msg/s"),
        Sample("burst: pain published -> alert read (behind the queue)",
               statistics.median(throughput.latencies_s),
               percentile(throughput.latencies_s, 0.9), "s"),
        Sample("paced: pain published -> alert read", statistics.median(paced.latencies_s),
               percentile(paced.latencies_s, 0.9), "s"),
        Sample("sparse: pain published -> alert read", statistics.median(sparse.latencies_s),
               percentile(sparse.latencies_s, 0.9), "s"),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Run:
    sent: int
    total_s: float
    latencies_s: list[float]


async def _play(
    kafka: KafkaConnection, settings: Settings, cohort: tuple[ScriptedPatient, ...], *, speed: float
) -> _Run:
    script = demo_script(datetime.now(UTC) - timedelta(hours=3), cohort)
    pain_sent: dict[str, float] = {}

    def on_sent(event: SimEvent) -> None:
        if event.note.startswith("back pain"):
            pain_sent[event.key.decode()] = time.monotonic()

    arrivals: dict[str, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(_alerts_arrival(kafka, stop, arrivals))
    began = time.monotonic()
    sent = await publish(kafka, script, speed=speed, on_sent=on_sent)
    topics = settings.consumed_topics()
    caught_up = await wait_until_caught_up(kafka, settings.app_id, topics, timeout_s=600)
    total_s = time.monotonic() - began
    stop.set()  # Faust flushes what it sends before it commits: the rest is on the topic
    await watcher
    if not caught_up:
        raise RuntimeError("the worker did not catch up within 600 s")
    latencies = [arrivals[p] - pain_sent[p] for p in pain_sent if p in arrivals]
    return _Run(sent, total_s, latencies)


def run_bench_pipeline(
    settings: Settings,
    patients: int,
    progress: Callable[[str], None],
    fetch_waits_ms: tuple[int, ...] = (1500, 100),
) -> list[Sample]:
    return asyncio.run(bench_pipeline(settings, patients, progress, fetch_waits_ms))
