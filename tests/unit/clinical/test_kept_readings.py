"""A patient's newest sets in columns (``streams/clinical/kept_readings.py``) read as the sorted
list of :class:`Reading` they replaced, whatever is inserted, dropped or looked up, and take far
less memory."""

from __future__ import annotations

import tracemalloc
from bisect import insort
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clinical import kept_readings
from streams.clinical.kept_readings import KeptReadings, micros
from streams.clinical.state import PatientState
from streams.clinical.vitals_assessment import Reading

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
# Tenths (the usual), and values that widen the column to doubles: hundredths, and one past
# what tenths can hold in two bytes.
values = st.none() | st.sampled_from([36.8, 70.0, 98.0, 121.5, 0.1, 36.65, 4000.0])
# Seconds apart, and hours or days (past what 32 bits of microseconds after a base hold: the
# column is counted from a new base, or widened).
times = st.one_of(
    st.integers(min_value=0, max_value=40).map(lambda s: T0 + timedelta(seconds=s / 4)),
    st.sampled_from([-3, 1.2, 2.5, 30]).map(lambda h: T0 + timedelta(hours=h)),
)
readings = st.builds(
    Reading,
    times,
    # (Ids sharing prefixes, or none, or bytes of one character: the prefix kept once shrinks.)
    st.sampled_from(["a", "b", "mon-1", "mon-10", "mon-2", "", "mé-1", "mè-1", "m"]),
    values,
    values,
    values,
    values,
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), readings),
        st.tuples(st.just("drop"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("drop judged"), st.integers(min_value=0, max_value=5)),
    ),
    max_size=60,
)


