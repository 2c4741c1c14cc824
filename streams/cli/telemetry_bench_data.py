"""The data of ``pumpstream bench telemetry``: vital-sign readings and the envelopes that carry
them, infusion starts, rate changes and back-pain reports as the pumps and the app send them, and
pre-filling topics with them before a worker starts."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import (
    InfusionContext,
    InfusionStarted,
    RateChanged,
    SymptomKind,
    SymptomReport,
    VitalSigns,
)
from schemas.ivig_products import IvigProduct
from schemas.topics import PUMP_EVENTS_RAW
from streams.kafka.connection import KafkaConnection
from streams.kafka.partitioning import partition_of

Message = tuple[str, bytes | None, bytes, int | None]  # topic, key, value, partition


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def reading_json(ref: str, index: int, at: str, hr: float) -> bytes:
    """One ``vitals`` reading as the monitors send it (the schema's JSON, written directly: the
    bench builds hundreds of thousands; :func:`check_reading_template` proves it valid)."""
    return (
        f'{{"event_id":"{ref}-v{index}","patient_ref":"{ref}","event_time":"{at}",'
        f'"kind":"vitals","heart_rate_bpm":{{"value":{hr:.1f}}},"systolic_mmhg":'
        f'{{"value":122.0}},"temperature_c":{{"value":36.8}},"spo2_percent":{{"value":98.0}}}}'
    ).encode()


def check_reading_template() -> None:
    VitalSigns.model_validate_json(reading_json("pt-1", 0, iso(datetime.now(UTC)), 71.0))


def envelope(batch_id: str, readings: Sequence[bytes]) -> bytes:
    return b'{"batch_id":"' + batch_id.encode() + b'","vitals":[' + b",".join(readings) + b"]}"


@dataclass(frozen=True, slots=True)
class TelemetryData:
    """Readings at 1 Hz for ``refs`` from ``t0``, one per patient per second, packed per
    partition into envelopes of at most the batch size."""

    refs: list[str]
    t0: datetime
    envelopes: list[tuple[int, bytes]]
    readings: list[tuple[str, bytes]]  # (patient_ref, reading) in the envelopes' order
    last_reading: dict[str, bytes]

    @property
    def observations(self) -> int:
        return len(self.readings)


def telemetry_data(
    prefix: str, patients: int, seconds: int, batch_size: int, partitions: int, t0: datetime
) -> TelemetryData:
    refs = [f"{prefix}-{i:05d}" for i in range(patients)]
    owner = {ref: partition_of(ref.encode(), partitions) for ref in refs}
    envelopes: list[tuple[int, bytes]] = []
    readings: list[tuple[str, bytes]] = []
    open_: dict[int, list[tuple[str, bytes]]] = defaultdict(list)

    def flush(partition: int) -> None:
        batch, open_[partition] = open_[partition], []
        envelopes.append((partition, envelope(f"{prefix}.{len(envelopes)}", [r for _, r in batch])))
        readings.extend(batch)

    for second in range(seconds):
        at = iso(t0 + timedelta(seconds=second))
        for ref in refs:
            open_[owner[ref]].append((ref, reading_json(ref, second, at, 70.0 + second % 7)))
            if len(open_[owner[ref]]) >= batch_size:
                flush(owner[ref])
    for partition in sorted(open_):
        if open_[partition]:
            flush(partition)
    last = {ref: value for ref, value in readings}
    return TelemetryData(refs, t0, envelopes, readings, last)


def start_event(ref: str, at: datetime) -> bytes:
    context = InfusionContext(
        product=IvigProduct.OCTAGAM_10,
        concentration_mg_ml=100.0,
        weight_kg=70.0,
        age_years=50,
        dose_g_kg=0.4,
    )
    return (
        InfusionStarted(
            event_id=f"{ref}-start",
            patient_ref=ref,
            event_time=at,
            infusion_id=f"inf-{ref}",
            rate_ml_h=42.0,
            context=context,
        )
        .model_dump_json()
        .encode()
    )


def rate_event(ref: str, n: int, at: datetime, rate: float) -> bytes:
    return (
        RateChanged(
            event_id=f"{ref}-r{n}",
            patient_ref=ref,
            event_time=at,
            infusion_id=f"inf-{ref}",
            rate_ml_h=rate,
        )
        .model_dump_json()
        .encode()
    )


def pain_event(ref: str, at: datetime) -> bytes:
    return (
        SymptomReport(
            event_id=f"{ref}-pain",
            patient_ref=ref,
            event_time=at,
            symptom=SymptomKind.BACK_PAIN,
            pain_score=5,
        )
        .model_dump_json()
        .encode()
    )


def reacting_setup(refs: Iterable[str], now: datetime) -> list[Message]:
    """A start 30 min ago and a rate doubling 20 min ago: back pain now calls for R1."""
    out: list[Message] = []
    for ref in refs:
        key = ref.encode()
        out.append((PUMP_EVENTS_RAW.name, key, start_event(ref, now - timedelta(minutes=30)), None))
        out.append(
            (PUMP_EVENTS_RAW.name, key, rate_event(ref, 1, now - timedelta(minutes=20), 84.0), None)
        )
    return out


async def produce(kafka: KafkaConnection, messages: Iterable[Message]) -> int:
    """Send ``messages`` (acks=1, batched), wait for every ack; the count sent."""
    producer = kafka.producer(acks=1, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    pending: list[Awaitable[Any]] = []
    sent = 0
    try:
        for topic, key, value, partition in messages:
            pending.append(await producer.send(topic, key=key, value=value, partition=partition))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def one_ref_per_partition(prefix: str, partitions: int) -> list[str]:
    refs: dict[int, str] = {}
    i = 0
    while len(refs) < partitions:
        ref = f"{prefix}-{i:03d}"
        refs.setdefault(partition_of(ref.encode(), partitions), ref)
        i += 1
    return sorted(refs.values())


def clinical_messages(patients: int, events: int) -> tuple[list[Message], int]:
    """Each patient's start, then ``events`` rate changes round robin, a minute apart."""
    t0 = datetime.now(UTC) - timedelta(hours=6)
    refs = [f"clin-{i:05d}" for i in range(patients)]
    out: list[Message] = [
        (PUMP_EVENTS_RAW.name, r.encode(), start_event(r, t0), None) for r in refs
    ]
    for n in range(events):
        ref, k = refs[n % patients], n // patients
        out.append(
            (
                PUMP_EVENTS_RAW.name,
                ref.encode(),
                rate_event(ref, k + 1, t0 + timedelta(minutes=k + 1), 63.0 if k % 2 == 0 else 42.0),
                None,
            )
        )
    return out, len(out)
