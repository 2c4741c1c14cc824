"""``pumpstream bench gateway``: messages per second through one gateway process, and its ACK
latency, on the embedded broker. Measured, not asserted; results in docs/benchmarks.md.

One embedded broker and one ``pumpstream gateway`` child process; the senders run in this
process, each on its own MLLP connection, sending IHE PCD-01 vital-signs messages (the most
frequent kind, one ``vitals.raw`` record each) one after the other and waiting for each ACK, as
an interface engine does. Latency is from the message's first byte written to its ACK read;
throughput is all messages of a run over its wall time.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from schemas.topics import ALL_TOPICS
from streams.cli.bench_figures import percentile
from streams.cli.local.child_process import ChildProcess, answers_ok, current_env
from streams.cli.local.embedded_broker import EmbeddedBroker, free_port
from streams.kafka.admin import ensure_topics
from streams.settings import Settings

START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"
WARM_UP_MESSAGES = 50
#: A PCD-01 ORU^R01 like the simulator's (pcd-01-vitals.hl7), with placeholders.
VITALS_MESSAGE = "\r".join(
    (
        "MSH|^~\\&|BENCH^0050C20000000000^EUI-64||||{time}||ORU^R01^ORU_R01|{control_id}|P|2.6"
        "|||NE|AL|||||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        "PID|||{mrn}^^^BENCH^MR",
        "PV1||O|infusion-centre^c001",
        "OBR|1|||182777000^monitoring of patient^SCT|||{time}",
        "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.147842|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        "|||||R|||{time}",
        "OBX|2|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.150021|118|266016^MDC_DIM_MMHG^MDC"
        "|||||R|||{time}",
        "OBX|3|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.1.150022|73|266016^MDC_DIM_MMHG^MDC"
        "|||||R|||{time}",
        "OBX|4|NM|150364^MDC_TEMP_BODY^MDC|1.1.1.150364|36.9|268192^MDC_DIM_DEGC^MDC"
        "|||||R|||{time}",
        "OBX|5|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.150456|98|262688^MDC_DIM_PERCENT^MDC"
        "|||||R|||{time}",
    )
)


class GatewayProcess(ChildProcess):
    """``pumpstream gateway`` on ``bootstrap`` with free MLLP and metrics ports, ready once its
    ``/readyz`` answers 200 (listening, Kafka reachable)."""

    name = "the gateway"
    stop_grace_s = 15.0

    def __init__(
        self,
        bootstrap: str,
        run_dir: Path,
        *,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.mllp_port = free_port()
        self.metrics_port = free_port()
        super().__init__(
            log_path=run_dir / "gateway.log",
            ready_timeout_s=ready_timeout_s,
            env={
                **current_env(),
                **(env or {}),
                "PUMPSTREAM_KAFKA_BOOTSTRAP": bootstrap,
                "PUMPSTREAM_GATEWAY_MLLP_PORT": str(self.mllp_port),
                "PUMPSTREAM_METRICS_PORT": str(self.metrics_port),
            },
        )

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streams.cli", "gateway"]

    def is_ready(self) -> bool:
        return answers_ok(f"http://127.0.0.1:{self.metrics_port}/readyz")

    def readiness(self) -> str:
        return f"answer /readyz on port {self.metrics_port}"


def vitals_message(sender: int, number: int, when: datetime) -> bytes:
    return VITALS_MESSAGE.format(
        time=when.strftime("%Y%m%d%H%M%S.%f")[:-3] + "+0000",
        control_id=f"bench-{sender}-{number}",
        mrn=f"MRN{sender:06d}",
        hr=60 + number % 40,
    ).encode()


async def _sender(port: int, sender: int, count: int, latencies: list[float]) -> int:
    """Send ``count`` messages on one connection; return how many were answered AA."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    accepted = 0
    try:
        for number in range(count):
            message = vitals_message(sender, number, datetime.now(UTC))
            began = time.perf_counter()
            writer.write(START_BLOCK + message + END_BLOCK)
            await writer.drain()
            ack = await reader.readuntil(END_BLOCK)
            latencies.append(time.perf_counter() - began)
            accepted += b"MSA|AA|" in ack
    finally:
        writer.close()
        await writer.wait_closed()
    return accepted


async def _run(
    port: int, senders: int, messages: int, offset: int
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    share = [messages // senders + (i < messages % senders) for i in range(senders)]
    began = time.perf_counter()
    accepted = await asyncio.gather(
        *(_sender(port, offset + i, share[i], latencies) for i in range(senders))
    )
    return time.perf_counter() - began, latencies, sum(accepted)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_bench_gateway(settings: Settings, senders: Sequence[int], messages: int) -> list[str]:
    """One line per sender count: messages/s and ACK latency p50/p99."""
    lines = []
    with tempfile.TemporaryDirectory(prefix="pumpstream-bench-gateway-") as tmp:
        run_dir = Path(tmp)
        with EmbeddedBroker(log_path=run_dir / "broker.log", binary=settings.broker_bin) as broker:
            asyncio.run(
                ensure_topics(
                    broker.connection, partitions=settings.topic_partitions, topics=ALL_TOPICS
                )
            )
            env = {
                "PUMPSTREAM_PSEUDONYM_KEY": secrets.token_hex(16),
                "PUMPSTREAM_LOG_LEVEL": "warning",
                "PUMPSTREAM_GATEWAY_MAX_CONNECTIONS": str(max(senders) + 10),
            }
            with GatewayProcess(broker.bootstrap, run_dir, env=env) as gateway:
                asyncio.run(_run(gateway.mllp_port, 1, WARM_UP_MESSAGES, 0))
                assert gateway.pid is not None
                for index, count in enumerate(senders):
                    cpu_before = cpu_seconds(gateway.pid)
                    wall_s, latencies, accepted = asyncio.run(
                        _run(gateway.mllp_port, count, messages, 1000 * (index + 1))
                    )
                    cpu_ms = (cpu_seconds(gateway.pid) - cpu_before) * 1000 / len(latencies)
                    millis = [v * 1000 for v in latencies]
                    lines.append(
                        f"{count:4d} sender(s): {len(latencies) / wall_s:7.0f} msg/s, ACK p50 "
                        f"{percentile(millis, 0.5):6.1f} ms, p99 {percentile(millis, 0.99):6.1f} "
                        f"ms; gateway CPU {cpu_ms:.2f} ms/msg ({len(latencies)} messages, "
                        f"{accepted} AA, {wall_s:.1f} s)"
                    )
    return lines
