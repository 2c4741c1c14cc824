"""``pumpstream alerting bench``: alert -> page latency through the embedded broker, one worker,
a webhook receiver and an MLLP alert manager, all on loopback. Measured, not asserted; results
in docs/alerting.md and docs/benchmarks.md.

Alerts are published paced (not as a burst) with ``event_time`` = now, so the figures are the
pipeline's delay, not a queue of the benchmark's making. Escalation lateness is the time from an
escalation's due moment to its page at the webhook (timer tick + broker round trips).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from schemas.alerts import (
    Alert,
    AlertPhase,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    RecommendationCode,
)
from schemas.notifications import AlertNotification
from schemas.topics import ALERTS
from streams.alerting.channels.mllp import frame, read_frame
from streams.alerting.channels.pcd04 import ack_for, field_er7, parse_hl7
from streams.cli.bench_figures import Sample, percentile
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.settings import Settings

ESCALATION_TIMEOUT_S = 3.0

ROSTER = """
default_ward = "bench"
[escalation_timeouts_s]
high = {timeout}
[wards.bench]
channels = ["pager", "acm"]
chain = [
  {{ role = "bedside_nurse", name = "Nurse", contact = "dect-1" }},
  {{ role = "charge_nurse", name = "Charge nurse", contact = "dect-2" }},
]
[channels.pager]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/pages"
[channels.acm]
type = "hl7-mllp"
host = "127.0.0.1"
port = {mllp_port}
"""


def _sample(name: str, values_s: list[float]) -> Sample:
    millis = [v * 1000 for v in values_s]
    return Sample(name, statistics.median(millis), percentile(millis, 0.9), "ms")


def _alert(index: int) -> Alert:
    now = datetime.now(UTC)
    return Alert(
        alert_id=f"bench-{index:05d}",
        phase=AlertPhase.START,
        patient_ref=f"bench-pt-{index:05d}",
        infusion_id=f"bench-inf-{index:05d}",
        rule="R1",
        priority=AlertPriority.HIGH,
        type=AlertType.PHYSIOLOGICAL,
        title="Back pain 8/10, 18 min after rate increase to 4 mg/kg/min",
        recommendations=(Recommendation(code=RecommendationCode.PAUSE, text="Pause."),),
        evidence=Evidence(pain_score=8),
        ward="bench",
        event_time=now,
        created_at=now,
    )


class _Receivers:
    """Webhook and MLLP peers recording (kind, alert_id) -> receive time and the notification."""

    def __init__(self) -> None:
        self.webhook: dict[tuple[str, str], tuple[float, AlertNotification]] = {}
        self.mllp: dict[str, float] = {}

    async def _on_page(self, request: web.Request) -> web.Response:
        received = time.time()
        note = AlertNotification.model_validate_json(await request.read())
        self.webhook.setdefault((note.kind.value, note.alert.alert_id), (received, note))
        return web.Response(text="ok")

    async def _on_mllp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while not reader.at_eof():
                message = await read_frame(reader)
                received = time.time()
                alert_id = field_er7(parse_hl7(message).segment("OBR"), 2).split("^")[0]
                self.mllp.setdefault(alert_id, received)
                writer.write(frame(ack_for(message)))
                await writer.drain()
        writer.close()


async def bench_paging(
    settings: Settings, alerts: int, progress: Callable[[str], None]
) -> list[Sample]:
    receivers = _Receivers()
    app = web.Application()
    app.router.add_post("/pages", receivers._on_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    webhook_port, mllp_port = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", webhook_port).start()
    mllp = await asyncio.start_server(receivers._on_mllp, "127.0.0.1", mllp_port)
    try:
        with tempfile.TemporaryDirectory(prefix="pumpstream-alerting-bench-") as tmp:
            run_dir = Path(tmp)
            roster = run_dir / "roster.toml"
            roster.write_text(
                ROSTER.format(
                    timeout=ESCALATION_TIMEOUT_S, webhook_port=webhook_port, mllp_port=mllp_port
                ),
                encoding="utf-8",
            )
            with EmbeddedBroker(log_path=run_dir / "broker.log") as broker:
                await ensure_topics(broker.connection, partitions=settings.topic_partitions)
                worker = WorkerProcess(
                    broker.bootstrap,
                    run_dir,
                    env={
                        "PUMPSTREAM_METRICS_PORT": "0",
                        "PUMPSTREAM_DATA_DIR": str(run_dir),
                        "PUMPSTREAM_ALERTING_CONFIG": str(roster),
                        "PUMPSTREAM_NURSE_STATION_PORT": "0",
                        "PUMPSTREAM_TOPIC_PARTITIONS": str(settings.topic_partitions),
                    },
                ).start()
                try:
                    progress(f"worker ready in {worker.wait_ready(60):.1f} s")
                    return await _measure(broker.connection, alerts, receivers, progress)
                finally:
                    worker.stop()
    finally:
        mllp.close()
        await mllp.wait_closed()
        await runner.cleanup()


async def _measure(
    kafka: KafkaConnection, count: int, receivers: _Receivers, progress: Callable[[str], None]
) -> list[Sample]:
    producer = kafka.producer(acks="all")
    await producer.start()
    sent: dict[str, float] = {}
    try:
        for index in range(count):
            alert = _alert(index)
            await producer.send_and_wait(
                ALERTS.name, key=alert.patient_ref.encode(), value=alert.model_dump_json().encode()
            )
            sent[alert.alert_id] = alert.event_time.timestamp()
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
    deadline = time.monotonic() + ESCALATION_TIMEOUT_S + 60
    while time.monotonic() < deadline:
        escalations = sum(1 for kind, _ in receivers.webhook if kind == "escalate")
        if escalations >= count and len(receivers.mllp) >= count:
            break
        await asyncio.sleep(0.2)
    webhook = [
        receivers.webhook[("start", a)][0] - t
        for a, t in sent.items()
        if ("start", a) in receivers.webhook
    ]
    pcd04 = [receivers.mllp[a] - t for a, t in sent.items() if a in receivers.mllp]
    lateness = [
        received - note.triggered_at.timestamp()
        for (kind, _), (received, note) in receivers.webhook.items()
        if kind == "escalate"
    ]
    progress(
        f"{count} alerts: {len(webhook)} webhook pages, {len(pcd04)} PCD-04 messages, "
        f"{len(lateness)} escalations"
    )
    if not webhook or not pcd04 or not lateness:
        raise RuntimeError("no pages arrived; see the worker log")
    return [
        _sample("alert published -> webhook page received", webhook),
        _sample("alert published -> PCD-04 ACKed at the MLLP peer", pcd04),
        _sample(f"escalation due ({ESCALATION_TIMEOUT_S:g} s) -> escalation page", lateness),
    ]


def run_bench_paging(
    settings: Settings, alerts: int, progress: Callable[[str], None]
) -> list[Sample]:
    return asyncio.run(bench_paging(settings, alerts, progress))
