"""Hostile raw messages for ``pumpstream fuzz``: seeded, reproducible, across the three raw
topics. Every kind the hostile-input integration test sends (years 9999, 1 and 2126, ``true`` as
a rate, ``NaN``, a fractional pain score, bytes that are not UTF-8, a 1.5 MB message) and more:
random bytes, truncated JSON, wrong types, huge values, deep nesting, unusual unicode, duplicated
keys, other patients' keys, tombstones, events on the wrong topic, and schema-valid extremes that
pass ingest and reach the clinical agent.

One independent random stream per input (``derive_rng(seed, "fuzz", n)``), so the same seed
gives the same inputs whatever their number.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas.events import (
    InfusionContext,
    InfusionStarted,
    RateChanged,
    SymptomKind,
    SymptomReport,
)
from schemas.ivig_products import IvigProduct
from schemas.topics import PUMP_EVENTS_RAW, RAW_TOPICS, SYMPTOMS_RAW, VITALS_RAW
from simulators.clock import derive_rng
from streams.kafka.partitioning import partition_of

#: Pseudonymous refs the hostile inputs use (their events build up clinical state too).
HOSTILE_PATIENTS = 400
#: Patient whose valid events follow the hostile ones: one R1 alert is expected.
GOOD_PATIENT = "fz-good"


@dataclass(frozen=True, slots=True)
class RawInput:
    topic: str
    key: bytes | None
    value: bytes | None
    #: Which kind of hostility (the summary counts inputs per kind).
    kind: str
    #: For the reacting patient's events: the event id.
    event_id: str = ""


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _event(rng: random.Random, topic: str, ref: str, now: datetime) -> dict[str, Any]:
    """A schema-valid event of ``topic`` for ``ref``, some time in the last six hours."""
    common: dict[str, Any] = {
        "event_id": f"fz-{rng.getrandbits(64):016x}",
        "patient_ref": ref,
        "event_time": _iso(now - timedelta(seconds=rng.uniform(0, 6 * 3600))),
    }
    if topic == VITALS_RAW.name:
        return common | {
            "kind": "vitals",
            "heart_rate_bpm": {"value": round(rng.uniform(40, 160), 1)},
            "systolic_mmhg": {"value": round(rng.uniform(80, 180), 1), "validity": "valid"},
            "temperature_c": {"value": round(rng.uniform(35.5, 39.5), 1)},
        }
    if topic == SYMPTOMS_RAW.name:
        symptom = rng.choice([s.value for s in SymptomKind])
        return common | {"kind": "symptom", "symptom": symptom, "pain_score": rng.randint(0, 10)}
    infusion = {"infusion_id": f"inf-{ref}-{rng.randint(1, 3)}"}
    kind = rng.choice(["infusion_started", "rate_changed", "paused", "resumed", "completed"])
    rate = {"rate_ml_h": round(rng.uniform(10, 300), 1)}
    if kind == "infusion_started":
        context = {
            "product": rng.choice([p.value for p in IvigProduct]),
            "concentration_mg_ml": rng.choice([50, 100, 200]),
            "weight_kg": round(rng.uniform(30, 120), 1),
            "age_years": rng.randint(18, 95),
            "dose_g_kg": rng.choice([0.4, 1.0, 2.0]),
        }
        return common | infusion | rate | {"kind": kind, "context": context}
    if kind in ("rate_changed", "resumed"):
        return common | infusion | rate | {"kind": kind}
    return common | infusion | {"kind": kind}


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


#: What every builder gets: its random stream, the raw topic, the patient ref, the time.
Builder = Callable[[random.Random, str, str, datetime], bytes | None]
_NUMBER_FIELDS = {
    PUMP_EVENTS_RAW.name: ("rate_ml_h",),
    VITALS_RAW.name: ("heart_rate_bpm",),
    SYMPTOMS_RAW.name: ("pain_score",),
}


def _set_number(event: dict[str, Any], topic: str, value: Any) -> dict[str, Any]:
    (name,) = _NUMBER_FIELDS[topic]
    if topic == VITALS_RAW.name:
        return event | {name: {"value": value}}
    if name not in event:
        return event | {"kind": "rate_changed", "rate_ml_h": value}
    return event | {name: value}


def _implausible_time(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    when = rng.choice(
        [
            "9999-12-31T23:00:00Z",
            "0001-01-01T00:00:00Z",
            "2126-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            _iso(now + timedelta(days=2)),
            _iso(now - timedelta(days=3660)),
        ]
    )
    return _dumps(_event(rng, topic, ref, now) | {"event_time": when})


def _bool_number(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    return _dumps(_set_number(_event(rng, topic, ref, now), topic, rng.choice([True, False])))


def _non_finite(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    marked = _dumps(_set_number(_event(rng, topic, ref, now), topic, 123456789))
    literal = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999"])
    return marked.replace(b"123456789", literal, 1)


def _fraction_or_string(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _event(rng, SYMPTOMS_RAW.name, ref, now) | {"symptom": "back_pain"}
    if topic == SYMPTOMS_RAW.name:
        return _dumps(event | {"pain_score": rng.choice([6.5, "6", 11, -1, 1e9])})
    return _dumps(_set_number(_event(rng, topic, ref, now), topic, rng.choice(["84", "fast"])))


def _not_utf8(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _event(rng, topic, ref, now) | {"reason": "douleur \u00e0 la nuque"}
    return rng.choice(
        [
            b"\xff\xfe not even utf-8",
            json.dumps(event, ensure_ascii=False).encode("latin-1"),
            _dumps(event)[:20] + b"\xc0\xaf" + _dumps(event)[20:],
            json.dumps(event).encode("utf-16"),
        ]
    )


def _oversize(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    size = rng.choice([300_000, 950_000, 1_500_000])
    return b'{"padding":"' + b"x" * size + b'"}'


def _random_bytes(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    return rng.randbytes(rng.randint(0, 512))


def _truncated(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    whole = _dumps(_event(rng, topic, ref, now))
    return whole[: rng.randint(0, len(whole) - 1)]


_WRONG_VALUES: list[Any] = [None, [], {}, "", "x", 0, -1, 1.5, [1, 2], {"a": 1}, "null", True]


def _wrong_types(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _event(rng, topic, ref, now)
    for name in rng.sample(sorted(event), rng.randint(1, 2)):
        event[name] = rng.choice(_WRONG_VALUES)
    return _dumps(rng.choice([event, event, [event], "event", 42]))


def _huge_values(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _event(rng, topic, ref, now)
    choice = rng.randint(0, 4)
    if choice == 0:
        return _dumps(_set_number(event, topic, 1e308))
    if choice == 1:
        return _dumps(_set_number(event, topic, 123456789)).replace(b"123456789", b"9" * 5000)
    if choice == 2:
        return _dumps(event | {"event_id": "e" * 100_000})
    if choice == 3:
        return _dumps(event | {f"k{n}": n for n in range(5000)})
    return _dumps(event | {"reason": "r" * 200_000, "text": "t" * 50})


def _deep_nesting(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    depth = rng.choice([100, 1000, 10_000, 100_000])
    inner = b"[" * depth + b"]" * depth
    return _dumps(_event(rng, topic, ref, now) | {"nested": 0}).replace(b"0}", inner + b"}", 1)


_ODD_TEXT = [
    "\u202eevil\u202c",
    "zero\u200bwidth",
    "\U0001f489\U0001f4a5",
    "nul\u0000byte",
    "\ufeffbom",
    "e\u0301",
    "\uffff",
    "\U0010ffff",
]


def _unicode(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _event(rng, topic, ref, now)
    odd = rng.choice(_ODD_TEXT)
    choice = rng.randint(0, 4)
    if choice == 0:
        return json.dumps(event | {"patient_ref": ref + odd}, ensure_ascii=False).encode()
    if choice == 1:
        return _dumps(event | {"event_id": "x"}).replace(b'"x"', b'"\\ud800"', 1)
    if choice == 2:
        return b"\xef\xbb\xbf" + _dumps(event)
    if choice == 3:
        field = "reason" if topic == PUMP_EVENTS_RAW.name else "kind"
        return json.dumps(event | {field: odd}, ensure_ascii=False).encode()
    return json.dumps(event | {"infusion_id": odd}, ensure_ascii=rng.random() < 0.5).encode()


def _duplicate_keys(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _dumps(_event(rng, topic, ref, now))
    duplicate = rng.choice(
        [b'"kind":"paused",', b'"patient_ref":"fz-other",', b'"event_time":"2126-01-01T00:00:00Z",']
    )
    return (
        b"{" + duplicate + event[1:]
        if rng.random() < 0.5
        else event[:-1] + b"," + duplicate[:-1] + b"}"
    )


def _wrong_topic(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    other = rng.choice([t.name for t in RAW_TOPICS if t.name != topic])
    return _dumps(_event(rng, other, ref, now))


def _fields_off(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    event = _event(rng, topic, ref, now)
    if rng.random() < 0.5:
        event.pop(rng.choice(sorted(event)))
    else:
        event[rng.choice(["extra", "__proto__", "Kind", ""])] = 1
    return _dumps(event)


def _not_json(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    return rng.choice([b"", b"null", b"{", b"}", b"[]", b"{'kind': 'vitals'}", b"<xml/>", b"MSH|"])


def _tombstone(rng: random.Random, topic: str, ref: str, now: datetime) -> None:
    return None


def _schema_valid_extreme(rng: random.Random, topic: str, ref: str, now: datetime) -> bytes:
    """Passes ingest: edges of every range and of the event-time window, invalid measurements
    holding any number, the longest ids; these reach the clinical agent."""
    event = _event(rng, topic, ref, now)
    event["event_time"] = _iso(
        rng.choice(
            [
                now - timedelta(days=3640),
                now + timedelta(hours=23),
                now - timedelta(seconds=rng.uniform(0, 3600)),
                now,
            ]
        )
    )
    if rng.random() < 0.3:
        event["event_id"] = "E" + "9" * 127
    if topic == VITALS_RAW.name:
        event["heart_rate_bpm"] = {"value": rng.choice([1e308, -1e308, 0.0]), "validity": "invalid"}
        event["spo2_percent"] = {"value": rng.choice([0, 100]), "validity": "questionable"}
    elif topic == SYMPTOMS_RAW.name:
        event |= {"pain_score": rng.choice([0, 10]), "symptom": "back_pain"}
        event["neurological"] = {"weakness": True, "spreading": True, "severe_headache": True}
    else:
        event["rate_ml_h"] = rng.choice([0, 1000, 1000.0, 5e-324])
        event["kind"] = "rate_changed" if "context" not in event else event["kind"]
        event.setdefault("infusion_id", f"inf-{ref}-1")
        if "context" in event:
            event["context"] |= {"weight_kg": 2, "concentration_mg_ml": 200, "age_years": 120}
            event["context"] |= {"dose_g_kg": 3, "risk_factors": ["renal_disease"] * 20}
    return _dumps(event)


#: (kind, weight, builder); the weights are relative.
KINDS: tuple[tuple[str, float, Builder], ...] = (
    ("schema_valid_extreme", 14, _schema_valid_extreme),
    ("implausible_time", 8, _implausible_time),
    ("bool_as_number", 5, _bool_number),
    ("nan_infinity", 5, _non_finite),
    ("fraction_or_string_number", 5, _fraction_or_string),
    ("not_utf8", 5, _not_utf8),
    ("random_bytes", 8, _random_bytes),
    ("truncated_json", 8, _truncated),
    ("wrong_types", 8, _wrong_types),
    ("huge_values", 3, _huge_values),
    ("deep_nesting", 3, _deep_nesting),
    ("unicode", 6, _unicode),
    ("duplicate_keys", 5, _duplicate_keys),
    ("wrong_topic", 4, _wrong_topic),
    ("missing_or_unknown_field", 5, _fields_off),
    ("not_json", 4, _not_json),
    ("tombstone", 1, _tombstone),
    ("oversize", 0.04, _oversize),
)
KIND_NAMES = (*(kind for kind, _, _ in KINDS), "key_mismatch")


def hostile_patients(partitions: int = 1, avoid: int | None = None) -> list[str]:
    """The hostile inputs' patient refs; with ``avoid``, only those in other partitions."""
    refs = [f"fz-{n:04d}" for n in range(HOSTILE_PATIENTS)]
    return [r for r in refs if avoid is None or partition_of(r.encode(), partitions) != avoid]


