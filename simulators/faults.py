"""Faults real feeds have, injected into the simulated JSON feed (DOMAIN.md §3, issue 4 §8).

Each fault draws from its own seeded stream and records what it did (``FaultReport``), so a test
or a person can check that every configured fault appears, and where.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.topics import PUMP_EVENTS_RAW, VITALS_RAW
from simulators.clock import derive_rng
from simulators.reaction_model import draw
from simulators.recording import canonical_json
from simulators.scenario import FaultSpec
from simulators.sim_event import SimEvent

FAULT_NAMES = (
    "clock_skew", "unit_errors", "wrong_types", "out_of_range", "malformed",
    "duplicates", "late", "silent", "bursts", "lost_starts",
)  # fmt: skip


class FaultRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fault: str
    topic: str
    #: The affected message's event id, when it had one.
    event_id: str | None
    patient_ref: str
    detail: str


class FaultReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    counts: dict[str, int]
    records: tuple[FaultRecord, ...]


def _obj(event: SimEvent) -> dict[str, Any] | None:
    try:
        value = json.loads(event.value)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _with(event: SimEvent, value: dict[str, Any] | bytes, note: str, **changes: Any) -> SimEvent:
    raw = value if isinstance(value, bytes) else canonical_json(value)
    marked = f"{event.note}; {note}" if event.note else note
    return dataclasses.replace(event, value=raw, note=marked, **changes)


def _shift_time(text: str, seconds: float) -> str:
    shifted = datetime.fromisoformat(text) + timedelta(seconds=seconds)
    return shifted.isoformat().replace("+00:00", "Z")


class _Injector:
    def __init__(self, events: list[SimEvent], spec: FaultSpec, seed: int) -> None:
        self.events = events
        self.spec = spec
        self.seed = seed
        self.records: list[FaultRecord] = []

    def rng(self, name: str) -> random.Random:
        return derive_rng(self.seed, "fault", name)

    def record(self, fault: str, event: SimEvent, detail: str) -> None:
        value = _obj(event) or {}
        self.records.append(
            FaultRecord(
                fault=fault, topic=event.topic, event_id=value.get("event_id"),
                patient_ref=event.key.decode(), detail=detail,
            )
        )  # fmt: skip

    def each(
        self,
        fault: str,
        fraction: float,
        mutate: Callable[[SimEvent, random.Random], SimEvent | None],
    ) -> None:
        """Apply ``mutate`` to each message picked with probability ``fraction``."""
        if fraction <= 0:
            return
        rng = self.rng(fault)
        for i, event in enumerate(self.events):
            if rng.random() < fraction:
                changed = mutate(event, rng)
                if changed is not None:
                    self.events[i] = changed

    def patients(self, fault: str, fraction: float) -> list[tuple[str, random.Random]]:
        rng = self.rng(fault)
        refs = sorted({e.key.decode() for e in self.events})
        return [(ref, rng) for ref in refs if rng.random() < fraction]


def _unit_error(inj: _Injector) -> Callable[[SimEvent, random.Random], SimEvent | None]:
    def mutate(event: SimEvent, rng: random.Random) -> SimEvent | None:
        value = _obj(event)
        if value is None:
            return None
        if isinstance(value.get("rate_ml_h"), float | int):
            # The gateway sends the pump's mL/min figure in the mL/h field.
            value["rate_ml_h"] = round(value["rate_ml_h"] / 60.0, 2)
            inj.record("unit_errors", event, "rate_ml_h in mL/min")
            return _with(event, value, "fault: rate in mL/min")
        if isinstance(value.get("temperature_c"), dict):
            celsius = value["temperature_c"]["value"]
            value["temperature_c"]["value"] = round(celsius * 9 / 5 + 32, 1)
            inj.record("unit_errors", event, "temperature_c in Fahrenheit")
            return _with(event, value, "fault: temperature in F")
        return None

    return mutate


def _wrong_type(inj: _Injector) -> Callable[[SimEvent, random.Random], SimEvent | None]:
    def mutate(event: SimEvent, rng: random.Random) -> SimEvent | None:
        value = _obj(event)
        if value is None:
            return None
        if "rate_ml_h" in value:
            value["rate_ml_h"] = f"{value['rate_ml_h']} mL/h"
            field = "rate_ml_h"
        elif isinstance(value.get("heart_rate_bpm"), dict):
            value["heart_rate_bpm"]["value"] = "high"
            field = "heart_rate_bpm"
        elif value.get("pain_score") is not None:
            value["pain_score"] = ["six", "moderate", "bad"][rng.randrange(3)]
            field = "pain_score"
        else:
            value["event_time"] = "02/03/2026 09:15"  # a local date string, not ISO 8601
            field = "event_time"
        inj.record("wrong_types", event, f"{field} of the wrong type")
        return _with(event, value, f"fault: {field} wrong type")

    return mutate


def _out_of_range(inj: _Injector) -> Callable[[SimEvent, random.Random], SimEvent | None]:
    def mutate(event: SimEvent, rng: random.Random) -> SimEvent | None:
        value = _obj(event)
        if value is None:
            return None
        if "rate_ml_h" in value:
            value["rate_ml_h"] = 5000.0
            field = "rate_ml_h"
        elif isinstance(value.get("spo2_percent"), dict):
            value["spo2_percent"]["value"] = 130.0
            field = "spo2_percent"
        elif value.get("pain_score") is not None:
            value["pain_score"] = 14
            field = "pain_score"
        else:
            return None
        inj.record("out_of_range", event, f"{field} out of range")
        return _with(event, value, f"fault: {field} out of range")

    return mutate


def _malformed(inj: _Injector) -> Callable[[SimEvent, random.Random], SimEvent | None]:
    def mutate(event: SimEvent, rng: random.Random) -> SimEvent | None:
        if rng.random() < 0.8:
            cut = rng.randrange(1, max(2, len(event.value) - 1))
            inj.record("malformed", event, f"truncated at byte {cut}")
            return _with(event, event.value[:cut], "fault: truncated")
        inj.record("malformed", event, "not UTF-8")
        return _with(event, b"\xff\xfe" + event.value[:20], "fault: not UTF-8")

    return mutate


def _clock_skew(inj: _Injector) -> None:
    for ref, rng in inj.patients("clock_skew", inj.spec.clock_skew):
        skew_s = round(draw(rng, inj.spec.clock_skew_s), 1)
        topic = rng.choice((PUMP_EVENTS_RAW.name, VITALS_RAW.name))
        for i, event in enumerate(inj.events):
            value = _obj(event)
            if event.key.decode() != ref or event.topic != topic or value is None:
                continue
            value["event_time"] = _shift_time(value["event_time"], skew_s)
            inj.record("clock_skew", event, f"device clock {skew_s:+g} s")
            inj.events[i] = _with(event, value, f"fault: clock {skew_s:+g} s")


def _duplicates(inj: _Injector) -> None:
    rng = inj.rng("duplicates")
    copies = []
    for event in inj.events:
        if rng.random() < inj.spec.duplicates:
            delay_s = rng.uniform(0.5, 30)
            inj.record("duplicates", event, f"sent again {delay_s:.1f} s later")
            copies.append(
                dataclasses.replace(
                    event, offset_s=event.offset_s + delay_s, note="fault: duplicate"
                )
            )
    inj.events.extend(copies)


def _late(inj: _Injector) -> None:
    def mutate(event: SimEvent, rng: random.Random) -> SimEvent:
        delay_s = round(draw(rng, inj.spec.late_by_s), 1)
        inj.record("late", event, f"sent {delay_s:g} s after its event time")
        return _with(event, event.value, "fault: late", offset_s=event.offset_s + delay_s)

    inj.each("late", inj.spec.late, mutate)


def _silent(inj: _Injector) -> None:
    for ref, rng in inj.patients("silent", inj.spec.silent):
        own = [e for e in inj.events if e.key.decode() == ref and e.topic == VITALS_RAW.name]
        if not own:
            continue
        begin = rng.uniform(own[0].offset_s, own[-1].offset_s)
        end = begin + draw(rng, inj.spec.silent_min) * 60
        dropped = [e for e in own if begin <= e.offset_s < end]
        for event in dropped:
            inj.record("silent", event, f"monitor silent {begin / 60:.0f}-{end / 60:.0f} min")
        gone = {id(e) for e in dropped}
        inj.events[:] = [e for e in inj.events if id(e) not in gone]


def _lost_starts(inj: _Injector) -> None:
    """Each picked patient's ``infusion_started`` never reaches Kafka (a gateway that dropped
    the PCD-10 start); the pump's other events arrive."""
    for ref, _ in inj.patients("lost_starts", inj.spec.lost_starts):
        lost = [
            e
            for e in inj.events
            if e.key.decode() == ref
            and e.topic == PUMP_EVENTS_RAW.name
            and (_obj(e) or {}).get("kind") == "infusion_started"
        ]
        for event in lost:
            inj.record("lost_starts", event, "infusion start lost")
        gone = {id(e) for e in lost}
        inj.events[:] = [e for e in inj.events if id(e) not in gone]


