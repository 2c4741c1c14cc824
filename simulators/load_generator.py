"""Load mode: N pumps and M vitals monitors reporting at a fixed interval, for benchmarks.

Pump k and monitor k belong to the same pseudonymous patient (``load-00000``), so their events
share a partition as in production. Pumps report their (unchanged) rate as ``rate_changed``
events; monitors send a full vital-signs set. Reports are spread over the interval in ten slots,
not sent in one burst per interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.events import InfusionContext, InfusionStarted, Measurement, RateChanged, VitalSigns
from schemas.ivig_products import IvigProduct
from schemas.topics import PUMP_EVENTS_RAW, TELEMETRY_RAW, VITALS_RAW
from simulators.recording import event_json
from simulators.sim_event import SimEvent
from simulators.telemetry_batches import batch_telemetry, readings_in
from streams.kafka.connection import KafkaConnection

SLOTS = 10


@dataclass(frozen=True, slots=True)
class LoadResult:
    #: Events sent (pump events and vital-sign readings, batched or not).
    sent: int
    elapsed_s: float
    target_per_s: float
    #: How far the sender fell behind its schedule at worst (0 when it kept up).
    max_behind_s: float
    #: Kafka messages those events took (fewer than ``sent`` with telemetry batches).
    messages: int = 0

    @property
    def achieved_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> str:
        batched = f" in {self.messages} Kafka messages" if self.messages != self.sent else ""
        return (
            f"sent {self.sent} events{batched} in {self.elapsed_s:.1f} s: "
            f"{self.achieved_per_s:.0f} events/s (target {self.target_per_s:.0f}/s, at worst "
            f"{self.max_behind_s:.2f} s behind)"
        )


def _messages(
    patient: int, tick: int, at: datetime, pumps: int, monitors: int
) -> list[tuple[str, bytes, bytes]]:
    ref = f"load-{patient:05d}"
    out: list[tuple[str, bytes, bytes]] = []
    if patient < pumps:
        infusion = f"inf-{ref}"
        if tick == 0:
            context = InfusionContext(product=IvigProduct.PRIVIGEN, concentration_mg_ml=100.0,
                                      weight_kg=70.0, age_years=50, dose_g_kg=0.4)  # fmt: skip
            event: InfusionStarted | RateChanged = InfusionStarted(
                event_id=f"{ref}-start", patient_ref=ref, event_time=at, infusion_id=infusion,
                rate_ml_h=42.0, context=context,
            )  # fmt: skip
        else:
            event = RateChanged(
                event_id=f"{ref}-r{tick}", patient_ref=ref, event_time=at, infusion_id=infusion,
                rate_ml_h=42.0, previous_rate_ml_h=42.0,
            )  # fmt: skip
        out.append((PUMP_EVENTS_RAW.name, ref.encode(), event_json(event)))
    if patient < monitors:
        vitals = VitalSigns(
            event_id=f"{ref}-v{tick}", patient_ref=ref, event_time=at,
            heart_rate_bpm=Measurement(value=70 + tick % 7), systolic_mmhg=Measurement(value=122),
            temperature_c=Measurement(value=36.8), spo2_percent=Measurement(value=98),
        )  # fmt: skip
        out.append((VITALS_RAW.name, ref.encode(), event_json(vitals)))
    return out


def load_ticks(interval_s: float, duration_s: float) -> int:
    """How many reports each device sends: one at every ``interval_s`` before ``duration_s``."""
    ticks = 0
    while ticks * interval_s < duration_s:
        ticks += 1
    return ticks


def planned_messages(*, pumps: int, monitors: int, interval_s: float, duration_s: float) -> int:
    """How many messages :func:`run_load` sends: each pump and each monitor reports every tick."""
    return load_ticks(interval_s, duration_s) * (pumps + monitors)


async def run_load(
    kafka: KafkaConnection,
    *,
    pumps: int,
    monitors: int,
    interval_s: float,
    duration_s: float,
    on_sent: Callable[[int], None] = lambda count: None,
    batch: bool = False,
) -> LoadResult:
    """Send :func:`planned_messages` events on schedule; ``on_sent`` gets the count of each
    slot once the broker has acknowledged it. With ``batch`` the monitors' readings of a slot
    go as one telemetry batch per partition (``telemetry.raw``)."""
    patients = max(pumps, monitors)
    producer = kafka.producer(acks=1, linger_ms=5)
    await producer.start()
    partitions = len(await producer.partitions_for(TELEMETRY_RAW.name)) if batch else 0
    sent = messages = 0
    max_behind = 0.0
    start_time = datetime.now(UTC)
    began = time.monotonic()
    try:
        for tick in range(load_ticks(interval_s, duration_s)):
            for slot in range(SLOTS):
                due = began + (tick + slot / SLOTS) * interval_s
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    max_behind = max(max_behind, -delay)
                at = start_time + timedelta(seconds=(tick + slot / SLOTS) * interval_s)
                pending = []
                slot_events = [
                    SimEvent(0.0, topic, key, value)
                    for patient in range(slot, patients, SLOTS)
                    for topic, key, value in _messages(patient, tick, at, pumps, monitors)
                ]
                if batch:
                    slot_events = batch_telemetry(
                        slot_events, partitions=partitions, window_s=interval_s
                    )
                for event in slot_events:
                    pending.append(
                        await producer.send(
                            event.topic, key=event.key, value=event.value,
                            partition=event.partition,
                        )
                    )  # fmt: skip
                await asyncio.gather(*pending)
                count = readings_in(slot_events) + sum(
                    1 for e in slot_events if e.topic == PUMP_EVENTS_RAW.name
                )
                sent += count
                messages += len(pending)
                on_sent(count)
        await producer.flush()
    finally:
        await producer.stop()
    target = (pumps + monitors) / interval_s
    return LoadResult(sent, time.monotonic() - began, target, max_behind, messages)