def hostile_inputs(
    seed: int, count: int, now: datetime, *, start: int = 0, patients: list[str] | None = None
) -> Iterator[RawInput]:
    """Inputs ``start`` to ``start + count`` of ``seed``, the ``n``-th drawn from its own
    stream; their patients from ``patients`` (default: all of :func:`hostile_patients`)."""
    refs = patients or hostile_patients()
    weights = [weight for _, weight, _ in KINDS]
    for n in range(start, start + count):
        rng = derive_rng(seed, "fuzz", n)
        kind, _, build = rng.choices(KINDS, weights)[0]
        topic = rng.choice(RAW_TOPICS).name
        ref = rng.choice(refs)
        value = build(rng, topic, ref, now)
        key: bytes | None = ref.encode()
        roll = rng.random()
        if roll < 0.05 and value is not None:  # a tombstone needs a key (Kafka refuses neither)
            key = None
        elif roll < 0.08:
            key, kind = rng.randbytes(rng.randint(0, 40)), "key_mismatch"
        elif roll < 0.12:
            key, kind = f"{rng.choice(refs)}x".encode(), "key_mismatch"
        yield RawInput(topic, key, value, kind)


def reacting_patient(now: datetime) -> list[RawInput]:
    """A valid patient who reacts: a step to 4 mg/kg/min at minute 60, back pain 6/10 at 78
    (R1). Event times end a minute before ``now``; the pain report is the last input."""
    t0 = now - timedelta(minutes=79)
    ref = GOOD_PATIENT
    infusion = f"inf-{ref}"
    context = InfusionContext(
        product=IvigProduct.OCTAGAM_10, concentration_mg_ml=100, weight_kg=70, age_years=50,
        dose_g_kg=0.4,
    )  # fmt: skip
    events: list[tuple[str, Any]] = [
        (PUMP_EVENTS_RAW.name, InfusionStarted(event_id=f"{ref}-start", patient_ref=ref,
                                               event_time=t0, infusion_id=infusion,
                                               rate_ml_h=42.0, context=context)),
        (PUMP_EVENTS_RAW.name, RateChanged(event_id=f"{ref}-rate-30", patient_ref=ref,
                                           event_time=t0 + timedelta(minutes=30),
                                           infusion_id=infusion, rate_ml_h=84.0)),
        (PUMP_EVENTS_RAW.name, RateChanged(event_id=f"{ref}-rate-60", patient_ref=ref,
                                           event_time=t0 + timedelta(minutes=60),
                                           infusion_id=infusion, rate_ml_h=168.0)),
        (SYMPTOMS_RAW.name, SymptomReport(event_id=f"{ref}-pain-78", patient_ref=ref,
                                          event_time=t0 + timedelta(minutes=78),
                                          symptom=SymptomKind.BACK_PAIN, pain_score=6)),
    ]  # fmt: skip
    return [
        RawInput(
            topic,
            ref.encode(),
            event.model_dump_json().encode(),
            "valid_reacting_patient",
            event.event_id,
        )
        for topic, event in events
    ]