def _judge(
    time_us: int, hr: float | None, sbp: float | None, temp: float | None, spo2: float | None
) -> bool:
    """Judges by the time and every value (None and each double must reach it as they were)."""
    return (
        (time_us // 250_000) % 2 == 0
        and (hr is None or hr > 50)
        and sbp != 0.1
        and (temp is not None or spo2 is None)
    )


@given(operations=operations, probe=readings)
def test_the_columns_read_as_the_sorted_list_they_replace(
    operations: list[tuple[str, object]], probe: Reading
) -> None:
    kept, reference = KeptReadings(), list[Reading]()
    for name, argument in operations:
        if name == "insert":
            assert isinstance(argument, Reading)
            if any(r[:2] == argument[:2] for r in reference):
                continue  # (the state never inserts a duplicate)
            kept.insert(argument)
            insort(reference, argument)
        elif name == "drop":
            assert isinstance(argument, int)
            assert kept.drop_oldest(argument) == reference[:argument]
            del reference[:argument]
        else:  # (judged on the columns: only those the judge accepts are returned)
            assert isinstance(argument, int)
            returned = kept.drop_oldest(argument, _judge)
            assert returned == [r for r in reference[:argument] if _judge(micros(r[0]), *r[2:])]
            del reference[:argument]
        assert kept == reference
    assert list(kept) == reference
    assert len(kept) == len(reference)
    assert kept[:3] == reference[:3]
    if reference:
        assert (kept[0], kept[-1]) == (reference[0], reference[-1])
        assert kept.oldest_time() == micros(reference[0].event_time)
    held = any(r[:2] == probe[:2] for r in reference)
    assert kept.holds(probe.event_time, probe.event_id) is held
    start, end = probe.event_time, probe.event_time + timedelta(seconds=3)
    assert kept.between(start, end) == [r for r in reference if start <= r.event_time <= end]
    copy = kept.copy()
    assert copy == kept
    copy.insert(Reading(T0 + timedelta(hours=1), "later", 1.0))
    assert copy != kept, "a copy does not share its columns"


def test_a_time_in_another_zone_is_the_same_instant() -> None:
    local = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    kept = KeptReadings([Reading(local, "x", 80.0)])
    assert kept[0].event_time == local
    assert kept.holds(local.astimezone(UTC), "x")


def test_a_state_writes_and_reads_its_sets_as_json_arrays_as_before() -> None:
    state = PatientState(patient_ref="pt-kept")
    for second in (3, 1, 2):
        state.add_reading(Reading(T0 + timedelta(seconds=second), f"v{second}", 70.0, None))
    value = state.to_table_value()
    assert b'"readings":[["2026-12-01T08:00:01Z","v1",70.0,null,null,null],' in value
    restored = PatientState.from_table_value("pt-kept", value)
    assert isinstance(restored.readings, KeptReadings)
    assert restored == state
    assert restored.to_table_value() == value


def test_a_value_finer_than_tenths_widens_the_column_and_every_set_reads_as_it_came() -> None:
    tenths = [
        Reading(T0 + timedelta(seconds=s), f"v{s}", 70.0 + s / 10, None, 36.6) for s in range(5)
    ]
    finer = Reading(T0 + timedelta(seconds=2.5), "v2.5", 70.25, 121.0, None, 97.0)
    kept = KeptReadings(tenths)
    narrow = kept.copy()
    kept.insert(finer)
    assert list(kept) == sorted([*tenths, finer])
    assert kept.drop_oldest(4, lambda t, hr, *_: hr == 70.25) == [finer]
    # The same sets, one column widened and the other not, are equal and read the same.
    narrow.drop_oldest(3)
    assert list(kept) == list(narrow) == tenths[3:]
    assert kept == narrow
    assert narrow == kept
    assert kept == KeptReadings(list(kept))


@settings(max_examples=60, deadline=None)
@given(operations=operations)
def test_ids_counted_from_zero_again_or_widened_past_their_offsets_read_the_same(
    operations: list[tuple[str, object]],
) -> None:
    """Where each id ends is counted from the first set ever kept, in 16 bits; past their range
    (here made 8 bytes) the ends are counted from 0 again, in 32 bits when the ids kept (and the
    one added) take more than 16 hold, and past those (here 16 bytes) from 0 again: nothing
    reads differently."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kept_readings, "_ENDS_MAX_16", 8)
        patch.setattr(kept_readings, "_ENDS_MAX", 16)
        kept, reference = KeptReadings(), list[Reading]()
        for name, argument in operations:
            if name == "insert":
                assert isinstance(argument, Reading)
                if any(r[:2] == argument[:2] for r in reference):
                    continue
                kept.insert(argument)
                insort(reference, argument)
            else:
                assert isinstance(argument, int)
                kept.drop_oldest(argument)
                del reference[:argument]
            assert kept == reference
            assert kept.copy() == reference
            ends = kept._id_ends
            assert ends.typecode == "I" or not ends or ends[-1] <= 8
        # A monitor's sets for a long time, three kept: the ends stay within 16 bits' range.
        kept = KeptReadings()
        for n in range(100):
            kept.insert(Reading(T0 + timedelta(seconds=n), str(n % 10), 70.0))
            kept.drop_oldest(len(kept) - 3)
            assert kept._id_ends.typecode == "H"
            assert max(kept._id_ends) <= 8
        assert [r.event_id for r in kept] == ["7", "8", "9"]


def test_ids_longer_than_16_bits_of_ends_hold_are_ended_in_32() -> None:
    """600 sets with 120-byte ids sharing no prefix (72 kB): the ends widen to 32 bits once
    the ids kept pass 64 kB, and read the same; a monitor's short ids stay in 16."""
    sets = [Reading(T0 + timedelta(seconds=s), f"{s:03d}" + "x" * 117, 70.0) for s in range(600)]
    kept = KeptReadings(sets)
    assert kept._id_ends.typecode == "I"
    assert list(kept) == sets
    kept.drop_oldest(590)
    assert list(kept) == sets[590:]
    assert KeptReadings(sets[:500])._id_ends.typecode == "H"  # (60 kB)
    monitor = KeptReadings(Reading(T0 + timedelta(seconds=s), f"mon-{s}", 70.0) for s in range(300))
    assert monitor._id_ends.typecode == "H"


def test_ids_sharing_a_prefix_keep_it_once() -> None:
    def ids(make: Callable[[int], str]) -> int:
        sets = [Reading(T0 + timedelta(seconds=s), make(s), 70.0) for s in range(300)]
        tracemalloc.start()
        try:
            kept = KeptReadings(sets)
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert [r.event_id for r in kept] == [r.event_id for r in sets]
        return size

    shared = ids(lambda s: f"monitor-7-{s:06d}")
    unshared = ids(lambda s: f"{s:06d}-monitor-7")
    assert unshared - shared > 300 * 8, f"{shared} B sharing a prefix against {unshared} B"


def test_three_hundred_sets_take_under_a_third_of_the_memory_of_a_list_of_readings() -> None:
    def traced(build: object) -> int:
        tracemalloc.start()
        try:
            made = build()  # type: ignore[operator]
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(made) == 300
        return size

    def sets() -> list[Reading]:
        # Each set with its own event time and id objects, as a decoded reading brings them.
        return [
            Reading(
                T0 + timedelta(seconds=s), f"monitor-7-{s:06d}", 70.0 + s % 9, 120.0, 36.8, 97.0
            )
            for s in range(300)
        ]

    as_list = traced(sets)
    as_columns = traced(lambda: KeptReadings(sets()))
    assert as_columns < as_list / 3, f"{as_columns} B in columns against {as_list} B as a list"
