"""Vital signs packed into telemetry batches (``telemetry.raw``), as a monitor gateway sends them
at scale: the readings bound for one partition over a short window become one message produced
to that partition (docs/architecture.md, "Telemetry batches").

Clinical events are never held back: only ``vitals.raw`` messages are packed. A message that is
not a JSON object (a malformed reading of the fault injection) is sent as it was, to
``vitals.raw``, where ingest dead-letters it; a JSON object that fails the schema goes into the
batch, whose reader dead-letters that reading alone.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from schemas.topics import TELEMETRY_RAW, VITALS_RAW
from simulators.sim_event import SimEvent
from streams.kafka.partitioning import partition_of


def batch_telemetry(
    events: Sequence[SimEvent], *, partitions: int, window_s: float, max_readings: int = 500
) -> list[SimEvent]:
    """``events`` with their vital signs packed per partition and per ``window_s`` of simulated
    time (each batch sent when its window's last reading would have been); everything else
    unchanged and in order."""
    out: list[SimEvent] = []
    open_batches: dict[int, list[SimEvent]] = defaultdict(list)
    window_end: float | None = None
    for event in events:
        if window_end is not None and event.offset_s >= window_end:
            out.extend(_flush(open_batches))
            window_end = None
        reading = _reading(event)
        if reading is None:
            out.append(event)
            continue
        partition = partition_of(event.key, partitions)
        open_batches[partition].append(event)
        if window_end is None:
            window_end = event.offset_s + window_s
        if len(open_batches[partition]) >= max_readings:
            out.extend(_flush({partition: open_batches.pop(partition)}))
    out.extend(_flush(open_batches))
    return out


def _reading(event: SimEvent) -> dict[str, object] | None:
    if event.topic != VITALS_RAW.name:
        return None
    try:
        document = json.loads(event.value)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _flush(batches: dict[int, list[SimEvent]]) -> Iterator[SimEvent]:
    for partition, readings in sorted(batches.items()):
        if readings:
            yield telemetry_message(partition, readings)
    batches.clear()


def telemetry_message(partition: int, readings: Sequence[SimEvent]) -> SimEvent:
    """One ``telemetry.raw`` message of ``readings`` (``vitals.raw`` messages) for
    ``partition``."""
    last = readings[-1]
    first_id = json.loads(readings[0].value).get("event_id", "reading")
    body = b'{"batch_id":' + json.dumps(f"b.{first_id}.{len(readings)}"[:128]).encode()
    body += b',"vitals":[' + b",".join(r.value for r in readings) + b"]}"
    return SimEvent(last.offset_s, TELEMETRY_RAW.name, b"", body, partition=partition)


def readings_in(events: Iterable[SimEvent]) -> int:
    """How many vital-sign readings ``events`` carry, batched or not."""
    total = 0
    for event in events:
        if event.topic == TELEMETRY_RAW.name:
            total += len(json.loads(event.value)["vitals"])
        elif event.topic == VITALS_RAW.name:
            total += 1
    return total
