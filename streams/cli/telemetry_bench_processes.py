"""The processes of ``pumpstream bench telemetry`` and what it reads from them: a fresh embedded
broker per variant, worker and naive-agent children, their RSS and Prometheus counters, the
state changelog and the alerts topic."""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from schemas.alerts import Alert
from schemas.topics import ALERTS
from streams.cli.local.child_process import ChildProcess, current_env
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.cli.telemetry_bench_report import TelemetryBenchConfig
from streams.clinical.agent import STATE_TABLE
from streams.clinical.state import PatientState
from streams.clinical.state_changelog import SEPARATOR, Recovered, assemble, regroup
from streams.exceptions import WorkerNotReady
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.kafka.reading import TopicReader, read_topic
from streams.settings import consumed_topics

#: What a worker running every stage reads (not the validated topics).
CONSUMED = consumed_topics("all")
READINGS = "pumpstream_telemetry_readings_total"
DUPLICATES = "pumpstream_duplicate_events_total"
#: Events the clinical agent finished (its processing histogram's count, label stage=clinical):
#: the end of the path, whatever the hops before it.
PROCESSED = "pumpstream_processing_seconds_count"


def rss_bytes(pid: int | None, field: str = "VmRSS") -> int:
    """VmRSS (or another size of /proc/PID/status: ``VmHWM``, the peak) of ``pid`` and its
    children."""
    if pid is None:
        return 0
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    total = 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1]) * 1024
    return total


def metric_sum(port: int, name: str, **labels: str) -> float:
    """Sum of a worker's samples ``name`` whose labels include ``labels``."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


#: How often a worker's counter is polled while it applies a pre-filled topic. Each poll is a
#: scrape of its ``/metrics``, whose exposition took about 17 ms of the worker's one core: every
#: 0.2 s that was 8.5 % of the worker's time, measured with py-spy (docs/benchmarks.md).
POLL_S = 1.0


async def rate_by_counter(
    read: Callable[[], float], expected: float, timeout_s: float, since: float
) -> tuple[float, float]:
    """(per second, seconds): the counter's rate from the first poll that sees it move to the
    last poll before it reaches ``expected`` (the steady rate, whatever the poll interval), and
    the seconds from that first poll to the one that sees it there. With no poll in between,
    the rate to that poll; when the first poll already sees it there, from ``since`` (when the
    worker was ready). Polls every ``POLL_S``. Raises TimeoutError if it never gets there."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, float] | None = None
    last_below: tuple[float, float] | None = None
    while time.monotonic() < deadline:
        count = await asyncio.to_thread(read)
        now = time.monotonic()
        if first is None and count > 0:
            first = (now, count)
        if count >= expected and first is not None:
            if last_below is not None:
                return (last_below[1] - first[1]) / (last_below[0] - first[0]), now - first[0]
            if count > first[1]:
                return (count - first[1]) / (now - first[0]), now - first[0]
            return count / (now - since), now - since
        if first is not None and count > first[1]:
            last_below = (now, count)
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"the counter did not reach {expected:g} within {timeout_s:g} s")