def _bursts(inj: _Injector) -> None:
    rng = inj.rng("bursts")
    last = max((e.offset_s for e in inj.events), default=0.0)
    for _ in range(inj.spec.bursts):
        length_s = draw(rng, inj.spec.burst_min) * 60
        begin = rng.uniform(0, max(0.0, last - length_s))
        flush_s = begin + length_s
        for i, event in enumerate(inj.events):
            if begin <= event.offset_s < flush_s:
                inj.record("bursts", event, f"held and flushed at {flush_s / 60:.1f} min")
                inj.events[i] = _with(event, event.value, "fault: burst", offset_s=flush_s)


def apply_faults(
    events: list[SimEvent], spec: FaultSpec, seed: int
) -> tuple[list[SimEvent], FaultReport]:
    """The feed with ``spec``'s faults, in send order, and what was injected."""
    inj = _Injector(list(events), spec, seed)
    _clock_skew(inj)
    inj.each("unit_errors", spec.unit_errors, _unit_error(inj))
    inj.each("wrong_types", spec.wrong_types, _wrong_type(inj))
    inj.each("out_of_range", spec.out_of_range, _out_of_range(inj))
    inj.each("malformed", spec.malformed, _malformed(inj))
    _duplicates(inj)
    _late(inj)
    _silent(inj)
    _lost_starts(inj)
    _bursts(inj)
    ordered = sorted(enumerate(inj.events), key=lambda item: (item[1].offset_s, item[0]))
    counts = Counter(r.fault for r in inj.records)
    return [e for _, e in ordered], FaultReport(
        counts={name: counts.get(name, 0) for name in FAULT_NAMES}, records=tuple(inj.records)
    )
