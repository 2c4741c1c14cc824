"""Run one pipeline worker process (``pumpstream worker``)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from schemas.topics import (
    ALL_TOPICS,
)
from streams.alerting.roster import Roster
from streams.app import create_app
from streams.clinical.rules_file import RulesConfig
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import ConsumerLagProbe
from streams.kafka.produce_failures import ProduceFailureSensor, describe_failure
from streams.kafka.topic_layout import TopicLayoutProbe
from streams.kafka.transport import PumpstreamApp
from streams.metrics.families import FlowMetrics, WorkerMetrics
from streams.metrics.labels import WardLabels, topic_label
from streams.metrics.server import WorkerHealth, serve_metrics
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Exit code of a worker that stops on a broker fault: the CLI's code for an operational problem
#: its one line explains (streams/cli/errors.py).
BROKER_FAULT_EXIT_CODE = 2
#: How long a worker that stops on a broker fault stays frozen first (its event loop held, so
#: nothing more is processed or committed) while /readyz answers 503 and /metrics shows the
#: cause: longer than Prometheus' default 15 s scrape interval, so the count is scraped.
BROKER_FAULT_HOLD_S = 16.0


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The worker's loop: uvloop's (libuv) or the standard library's."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_worker(
    settings: Settings,
    kafka: KafkaConnection,
    rules: RulesConfig,
    roster: Roster | None,
    *,
    ready_file: Path | None = None,
) -> None:
    """Create the topics, serve metrics, and run the Faust worker until SIGTERM/SIGINT.
    ``rules`` and ``roster`` (None: no alerting stage) were read and validated by the caller, so a
    bad file stops the worker before anything starts."""
    log.info("clinical rules %s; Kafka %s", rules.version, kafka.describe())
    tune_garbage_collector(settings)
    # Faust creates only the last directory level of its datadir.
    (settings.data_dir / settings.group_id).mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    # Every family of the worker, built once; the roster's channels are known label values.
    metrics = WorkerMetrics(
        registry,
        WardLabels(settings.metrics_ward_names),
        roster.channel_types if roster else None,
    )
    health = WorkerHealth()
    if settings.metrics_port:  # first: a port in use stops us before anything connects
        server = serve_metrics(registry, health, settings.bind_address, settings.metrics_port)
        log.info(
            "metrics and probes on http://%s:%d/metrics, /healthz, /readyz",
            settings.bind_address,
            server.server_port,
        )
    loop = new_event_loop(settings.event_loop)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(
        ensure_topics(
            kafka,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )
    app = create_app(settings, kafka, metrics, rules, roster, ready_file=ready_file)
    if isinstance(app, PumpstreamApp):
        app.recover_to_true_ends(kafka)  # Tansu under-reports a changelog's end
    register_lag_monitor(
        app,
        ConsumerLagProbe(kafka, settings.group_id, settings.consumed_topics()),
        metrics.flow,
        health,
        interval_s=settings.metrics_lag_interval_s,
    )
    register_health(app, health)
    register_heap_trim(app, settings.heap_trim_interval_s)
    stop = BrokerFaultStop(health)
    register_produce_failures(app, metrics.flow, stop)
    register_topic_check(
        app,
        TopicLayoutProbe(kafka, ALL_TOPICS, partitions=settings.topic_partitions),
        stop,
        interval_s=settings.metrics_lag_interval_s,
    )
    worker = faust.Worker(app, loglevel=settings.log_level, loop=loop, quiet=True)
    worker.execute_from_commandline()


def tune_garbage_collector(settings: Settings) -> None:
    """The worker's collector thresholds (``PUMPSTREAM_GC_THRESHOLDS``): a telemetry worker
    allocates models by the thousand a second, and Python's default ran a full collection every
    ~12,000 readings (docs/benchmarks.md)."""
    gc.set_threshold(*settings.gc_threshold_values)
    log.debug("gc thresholds %s", settings.gc_thresholds)


def heap_trimmer() -> Callable[[], bool] | None:
    """A call that gives the memory every malloc arena holds free back to the system (True when
    any was), or None when the C library has no ``malloc_trim`` (musl, macOS).

    A telemetry worker frees most of what it allocates within seconds (fetched batches, decoded
    envelopes, a commit's records), and glibc keeps those pages for reuse, returning only the top
    of its heap: the resident size stays at the highest use since the worker started. After a
    backlog of 200,000 readings for 2,000 patients, 40 MB of a worker's 195 MB was such free
    memory (20 kB per infusion); ``malloc_trim(0)`` returned it in 3.9 ms, and takes 0.2 ms
    with nothing to return (docs/benchmarks.md)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> bool:
        return bool(trim(0))

    return release


def register_heap_trim(app: faust.App, interval_s: float) -> bool:
    """Trim the heap every ``interval_s`` (``PUMPSTREAM_HEAP_TRIM_INTERVAL_S``) while ``app``
    runs, on its event loop; False, and nothing registered, when the interval is 0 or the C
    library cannot."""
    release = heap_trimmer() if interval_s > 0 else None
    if release is None:
        if interval_s > 0:
            log.info("memory is not returned to the system: the C library has no malloc_trim")
        return False

    async def trim_heap() -> None:
        release()

    app.timer(interval_s, name="trim_heap")(trim_heap)
    return True


def register_lag_monitor(
    app: faust.App,
    probe: ConsumerLagProbe,
    metrics: FlowMetrics,
    health: WorkerHealth,
    *,
    interval_s: float,
) -> None:
    """Measure ``probe`` every ``interval_s`` while ``app`` runs and set the lag gauge; a failed
    measurement marks the broker unreachable for ``/readyz`` until one succeeds."""

    async def measure_consumer_lag() -> None:
        try:
            lag = await probe.lag_by_topic()
        except (KafkaError, OSError, TimeoutError) as exc:
            # The broker may be restarting; the next tick reconnects.
            metrics.consumer_lag_errors.inc()
            health.broker_failed(str(exc) or type(exc).__name__)
            log.warning("consumer lag not measured: %s", exc)
            await probe.close()
            return
        health.broker_ok()
        for topic, messages in lag.items():
            metrics.consumer_lag.labels(topic).set(messages)

    async def close_probe(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await probe.close()

    app.timer(interval_s, name="measure_consumer_lag")(measure_consumer_lag)
    app.on_before_shutdown.connect(close_probe)  # type: ignore[arg-type]


def register_health(app: faust.App, health: WorkerHealth, *, tick_s: float = 1.0) -> None:
    """Feed ``health`` from ``app``: a loop heartbeat, and whether it holds its partitions."""

    async def heartbeat() -> None:
        health.tick()

    async def assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        health.partitions_assigned()

    async def revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        health.partitions_revoked()

    app.timer(tick_s, name="health_heartbeat")(heartbeat)
    app.on_rebalance_complete.connect(assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(revoked)  # type: ignore[arg-type]


class BrokerFaultStop:
    """Stops the worker on a broker fault it cannot recover from by itself (docs/reliability.md,
    "Broker faults"): marks it not ready, holds its event loop for ``hold_s`` (nothing more is
    processed or committed, so a restarted worker reads again whatever followed the last commit;
    probes and scrapes, served from another thread, still answer), writes one line on stderr and
    ends the process with :data:`BROKER_FAULT_EXIT_CODE` without Faust's shutdown, which would
    commit offsets. A supervisor (systemd, Kubernetes, Compose) restarts it."""

    def __init__(
        self,
        health: WorkerHealth,
        *,
        hold_s: float = BROKER_FAULT_HOLD_S,
        exit_process: Callable[[int], None] = os._exit,
    ) -> None:
        self.health = health
        self.hold_s = hold_s
        self._exit = exit_process
        self.reason: str | None = None

    def __call__(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        self.health.broker_failed(reason)
        time.sleep(self.hold_s)  # blocks the loop on purpose: see the class docstring
        line = (
            f"error: {reason}; the worker stops (exit code {BROKER_FAULT_EXIT_CODE}) so that a "
            "supervisor restarts it\n"
        )
        # File descriptor 2 itself: Faust's worker turns sys.stderr into a WARNING logger.
        os.write(sys.__stderr__.fileno() if sys.__stderr__ else 2, line.encode())
        self._exit(BROKER_FAULT_EXIT_CODE)


def register_produce_failures(
    app: faust.App, metrics: FlowMetrics, stop: Callable[[str], None]
) -> None:
    """Count every message the producer gave up on, then stop the worker: Faust would go on
    and commit past it, an alert lost for good while the worker looks healthy."""

    def failed(topic: str, exc: BaseException) -> None:
        metrics.produce_errors.labels(topic_label(topic)).inc()
        stop(
            f"{describe_failure(topic, exc)}: going on would commit past it, an alert lost while "
            "the worker looks healthy; a new worker reads again from the last committed offset"
        )

    app.sensors.add(ProduceFailureSensor(failed))


def register_topic_check(
    app: faust.App,
    probe: TopicLayoutProbe,
    stop: Callable[[str], None],
    *,
    interval_s: float,
) -> None:
    """Every ``interval_s``, check that the broker still has the worker's topics with their
    partition count; stop the worker when it lost them (a restarted in-memory broker)."""

    async def check_topics() -> None:
        try:
            problem = await probe.problem()
        except (KafkaError, OSError, TimeoutError) as exc:
            # Unreachable: the lag monitor marks /readyz; the next tick asks again.
            log.debug("topics not checked: %s", exc)
            await probe.close()
            return
        if problem is not None:
            stop(
                f"{problem}: the broker lost its data (the embedded broker keeps its topics in "
                "memory, and a restart loses them), and this worker's assignment points at "
                "topics that are gone; a new worker creates them again"
            )

    async def close_probe(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await probe.close()

    app.timer(interval_s, name="check_topic_layout")(check_topics)
    app.on_before_shutdown.connect(close_probe)  # type: ignore[arg-type]
