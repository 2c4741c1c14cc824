"""hypothesis strategies for the raw topics' JSON: schema-valid events (extremes included) and
hostile variants of them: wrong types, huge and non-finite numbers, missing and unknown fields,
deep nesting, unusual unicode, duplicated keys, truncation, stray bytes, other encodings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.events import (
    NEUROLOGICAL_SIGN_NAMES,
    VITAL_BOUNDS,
    RiskFactor,
    SymptomKind,
    Validity,
)
from schemas.ivig_products import IvigProduct
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW, TopicSpec
from tests.fuzz.ingest_promises import ARRIVAL

#: Ingest's default window around the arrival every property validates against.
OLDEST = ARRIVAL - timedelta(days=3650)
NEWEST = ARRIVAL + timedelta(days=1)

patient_refs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
event_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", fullmatch=True)
infusion_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)
wards = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
#: Free text as senders write it: any code point but lone surrogates (JSON cannot carry them).
free_text = st.text(max_size=200)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


def _in_window(when: datetime, offset: timezone) -> str:
    return when.astimezone(offset).isoformat()


#: Event times inside ingest's window, in any UTC offset, at both edges too.
event_times = st.builds(
    _in_window,
    st.datetimes(
        min_value=(OLDEST + timedelta(minutes=1)).replace(tzinfo=None),
        max_value=(NEWEST - timedelta(minutes=1)).replace(tzinfo=None),
        timezones=st.just(UTC),
    ),
    offsets,
)


def _number(low: float, high: float, *, exclude_low: bool = False) -> st.SearchStrategy[Any]:
    """A JSON number in [low, high] (ints too: JSON integers are accepted where a decimal is)."""
    floats = st.floats(low, high, exclude_min=exclude_low, allow_nan=False)
    ints = st.integers(int(low) + (1 if exclude_low else 0), int(high))
    return st.one_of(floats, ints, st.sampled_from([high, low if not exclude_low else high]))


rates = _number(0, 1000)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _common(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"event_id": event_ids, "patient_ref": patient_refs, "event_time": event_times, **fields}
    )


contexts = st.fixed_dictionaries(
    {
        "product": st.sampled_from([p.value for p in IvigProduct]),
        "concentration_mg_ml": _number(0, 200, exclude_low=True),
        "weight_kg": _number(2, 350),
        "age_years": st.integers(0, 120),
        "dose_g_kg": _number(0, 3, exclude_low=True),
    },
    optional={
        "risk_factors": st.lists(st.sampled_from([r.value for r in RiskFactor]), max_size=12),
        "prior_infusions": _optional(st.integers(0, 1000)),
        "ward": wards,
    },
)
_pump = {"infusion_id": infusion_ids}
_device = {"device_id": _optional(st.text(max_size=64))}
PUMP_EVENTS = st.one_of(
    _common(kind=st.just("infusion_started"), rate_ml_h=rates, context=contexts, **_pump),
    _common(
        kind=st.just("rate_changed"), rate_ml_h=rates, previous_rate_ml_h=_optional(rates), **_pump
    ),
    _common(kind=st.just("paused"), **_pump),
    _common(kind=st.just("resumed"), rate_ml_h=rates, **_pump),
    _common(kind=st.just("stopped"), reason=free_text, **_pump),
    _common(kind=st.just("completed"), volume_delivered_ml=_optional(_number(0, 5000)), **_pump),
    _common(
        kind=st.just("pump_alarm"),
        alarm=st.sampled_from(
            ["occlusion", "air_in_line", "door_open", "low_battery", "vtbi_complete", "other"]
        ),
        text=free_text,
        **_pump,
    ),
).flatmap(lambda event: st.fixed_dictionaries({}, optional=_device).map(lambda d: event | d))


def _measurement(name: str) -> st.SearchStrategy[dict[str, Any]]:
    low, high = VITAL_BOUNDS[name]
    plausible = st.fixed_dictionaries(
        {"value": _number(low, high)},
        optional={"validity": st.sampled_from([Validity.VALID.value, Validity.QUESTIONABLE.value])},
    )
    # An invalid measurement may hold any finite number: bounds apply to valid ones only.
    invalid = st.fixed_dictionaries(
        {"value": st.floats(allow_nan=False, allow_infinity=False), "validity": st.just("invalid")}
    )
    return st.one_of(plausible, invalid)


VITALS = st.fixed_dictionaries({name: _measurement(name) for name in VITAL_BOUNDS}).flatmap(
    lambda all_six: st.sets(st.sampled_from(sorted(all_six)), min_size=1).flatmap(
        lambda names: _common(kind=st.just("vitals")).map(
            lambda event: event | {name: all_six[name] for name in names}
        )
    )
)
_pain_kinds = {SymptomKind.BACK_PAIN.value, SymptomKind.NECK_PAIN.value}
SYMPTOMS = (
    _common(
        kind=st.just("symptom"),
        symptom=st.sampled_from([s.value for s in SymptomKind]),
        pain_score=st.integers(0, 10),
    )
    .flatmap(
        lambda event: st.fixed_dictionaries(
            {},
            optional={
                "infusion_id": _optional(infusion_ids),
                "reporter": st.sampled_from(["patient", "nurse"]),
                "neurological": st.fixed_dictionaries(
                    {},
                    optional={sign: st.booleans() for sign in NEUROLOGICAL_SIGN_NAMES},
                ),
            },
        ).map(lambda extra: event | extra)
    )
    .flatmap(
        # A pain score is optional except for back and neck pain.
        lambda event: st.sampled_from(
            [event]
            if event["symptom"] in _pain_kinds
            else [event, {k: v for k, v in event.items() if k != "pain_score"}]
        )
    )
)

VALID_EVENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    PUMP_EVENTS_RAW.name: PUMP_EVENTS,
    VITALS_RAW.name: VITALS,
    SYMPTOMS_RAW.name: SYMPTOMS,
}

#: Marks where a deeply nested array goes (json.dumps cannot write one that deep).
_DEEP = "\x00deep\x00"
_DEEP_JSON = json.dumps(_DEEP).encode()

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**400),
    st.floats(),  # NaN and infinities included: json.dumps writes NaN / Infinity
    st.text(max_size=50),
    st.sampled_from(
        [
            "",
            "84",
            "1e999",
            "true",
            "null",
            "\u202e",
            "\ufeff",
            "\U0001d7dc\U0001d7da",
            "\u0664\u0662",
            "x" * 300,
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile_values = st.one_of(json_values, st.just(_DEEP))
#: Field names worth aiming at (every event field and a few that are not).
FIELDS = [
    "event_id",
    "patient_ref",
    "event_time",
    "kind",
    "infusion_id",
    "device_id",
    "rate_ml_h",
    "previous_rate_ml_h",
    "context",
    "reason",
    "volume_delivered_ml",
    "alarm",
    "text",
    "heart_rate_bpm",
    "systolic_mmhg",
    "temperature_c",
    "spo2_percent",
    "symptom",
    "pain_score",
    "reporter",
    "neurological",
    "__proto__",
    "",
    "extra",
]
_NESTED = [("context", k) for k in ("weight_kg", "concentration_mg_ml", "age_years", "ward")] + [
    ("heart_rate_bpm", "value"),
    ("heart_rate_bpm", "validity"),
    ("neurological", "weakness"),
]


@st.composite
def _mutated(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid event with one to three fields changed, removed, nested wrongly or added."""
    event: Any = draw(valid)
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(event, dict):
            break
        action = draw(st.sampled_from(["set", "drop", "nested", "wrap", "kind", "time"]))
        if action == "set":
            event[draw(st.sampled_from(FIELDS))] = draw(hostile_values)
        elif action == "drop" and event:
            event.pop(draw(st.sampled_from(sorted(event))))
        elif action == "nested":
            outer, inner = draw(st.sampled_from(_NESTED))
            if isinstance(event.get(outer), dict):
                event[outer] = {**event[outer], inner: draw(hostile_values)}
        elif action == "wrap":
            event = draw(st.sampled_from([[event], {"event": event}, json.dumps(event)]))
        elif action == "kind":
            event["kind"] = draw(
                st.sampled_from(["rate_changed", "vitals", "symptom", "RATE_CHANGED", "", "x"])
            )
        elif action == "time":
            event["event_time"] = draw(
                st.one_of(
                    st.sampled_from(
                        [
                            "9999-12-31T23:59:59Z",
                            "0001-01-01T00:00:00+01:00",
                            "2126-01-01T00:00:00Z",
                            "2026-03-02T09:00:00",
                            "2026-02-30T09:00:00Z",
                            "2026-03-02T24:00:00Z",
                            "1700000000",
                            "2026-03-02",
                            "now",
                            "",
                        ]
                    ),
                    st.integers(-(10**12), 10**13),
                    st.floats(),
                )
            )
    return event


