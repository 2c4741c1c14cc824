"""The telemetry fast path (msgspec, ``telemetry._fast_reading``) accepts only what the pydantic
schemas accept, with the same values: for any input, ``read_batch`` gives exactly what the
schema path alone gives (readings, their times' offsets, rejections with their reasons and
bytes, readings of other partitions). And it is the path the usual envelopes take."""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from schemas.events import VITAL_BOUNDS, Measurement, VitalSigns
from schemas.raw_validation import IngestLimits
from schemas.telemetry import MAX_BATCH_VITALS, TelemetryBatch
from simulators.sim_event import SimEvent
from simulators.telemetry_batches import batch_telemetry
from streams.cli.telemetry_bench_data import envelope, iso, reading_json
from streams.clinical import telemetry
from streams.clinical.telemetry import BatchReading, read_batch, sent_readings
from streams.kafka.partitioning import partition_of
from tests.support.events import Patient, at

LIMITS = IngestLimits()
ARRIVAL = at(60)
PARTITIONS = 4
_TIME = TypeAdapter(Any)


def _refs(partition: int, count: int) -> list[str]:
    refs = (f"pt-{i}" for i in range(1000))
    return [r for r in refs if partition_of(r.encode(), PARTITIONS) == partition][:count]


def _by_schema(value: bytes, partition: int) -> BatchReading:
    return telemetry._schema_reading(value, partition, PARTITIONS, ARRIVAL, LIMITS, BatchReading())


def _fast(value: bytes, partition: int) -> BatchReading | None:
    return telemetry._fast_reading(value, partition, PARTITIONS, ARRIVAL, LIMITS)


def _as_compared(reading: BatchReading) -> tuple[object, ...]:
    """Everything a reading holds, each time with its offset and as JSON writes it (equal
    datetimes in other zones compare equal)."""
    by_patient = {
        ref: [(r, r.event_time.utcoffset(), _TIME.dump_json(r.event_time)) for r in readings]
        for ref, readings in reading.by_patient.items()
    }
    elsewhere = {p: [v.model_dump_json() for v in vs] for p, vs in reading.elsewhere.items()}
    return by_patient, elsewhere, reading.rejected, reading.batch_id


def test_the_structs_mirror_the_schemas() -> None:
    fields = telemetry._Vitals.__struct_fields__
    assert set(fields) == set(VitalSigns.model_fields)
    assert [f for f in fields if f in VITAL_BOUNDS] == list(VITAL_BOUNDS), (
        "measurements in VITAL_BOUNDS' order (the bounds are checked by position)"
    )
    assert set(telemetry._Measurement.__struct_fields__) == set(Measurement.model_fields)
    assert set(telemetry._Batch.__struct_fields__) == set(TelemetryBatch.model_fields)


def test_the_usual_envelopes_take_the_fast_path() -> None:
    """The bench's, the simulator's (pydantic's own JSON) and a gateway-like offset time."""
    now = ARRIVAL - timedelta(seconds=30)
    (ref,) = _refs(0, 1)
    bench = envelope("b1", [reading_json(ref, i, iso(now), 70.5) for i in range(3)])
    p = Patient(ref)
    events = [
        SimEvent(
            float(s), "vitals.raw", ref.encode(), p.vitals(59 + s / 60).model_dump_json().encode()
        )
        for s in range(3)
    ]
    [simulated] = batch_telemetry(events, partitions=PARTITIONS, window_s=10.0)
    offset = json.dumps(
        {
            "batch_id": "gw-1",
            "vitals": [
                {
                    "event_id": "gw-1.0",
                    "patient_ref": ref,
                    "event_time": (now + timedelta(hours=1))
                    .isoformat()
                    .replace("+00:00", "+01:00"),
                    "heart_rate_bpm": {"value": 88, "validity": "questionable"},
                    "respiratory_rate_per_min": {"value": 500, "validity": "invalid"},
                }
            ],
        }
    ).encode()
    long_ids = envelope("b" * 128, [reading_json(ref, 10**120, iso(now), 70.0)])
    for value in (bench, simulated.value, offset, long_ids):
        fast = _fast(value, 0)
        assert fast is not None, value
        assert _as_compared(fast) == _as_compared(_by_schema(value, 0))
        assert fast.accepted >= 1


