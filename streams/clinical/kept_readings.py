"""A patient's newest vital-signs sets, kept in columns.

A patient at 1 Hz keeps its newest ``VITALS_KEPT`` (300) sets. As a list of :class:`Reading`
tuples each set was four objects: the tuple (96 B), its event time (a ``datetime``, 48 B), its
id and the list's slot, ~210 B a set and 63 kB a patient, most of a patient's state; and each
tuple was one more object for every full collection of the garbage collector to walk. Here the
event times are microseconds after a base in an ``array('I')`` (32 bits: ~71 minutes; the
sets of a wider span in 64 bits), the four values in tenths in an
``array('h')`` (vital signs carry at most one decimal; a value in finer steps turns the column
into doubles, ``array('d')``, for as long as the patient's sets are kept), and the ids UTF-8 in
one ``bytearray`` with where each ends (16 bits, or 32 for ids longer than 64 kB in all), less
the bytes every kept id begins with (a monitor's ids share a prefix: ``monitor-7-000123``),
held once: ~20 B a set with such ids (docs/benchmarks.md).

:class:`KeptReadings` is a sequence of :class:`Reading` (each made when it is read, ~2 us),
sorted by event time and id as the list was; what the telemetry path does per reading (is it
held, insert it, drop the oldest) works on the columns without making one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from streams.clinical.vitals_assessment import NormalTenths, Reading

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAN = float("nan")
#: A value not measured or not valid, in tenths (no value in tenths is this low: a set's values
#: are within bounds, ``schemas.events.VITAL_BOUNDS``; any other value widens the column).
_NONE_TENTHS = -32768
_TENTHS_MAX = 32767
#: The largest end of an id the offsets hold: 16 bits while the ids kept take no more (counted
#: from the first set ever kept: past it, after 64 kB of a patient's ids, ~6 hours of a
#: monitor's at 1 Hz, they are counted from 0 again), else 32 bits (after ~4 GB, from 0 again).
_ENDS_MAX_16 = 2 ** (8 * array("H").itemsize) - 1
_ENDS_MAX = 2 ** (8 * array("I").itemsize) - 1
#: The largest time a 32-bit column of event times holds (microseconds after its base).
_OFFSET_MAX = 2 ** (8 * array("I").itemsize) - 1
#: A ``Reading`` of a tuple without the keyword handling of its ``__new__`` (a set is made of the
#: columns every time one is read).
_READING = Reading._make


#: The last time converted (a reading's time is looked up, then inserted: converted once).
_last: tuple[datetime | None, int] = (None, 0)

#: Whether to return a set ``drop_oldest`` removes, judged on its event time (microseconds
#: since the epoch) and values (heart rate, systolic, temperature, SpO2; None: not measured).
Judge = Callable[[int, float | None, float | None, float | None, float | None], bool]


def micros(when: datetime) -> int:
    """``when`` (timezone-aware) as microseconds since the epoch: exact, as a datetime holds no
    finer time."""
    global _last
    last_when, last_us = _last
    if when is last_when:
        return last_us
    time_us = (when - _EPOCH) // _MICROSECOND
    _last = (when, time_us)
    return time_us


class KeptReadings(Sequence[Reading]):
    """Vital-signs sets sorted by (event time, id), in columns. No two with the same time and
    id (the state never adds a duplicate). Values are kept in tenths (``_NONE_TENTHS`` for None)
    while every one is a whole number of tenths, else as doubles; those are never NaN (a valid
    value is within its bounds: ``schemas.events.VitalSigns``), so there NaN stands for None."""

    __slots__ = (
        "_id_bytes",
        "_id_ends",
        "_id_prefix",
        "_origin",
        "_time_base",
        "_times",
        "_values",
    )

    def __init__(self, readings: Iterable[Reading] = ()) -> None:
        #: Event times, microseconds after ``_time_base``: 32 bits (``I``) while the sets
        #: kept span ~71 minutes at most (at 1 Hz the 300 span 5), else 64 bits (``q``) after
        #: the epoch (base 0) until none is kept.
        self._times: array[int] = array("I")
        self._time_base = 0
        #: Four values a set: tenths (typecode ``h``) or doubles (``d``).
        self._values: array[Any] = array("h")
        #: The ids, UTF-8, one after the other, each without ``_id_prefix`` (the bytes every
        #: kept id begins with); where each ends, counted from where the first set ever kept
        #: began (``_origin`` is where ``_id_bytes`` begins on that count), so that dropping the
        #: oldest moves no offset.
        self._id_bytes = bytearray()
        self._id_ends = array("H")
        self._id_prefix = b""
        self._origin = 0
        for reading in readings:
            self.insert(reading)

    def __len__(self) -> int:
        return len(self._times)

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> list[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | list[Reading]:
        if isinstance(index, slice):
            return [self._reading(i) for i in range(*index.indices(len(self._times)))]
        if index < 0:
            index += len(self._times)
        if not 0 <= index < len(self._times):
            raise IndexError("reading index out of range")
        return self._reading(index)

    def __iter__(self) -> Iterator[Reading]:
        for index in range(len(self._times)):
            yield self._reading(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeptReadings):
            if self._values.typecode == other._values.typecode:
                same = self._values.tobytes() == other._values.tobytes()  # (NaN equals NaN)
            else:  # (the same values, one column widened: compared as they are read)
                same = all(
                    self._values_at(i) == other._values_at(i) for i in range(len(self._times))
                )
            times_same = (self._time_base, self._times) == (other._time_base, other._times)
            if not times_same:
                times_same = self._absolute_times() == other._absolute_times()
            return times_same and same and self._ids() == other._ids()
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (mutable)

    def __repr__(self) -> str:
        return f"KeptReadings({list(self)!r})"

    def copy(self) -> KeptReadings:
        copy = KeptReadings()
        copy._times = array(self._times.typecode, self._times)
        copy._time_base = self._time_base
        copy._values = array(self._values.typecode, self._values)
        copy._id_bytes = bytearray(self._id_bytes)
        copy._id_ends = array(self._id_ends.typecode, self._id_ends)
        copy._id_prefix = self._id_prefix
        copy._origin = self._origin
        return copy

    def _start(self, index: int) -> int:
        """Where the id of the set at ``index`` begins (on the count of ``_id_ends``)."""
        return self._id_ends[index - 1] if index else self._origin

    def _id(self, index: int) -> str:
        return (self._id_prefix + self._id_end(index)).decode()

    def _id_end(self, index: int) -> bytearray:
        """The id of the set at ``index`` without the common prefix."""
        origin = self._origin
        return self._id_bytes[self._start(index) - origin : self._id_ends[index] - origin]

    def _stored_id(self, event_id: str) -> bytes:
        """``event_id`` as it is kept: without the prefix every kept id shares, which shrinks
        when this one does not begin with it (every kept id then written out again: rarely,
        since while any set is kept the prefix only shrinks)."""
        encoded = event_id.encode()
        if not self._times:  # (none kept: this id is the whole prefix)
            self._id_prefix, self._id_bytes, self._id_ends = encoded, bytearray(), array("H")
            self._origin = 0
            return b""
        prefix = self._id_prefix
        if encoded.startswith(prefix):
            return encoded[len(prefix) :]
        shared = 0
        while shared < min(len(prefix), len(encoded)) and prefix[shared] == encoded[shared]:
            shared += 1
        self._rewrite_ids(prefix[:shared])
        return encoded[shared:]

    def _rewrite_ids(self, prefix: bytes, room: int = 0) -> None:
        """The ids kept again, without ``prefix`` (a prefix of the current one), counted from 0:
        where each ends in 16 bits if those hold them and ``room`` more bytes, else in 32."""
        moved = self._id_prefix[len(prefix) :]
        written, ends_written = bytearray(), []
        for index in range(len(self._times)):
            written += moved + self._id_end(index)
            ends_written.append(len(written))
        ends = array("H" if len(written) + room <= _ENDS_MAX_16 else "I", ends_written)
        self._id_prefix, self._id_bytes, self._id_ends, self._origin = prefix, written, ends, 0

    def _ids(self) -> list[str]:
        return [self._id(index) for index in range(len(self._times))]

    def _values_at(
        self, index: int
    ) -> tuple[float | None, float | None, float | None, float | None]:
        values, at = self._values, 4 * index
        hr, sbp, temp, spo2 = values[at], values[at + 1], values[at + 2], values[at + 3]
        if values.typecode == "h":
            none = _NONE_TENTHS
            return (
                None if hr == none else hr / 10,
                None if sbp == none else sbp / 10,
                None if temp == none else temp / 10,
                None if spo2 == none else spo2 / 10,
            )
        return (
            None if hr != hr else hr,
            None if sbp != sbp else sbp,
            None if temp != temp else temp,
            None if spo2 != spo2 else spo2,
        )

    def _reading(self, index: int) -> Reading:
        return _READING(
            (
                _EPOCH + timedelta(microseconds=self._times[index] + self._time_base),
                self._id(index),
                *self._values_at(index),
            )
        )

    def within(self, normal: NormalTenths, count: int) -> bool:
        """Whether every one of the oldest ``count`` sets has its values within ``normal``
        (in tenths; a column of doubles is never taken as within)."""
        return self._within(normal, 0, count)

    def _within(self, normal: NormalTenths, first: int, stop: int) -> bool:
        """:meth:`within`, of the sets from ``first`` up to ``stop``. (The values read one by
        one, not sliced: this is on the path of every reading.)"""
        values = self._values
        if values.typecode != "h":
            return False
        none, hr_max, temp_max = _NONE_TENTHS, normal.heart_rate_max, normal.temperature_max
        sbp_min, sbp_max, spo2_min = normal.systolic_min, normal.systolic_max, normal.spo2_min
        for at in range(4 * first, 4 * stop, 4):
            sbp, spo2 = values[at + 1], values[at + 3]
            if not (
                values[at] <= hr_max
                and (sbp_min <= sbp <= sbp_max or sbp == none)
                and values[at + 2] <= temp_max
                and (spo2 >= spo2_min or spo2 == none)
            ):
                return False
        return True

    def _judged(self, index: int, keep: Judge) -> bool:
        return keep(self._times[index] + self._time_base, *self._values_at(index))

    def _encoded(
        self, hr: float | None, sbp: float | None, temp: float | None, spo2: float | None
    ) -> tuple[float, ...]:
        """A set's four values as the column keeps them: in tenths, unless one is not a whole
        number of tenths (then the column is widened to doubles first). (Written out value by
        value: on the path of every reading.)"""
        if self._values.typecode == "h":
            none, top = _NONE_TENTHS, _TENTHS_MAX
            try:
                t_hr = none if hr is None else round(hr * 10)
                t_sbp = none if sbp is None else round(sbp * 10)
                t_temp = none if temp is None else round(temp * 10)
                t_spo2 = none if spo2 is None else round(spo2 * 10)
            except (OverflowError, ValueError):  # (infinite or NaN: not in tenths)
                pass
            else:
                if (
                    (hr is None or (t_hr / 10 == hr and -top <= t_hr <= top))
                    and (sbp is None or (t_sbp / 10 == sbp and -top <= t_sbp <= top))
                    and (temp is None or (t_temp / 10 == temp and -top <= t_temp <= top))
                    and (spo2 is None or (t_spo2 / 10 == spo2 and -top <= t_spo2 <= top))
                ):
                    return (t_hr, t_sbp, t_temp, t_spo2)
            self._widen()
        return (
            _NAN if hr is None else hr,
            _NAN if sbp is None else sbp,
            _NAN if temp is None else temp,
            _NAN if spo2 is None else spo2,
        )

    def _widen(self) -> None:
        """The values as doubles from now on (a value came that is not a whole number of
        tenths)."""
        none = _NONE_TENTHS
        self._values = array("d", [_NAN if v == none else v / 10 for v in self._values])

    def _position(self, time_us: int, event_id: str) -> int:
        """Where a set of this time and id sorts (before one of the same time and id)."""
        times, offset = self._times, time_us - self._time_base
        index = bisect_left(times, offset)
        while index < len(times) and times[index] == offset and self._id(index) < event_id:
            index += 1
        return index

    def _absolute_times(self) -> list[int]:
        base = self._time_base
        return [offset + base for offset in self._times]

    def _fit(self, time_us: int) -> int:
        """``time_us`` as the column keeps it, the column first counted from a new base (the
        oldest set's or this one's) or widened to 64 bits when it is out of the column's range
        (at 1 Hz, every ~71 minutes: 300 offsets moved)."""
        times, offset = self._times, time_us - self._time_base
        if not times:  # (none kept: counted from this one, in 32 bits again)
            self._times, self._time_base = array("I"), time_us
            return 0
        if times.typecode == "q" or 0 <= offset <= _OFFSET_MAX:
            return offset
        absolute = self._absolute_times()
        oldest, newest = min(absolute[0], time_us), max(absolute[-1], time_us)
        if newest - oldest <= _OFFSET_MAX:
            self._times = array("I", [t - oldest for t in absolute])
            self._time_base = oldest
        else:
            self._times, self._time_base = array("q", absolute), 0
        return time_us - self._time_base

    def oldest_time(self) -> int:
        """The oldest set's event time (microseconds since the epoch)."""
        return self._times[0] + self._time_base

    def newest_time(self) -> int | None:
        """The newest set's event time (microseconds since the epoch); None when none is kept."""
        return self._times[-1] + self._time_base if self._times else None

    def holds(self, event_time: datetime, event_id: str) -> bool:
        """Whether a set of this event time and id is kept."""
        times, offset = self._times, micros(event_time) - self._time_base
        if not times or offset > times[-1]:
            return False  # (newer than every set kept: the usual reading)
        index = self._position(offset + self._time_base, event_id)
        return index < len(times) and times[index] == offset and self._id(index) == event_id

    def insert(self, reading: Reading) -> int:
        """Add ``reading`` in order (at the end, for a set newer than every one kept); where it
        went."""
        time_us = micros(reading.event_time)
        _, event_id, hr, sbp, temp, spo2 = reading
        values = self._encoded(hr, sbp, temp, spo2)
        encoded = self._stored_id(event_id)
        ends_max = _ENDS_MAX_16 if self._id_ends.typecode == "H" else _ENDS_MAX
        if self._origin + len(self._id_bytes) + len(encoded) > ends_max:
            # (offsets from 0 again: after 64 kB of ids, or ~4 GB in 32 bits)
            self._rewrite_ids(self._id_prefix, room=len(encoded))
        offset = self._fit(time_us)
        times, ends = self._times, self._id_ends
        if not times or offset > times[-1]:
            times.append(offset)
            self._values.extend(values)
            self._id_bytes += encoded
            ends.append(self._origin + len(self._id_bytes))
            return len(times) - 1
        index = self._position(time_us, event_id)
        times.insert(index, offset)
        self._values[4 * index : 4 * index] = array(self._values.typecode, values)
        start = self._start(index)
        self._id_bytes[start - self._origin : start - self._origin] = encoded
        ends.insert(index, start + len(encoded))
        for later in range(index + 1, len(ends)):  # (a late set: rare, and near the end)
            ends[later] += len(encoded)
        return index

    def drop_oldest(
        self, count: int, keep: Judge | None = None, normal: NormalTenths | None = None
    ) -> list[Reading]:
        """Remove the oldest ``count`` sets; return them, oldest first: all of them, or only
        those ``keep`` accepts, judged on the columns (a ``Reading`` is made only of a set
        returned; the state keeps only abnormal ones, for R2). A set whose values in tenths
        are all within ``normal`` is not returned and ``keep`` is not asked: the caller's
        word that ``keep`` would refuse it (nearly every set; asking costs ~2 us a set)."""
        count = min(count, len(self._times))
        if count <= 0:
            return []
        if keep is None:
            fallen = [self._reading(index) for index in range(count)]
        elif normal is None:
            fallen = [self._reading(i) for i in range(count) if self._judged(i, keep)]
        else:
            fallen = [
                self._reading(i)
                for i in range(count)
                if not self._within(normal, i, i + 1) and self._judged(i, keep)
            ]
        self.discard_oldest(count)
        return fallen

    def discard_oldest(self, count: int) -> None:
        """Remove the oldest ``count`` sets (``0 < count <= len(self)``), returning nothing."""
        cut = self._id_ends[count - 1]
        del self._id_bytes[: cut - self._origin]
        self._origin = cut
        del self._times[:count], self._id_ends[:count], self._values[: 4 * count]

    def between(self, start: datetime, end: datetime) -> list[Reading]:
        """The sets from ``start`` to ``end`` (event time, both included), in order."""
        base = self._time_base
        first = bisect_left(self._times, micros(start) - base)
        last = bisect_right(self._times, micros(end) - base)
        return [self._reading(i) for i in range(first, last)]