def dumps(value: Any, ascii_only: bool) -> bytes:
    text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _bytes_mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` with one textual fault: cut short, stray bytes, a duplicated key, NaN / huge
    literals, a byte-order mark, UTF-16, padding, trailing garbage."""
    fault = draw(
        st.sampled_from(
            [
                "none",
                "truncate",
                "insert",
                "duplicate_key",
                "literal",
                "bom",
                "utf16",
                "pad",
                "tail",
            ]
        )
    )
    at = draw(st.integers(0, len(raw)))
    if fault == "truncate":
        return raw[:at]
    if fault == "insert":
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if fault == "duplicate_key" and raw.startswith(b"{"):
        key = draw(st.sampled_from(FIELDS))
        duplicate = dumps({key: draw(json_values)}, True)[1:-1]
        return b"{" + duplicate + b"," + raw[1:] if len(raw) > 2 else raw
    if fault == "literal":
        literal = draw(st.sampled_from([b"NaN", b"-Infinity", b"1e999", b"-0", b"1" * 400]))
        return raw.replace(b":1", b":" + literal, 1) if b":1" in raw else raw + literal
    if fault == "bom":
        return b"\xef\xbb\xbf" + raw
    if fault == "utf16":
        return raw.decode("utf-8", "surrogatepass").encode("utf-16")
    if fault == "pad":
        return b" \t\r\n" * draw(st.integers(1, 50)) + raw + b"\n"
    if fault == "tail":
        return raw + draw(st.sampled_from([b"}", b",", b"{}", b"\x00", b"]"]))
    return raw


def hostile_json(spec: TopicSpec) -> st.SearchStrategy[bytes]:
    """Bytes close to a valid event of ``spec``'s topic: mutated, then maybe damaged as text."""
    valid = VALID_EVENTS[spec.name]
    documents = st.one_of(_mutated(valid), json_values, valid)
    dumped = st.tuples(documents, st.booleans(), st.integers(10, 5000)).map(
        lambda d: dumps(d[0], d[1]).replace(_DEEP_JSON, b"[" * d[2] + b"]" * d[2])
    )
    return dumped.flatmap(_bytes_mutated)


def valid_json(spec: TopicSpec) -> st.SearchStrategy[bytes]:
    return st.tuples(VALID_EVENTS[spec.name], st.booleans()).map(lambda d: dumps(*d))