def test_what_the_fast_path_leaves_is_read_by_the_schemas() -> None:
    (p,), (q,) = _refs(0, 1), _refs(3, 1)
    good = json.loads(Patient(p).vitals(59).model_dump_json())
    for vitals in (
        [{**good, "event_time": "2020-01-01T00:00:00t"}],  # not RFC 3339 as the fast path reads
        [{**good, "event_time": (ARRIVAL - timedelta(days=4000)).isoformat()}],  # implausible
        [good, {**good, "patient_ref": q, "event_id": "x-1"}],  # another partition's reading
        [{**good, "heart_rate_bpm": {"value": 301}}],  # out of bounds
        [{"event_id": "v-1", "patient_ref": p, "event_time": good["event_time"]}],  # no value
        [{**good, "event_id": "x" * 129}],  # ids and references too long, or ending in "\n"
        [{**good, "event_id": "v-1\n"}],
        [{**good, "patient_ref": next(r for r in _long_refs() if _owner(r) == 0)}],
        [{**good, "patient_ref": p + "\n"}],
        [{**good, "respiratory_rate_per_min": {"value": 1e400, "validity": "invalid"}}],
    ):
        value = json.dumps({"batch_id": "b", "vitals": vitals}).encode()
        assert _fast(value, 0) is None, vitals
        _assert_read_as_by_schema(value)
    # (The schema path then judges each reading alone: a batch id too long, or too many
    # readings, cost no reading. The second is over the size limit read_batch checks first.)
    for batch_id in ("b" * 129, "", "a/b", "-b", "b\n"):
        value = json.dumps({"batch_id": batch_id, "vitals": [good]}).encode()
        assert _fast(value, 0) is None, batch_id
        _assert_read_as_by_schema(value)
    too_many = json.dumps({"batch_id": "b", "vitals": [good] * (MAX_BATCH_VITALS + 1)}).encode()
    assert _fast(too_many, 0) is None


def _assert_read_as_by_schema(value: bytes) -> None:
    read = read_batch(value, partition=0, partitions=PARTITIONS, arrival=ARRIVAL, limits=LIMITS)
    assert _as_compared(read) == _as_compared(_by_schema(value, 0))


def _owner(ref: str) -> int:
    return partition_of(ref.encode(), PARTITIONS)


def _long_refs() -> list[str]:
    """Patient references one character too long for the schema."""
    return [f"p{i:064d}" for i in range(20)]