class BenchWorker:
    """A ``pumpstream worker`` child with its metrics port, on ``loop``."""

    def __init__(
        self, broker: EmbeddedBroker, run_dir: Path, config: TelemetryBenchConfig, loop: str
    ) -> None:
        self.port = free_port()
        self.process = WorkerProcess(
            broker.bootstrap,
            run_dir,
            env={
                "PUMPSTREAM_METRICS_PORT": str(self.port),
                "PUMPSTREAM_DATA_DIR": str(run_dir),
                "PUMPSTREAM_EVENT_LOOP": loop,
                "PUMPSTREAM_APP_ID": config.app_id,
                "PUMPSTREAM_TOPIC_PARTITIONS": str(config.partitions),
                # Faust's own lines (assignment, recovery) in the log: a stall says where.
                "PUMPSTREAM_LOG_LEVEL": "info",
            },
        )
        self.log_path = run_dir / "worker.log"
        self.ready_s = 0.0
        #: ``time.monotonic()`` when it was found ready.
        self.ready_at = 0.0

    async def start(self) -> BenchWorker:
        """Start it and wait until it holds its partitions (``ready_s``: process start -> ready).
        Stopped again if the wait ends any other way (cancelled too), so no child outlives it."""
        self.process.start()
        try:
            self.ready_s = await asyncio.to_thread(self.process.wait_ready, 90)
        except BaseException:
            self.process.stop()
            raise
        self.ready_at = time.monotonic()
        return self

    def metric(self, name: str, **labels: str) -> float:
        return metric_sum(self.port, name, **labels)

    def readings_applied(self) -> float:
        """Telemetry readings the worker applied: those accepted less those it recognised as
        applied already (read again after a rebalance: at-least-once)."""
        accepted = self.metric(READINGS, outcome="accepted")
        return accepted - self.metric(DUPLICATES, topic="telemetry.raw")

    def log_tail(self, lines: int = 25) -> str:
        """The end of the worker's log, for an error that says where it stalled."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        self.process.stop()


class NaiveAgentProcess(ChildProcess):
    """``naive_agent.py`` as a child process; ready once it holds its partitions."""

    name = "the naive Faust agent"
    not_ready_error = WorkerNotReady
    stop_grace_s = 15.0

    def __init__(self, bootstrap: str, topic: str, expect: int, run_dir: Path, loop: str) -> None:
        super().__init__(log_path=run_dir / "naive.log", ready_timeout_s=90, env=current_env())
        self.argv = [
            sys.executable,
            "-m",
            "streams.cli.naive_agent",
            bootstrap,
            topic,
            str(expect),
            str(run_dir),
            loop,
        ]
        self.run_dir = run_dir

    def command(self) -> list[str]:
        return self.argv

    def is_ready(self) -> bool:
        return (self.run_dir / "ready").exists()


async def changelog(
    kafka: KafkaConnection, config: TelemetryBenchConfig
) -> tuple[int, dict[str, PatientState], dict[str, int]]:
    """Total bytes of the state changelog's values, each patient's state as a worker would
    recover it from the changelog (``state_changelog``), and how many records each patient
    has."""
    records = await read_topic(kafka, f"{config.app_id}-{STATE_TABLE}-changelog", timeout_s=120)
    table: dict[str, bytes] = {}
    counts: dict[str, int] = defaultdict(int)
    total = 0
    for record in records:
        total += len(record.value or b"")
        if record.key is None:
            continue
        key = record.key.decode().strip('"')
        counts[key.partition(SEPARATOR)[0]] += 1
        if record.value is None:
            table.pop(key, None)
        else:
            table[key] = record.value
    data: dict[str, object] = dict(table)
    regroup(data)
    states = {
        ref: assemble(ref, value if isinstance(value, Recovered) else Recovered(value))
        for ref, value in data.items()
        if isinstance(value, Recovered | bytes)
    }
    return total, states, counts


async def alert_arrivals(
    kafka: KafkaConnection, stop: asyncio.Event, arrivals: dict[str, float]
) -> None:
    """When each patient's first R1/R2 alert is read (fetch wait 10 ms: the observer must not
    add the broker's fetch hold to what it measures)."""
    async with TopicReader(kafka, ALERTS.name, start="end", fetch_max_wait_ms=10) as reader:
        while not stop.is_set():
            for record in await reader.read(timeout_ms=50):
                alert = Alert.model_validate_json(record.value or b"")
                if alert.rule in ("R1", "R2"):
                    arrivals.setdefault(alert.patient_ref, time.monotonic())


async def until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


class Variant:
    """A fresh embedded broker with the registry's topics for one variant, in ``run_dir``."""

    def __init__(self, run_dir: Path, config: TelemetryBenchConfig) -> None:
        self.run_dir = run_dir
        self.config = config
        self.broker = EmbeddedBroker(log_path=run_dir / "broker.log")

    async def __aenter__(self) -> Variant:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.broker.start()
        try:  # ``async with`` calls __aexit__ only once __aenter__ has returned
            await asyncio.to_thread(self.broker.wait_ready)
            await ensure_topics(self.broker.connection, partitions=self.config.partitions)
        except BaseException:
            self.broker.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.broker.stop()

    @property
    def kafka(self) -> KafkaConnection:
        return self.broker.connection

    async def worker(self, name: str, loop: str) -> BenchWorker:
        return await BenchWorker(self.broker, self.run_dir / name, self.config, loop).start()

    async def caught_up(self, timeout_s: float = 300) -> bool:
        return await wait_until_caught_up(
            self.kafka, self.config.app_id, CONSUMED, timeout_s=timeout_s
        )