# Inputs near the schema's edges: valid and invalid ids, times in many forms, values of every
# JSON type, in and out of bounds, unknown fields.
def _mostly(valid: st.SearchStrategy[Any], edges: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` 11 times in 12, else ``edges``: an envelope has dozens of fields, and the fast
    path is tested only on one it takes whole."""
    return st.sampled_from(range(12)).flatmap(lambda i: edges if i == 7 else valid)


_IDS = _mostly(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True),
    st.sampled_from(
        ["a", "v-1", "A.b:c_d-9", "x" * 128, "x" * 129, "", "-a", "a b", "a\n", "é", "a/b", "1"]
    ),
)
_REFS = _mostly(
    st.sampled_from(_refs(0, 3)),
    st.sampled_from([*_refs(1, 1), *_refs(2, 1), "", "a:b", "x" * 65, "pt-\n", "é"]),
)
_CLOCK = st.sampled_from(["00:00:00", "23:59:59", "24:00:00", "12:30:60", "12:30", "7:00:00"])
_FRACTION = st.sampled_from(["", ".5", ".123", ".123456", ".1234567", ".", ".12a"])
_ZONE = st.sampled_from(
    ["Z", "z", "+00:00", "-00:00", "+01:00", "-09:30", "+23:59", "-23:59", "+24:00", "+0100", ""]
)
_DAY = st.sampled_from(
    ["2026-12-01", "2026-02-30", "2026-13-01", "2024-02-29", "1970-01-01", "٢٠٢٦-12-01"]
)
_SEPARATOR = st.sampled_from(["T", "t", " ", "_"])
_RECENT = st.timedeltas(timedelta(days=-2), timedelta(hours=2)).map(lambda d: ARRIVAL + d)
_TIMES = _mostly(
    _RECENT.map(lambda t: t.isoformat().replace("+00:00", "Z"))
    | _RECENT.map(lambda t: t.astimezone(timezone(timedelta(hours=-5))).isoformat()),
    st.builds(lambda d, s, c, f, z: d + s + c + f + z, _DAY, _SEPARATOR, _CLOCK, _FRACTION, _ZONE)
    | st.integers(-(2**40), 2**40)
    | st.sampled_from([None, "", "now", (ARRIVAL + timedelta(days=2)).isoformat()]),
)
_EDGE_VALUES = st.floats(allow_nan=False, allow_infinity=False, min_value=-100, max_value=400) | (
    st.sampled_from([0, 300, 300.0001, -0.0, 1e308, 10**30, True, None, "70", [70]])
)


def _values(name: str) -> st.SearchStrategy[Any]:
    low, high = VITAL_BOUNDS[name]
    return _mostly(st.floats(min_value=low, max_value=high) | st.integers(low, high), _EDGE_VALUES)


_VALIDITY = st.sampled_from(["valid", "questionable", "invalid", "VALID", "", None, 1])


@st.composite
def _measurement(draw: st.DrawFn, name: str) -> object:
    choice = draw(st.sampled_from(range(40)))
    if choice == 31:
        return None
    if choice == 21:
        return draw(_EDGE_VALUES)
    measured: dict[str, object] = {"value": draw(_values(name))}
    if draw(st.booleans()):
        measured["validity"] = draw(
            _mostly(st.sampled_from(["valid", "questionable", "invalid"]), _VALIDITY)
        )
    if choice == 12:
        measured["unit"] = "bpm"
    if choice == 23:
        del measured["value"]
    return measured


@st.composite
def _reading(draw: st.DrawFn) -> dict[str, object]:
    reading: dict[str, object] = {
        "event_id": draw(_IDS),
        "patient_ref": draw(_REFS),
        "event_time": draw(_TIMES),
    }
    for name in VITAL_BOUNDS:
        if draw(st.sampled_from(range(3))):
            reading[name] = draw(_measurement(name))
    extra = draw(st.sampled_from(range(30)))
    if extra == 10:
        reading["kind"] = draw(st.sampled_from(["vitals", "pump", None]))
    elif extra == 17:
        reading["note"] = "x"
    elif extra == 23:
        del reading[draw(st.sampled_from(["event_id", "patient_ref", "event_time"]))]
    return reading


@st.composite
def _envelope(draw: st.DrawFn) -> bytes:
    document: dict[str, object] = {
        "batch_id": draw(_IDS),
        "vitals": draw(_mostly(st.lists(_reading(), min_size=1, max_size=3), st.just([]))),
    }
    if draw(st.sampled_from(range(30))) == 17:
        document["extra"] = 1
    if draw(st.sampled_from(range(30))) == 13:
        del document["batch_id"]
    return json.dumps(document).encode()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_envelope(), st.integers(0, PARTITIONS - 1))
@example(b'{"batch_id":"b","vitals":[{"event_id":"a","patient_ref":"a","event_id":"b"}]}', 0)
def test_read_batch_equals_the_schema_path_for_any_input(value: bytes, partition: int) -> None:
    fast = _fast(value, partition)
    by_schema = _by_schema(value, partition)
    event("fast path" if fast is not None else "schema path")
    if fast is not None:
        assert not by_schema.rejected, "accepted only what the schemas accept"
        assert not by_schema.elsewhere
        assert _as_compared(fast) == _as_compared(by_schema)
    read = read_batch(value, partition=partition, partitions=PARTITIONS, arrival=ARRIVAL,
                      limits=LIMITS)  # fmt: skip
    assert _as_compared(read) == _as_compared(by_schema)


_VALID_READING = st.fixed_dictionaries(
    {
        "event_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", fullmatch=True),
        "patient_ref": st.sampled_from(_refs(2, 5)),
        "event_time": _RECENT.map(lambda t: t.isoformat().replace("+00:00", "Z"))
        | st.tuples(_RECENT, st.integers(-14 * 60, 14 * 60)).map(
            lambda tm: tm[0].astimezone(timezone(timedelta(minutes=tm[1]))).isoformat()
        ),
    },
    optional={
        name: st.fixed_dictionaries(
            {"value": st.floats(*VITAL_BOUNDS[name]) | st.integers(*map(int, VITAL_BOUNDS[name]))},
            optional={"validity": st.sampled_from(["valid", "questionable", "invalid"])},
        )
        for name in VITAL_BOUNDS
    },
).filter(lambda r: len(r) > 3)


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALID_READING, min_size=1, max_size=6))
def test_the_fast_path_takes_every_valid_envelope_with_the_schemas_values(
    vitals: list[dict[str, object]],
) -> None:
    value = json.dumps({"batch_id": "b", "vitals": vitals}).encode()
    fast = _fast(value, 2)
    assert fast is not None
    assert _as_compared(fast) == _as_compared(_by_schema(value, 2))


def test_envelopes_of_several_patients_as_pydantic_writes_them_take_the_fast_path() -> None:
    """Envelopes of one to five readings of three patients, in pydantic's own JSON (as the
    simulator writes them): the fast path takes every one."""
    refs = _refs(0, 3)
    accepted = 0
    for index in range(50):
        readings = [
            json.loads(Patient(refs[(index + i) % 3]).vitals(50 + i / 60).model_dump_json())
            for i in range(index % 5 + 1)
        ]
        value = json.dumps({"batch_id": f"b{index}", "vitals": readings}).encode()
        accepted += _fast(value, 0) is not None
    assert accepted == 50


def test_a_failing_patients_readings_are_set_aside_as_sent() -> None:
    (p,), (q,) = _refs(0, 1), _refs(3, 1)
    patient = Patient(p)
    vitals = [
        json.loads(patient.vitals(59).model_dump_json()),
        {**json.loads(Patient(q).vitals(59).model_dump_json())},
        json.loads(patient.vitals(59.5).model_dump_json()),
    ]
    value = json.dumps({"batch_id": "b", "vitals": vitals}).encode()
    where: dict[str, Any] = {
        "partition": 0, "partitions": PARTITIONS, "arrival": ARRIVAL, "limits": LIMITS,
    }  # fmt: skip
    sent = sent_readings(value, p, **where)
    assert [v.event_id for v in sent] == [vitals[0]["event_id"], vitals[2]["event_id"]]
    assert [v.event_id for v in read_batch(value, **where).by_patient[p]] == [
        v.event_id for v in sent
    ]
    assert sent_readings(value, q, **where) == [], "another partition's: forwarded, not set aside"


def test_msgspec_reads_json_as_pydantic_does_at_the_edges() -> None:
    """Duplicate keys (the last wins in both), huge exponents, a byte-order mark."""
    for raw in (b'{"value": 1, "value": 2}', b'{"value": 1e400}', b'\xef\xbb\xbf{"value": 1}'):
        try:
            ours: object = msgspec.json.decode(raw, type=telemetry._Measurement).value
        except msgspec.MsgspecError:
            ours = "rejected"
        try:
            theirs: object = Measurement.model_validate_json(raw).value
        except ValueError:
            theirs = "rejected"
        assert ours == theirs, raw
