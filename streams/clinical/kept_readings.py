"""A patient's newest vital-signs sets, kept in columns.

A patient at 1 Hz keeps its newest ``VITALS_KEPT`` (300) sets. As a list of :class:`Reading`
tuples each set was four objects: the tuple (96 B), its event time (a ``datetime``, 48 B), its
id and the list's slot, ~210 B a set and 63 kB a patient, most of a patient's state; and each
tuple was one more object for every full collection of the garbage collector to walk. Here the
event times are microseconds in an ``array('q')``, the four values in an ``array('d')`` (NaN for
a value not measured or not valid), and the ids UTF-8 in one ``bytearray`` with where each
ends: ~75 B a set with an id of 16 characters (docs/benchmarks.md, "Memory").

:class:`KeptReadings` is a sequence of :class:`Reading` (each made when it is read, ~2 us),
sorted by event time and id as the list was; what the telemetry path does per reading (is it
held, insert it, drop the oldest) works on the columns without making one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import overload

from streams.clinical.vitals_assessment import Reading

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAN = float("nan")
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
    id (the state never adds a duplicate). Values are never NaN (a valid value is within its
    bounds: ``schemas.events.VitalSigns``), so NaN stands for None."""

    __slots__ = ("_id_bytes", "_id_ends", "_origin", "_times", "_values")

    def __init__(self, readings: Iterable[Reading] = ()) -> None:
        self._times = array("q")
        self._values = array("d")
        #: The ids, UTF-8, one after the other; where each ends, counted from where the first
        #: set ever kept began (``_origin`` is where ``_id_bytes`` begins on that count), so that
        #: dropping the oldest moves no offset.
        self._id_bytes = bytearray()
        self._id_ends = array("q")
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
            return (
                self._times == other._times
                and self._values.tobytes() == other._values.tobytes()  # (NaN equals NaN)
                and self._ids() == other._ids()
            )
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (mutable)

    def __repr__(self) -> str:
        return f"KeptReadings({list(self)!r})"

    def copy(self) -> KeptReadings:
        copy = KeptReadings()
        copy._times = array("q", self._times)
        copy._values = array("d", self._values)
        copy._id_bytes = bytearray(self._id_bytes)
        copy._id_ends = array("q", self._id_ends)
        copy._origin = self._origin
        return copy

    def _start(self, index: int) -> int:
        """Where the id of the set at ``index`` begins (on the count of ``_id_ends``)."""
        return self._id_ends[index - 1] if index else self._origin

    def _id(self, index: int) -> str:
        origin = self._origin
        return self._id_bytes[self._start(index) - origin : self._id_ends[index] - origin].decode()

    def _ids(self) -> list[str]:
        return [self._id(index) for index in range(len(self._times))]

    def _reading(self, index: int) -> Reading:
        values, at = self._values, 4 * index
        hr, sbp, temp, spo2 = values[at], values[at + 1], values[at + 2], values[at + 3]
        return _READING(
            (
                _EPOCH + timedelta(microseconds=self._times[index]),
                self._id(index),
                None if hr != hr else hr,
                None if sbp != sbp else sbp,
                None if temp != temp else temp,
                None if spo2 != spo2 else spo2,
            )
        )

    def _judged(self, index: int, keep: Judge) -> bool:
        values, at = self._values, 4 * index
        hr, sbp, temp, spo2 = values[at], values[at + 1], values[at + 2], values[at + 3]
        return keep(
            self._times[index],
            None if hr != hr else hr,
            None if sbp != sbp else sbp,
            None if temp != temp else temp,
            None if spo2 != spo2 else spo2,
        )

    def _position(self, time_us: int, event_id: str) -> int:
        """Where a set of this time and id sorts (before one of the same time and id)."""
        times = self._times
        index = bisect_left(times, time_us)
        while index < len(times) and times[index] == time_us and self._id(index) < event_id:
            index += 1
        return index

    def oldest_time(self) -> int:
        """The oldest set's event time (microseconds since the epoch)."""
        return self._times[0]

    def holds(self, event_time: datetime, event_id: str) -> bool:
        """Whether a set of this event time and id is kept."""
        time_us = micros(event_time)
        if not self._times or time_us > self._times[-1]:
            return False  # (newer than every set kept: the usual reading)
        index = self._position(time_us, event_id)
        return (
            index < len(self._times)
            and self._times[index] == time_us
            and self._id(index) == event_id
        )

    def insert(self, reading: Reading) -> None:
        """Add ``reading`` in order (at the end, for a set newer than every one kept)."""
        time_us = micros(reading.event_time)
        _, event_id, hr, sbp, temp, spo2 = reading
        values = (
            _NAN if hr is None else hr,
            _NAN if sbp is None else sbp,
            _NAN if temp is None else temp,
            _NAN if spo2 is None else spo2,
        )
        encoded = event_id.encode()
        times, ends = self._times, self._id_ends
        if not times or time_us > times[-1]:
            times.append(time_us)
            self._values.extend(values)
            self._id_bytes += encoded
            ends.append(self._origin + len(self._id_bytes))
            return
        index = self._position(time_us, event_id)
        times.insert(index, time_us)
        self._values[4 * index : 4 * index] = array("d", values)
        start = self._start(index)
        self._id_bytes[start - self._origin : start - self._origin] = encoded
        ends.insert(index, start + len(encoded))
        for later in range(index + 1, len(ends)):  # (a late set: rare, and near the end)
            ends[later] += len(encoded)

    def drop_oldest(self, count: int, keep: Judge | None = None) -> list[Reading]:
        """Remove the oldest ``count`` sets; return them, oldest first: all of them, or only
        those ``keep`` accepts, judged on the columns (a ``Reading`` is made only of a set
        returned; the state keeps only abnormal ones, for R2)."""
        count = min(count, len(self._times))
        if count <= 0:
            return []
        fallen = [
            self._reading(index)
            for index in range(count)
            if keep is None or self._judged(index, keep)
        ]
        cut = self._id_ends[count - 1]
        del self._id_bytes[: cut - self._origin]
        self._origin = cut
        del self._times[:count], self._id_ends[:count], self._values[: 4 * count]
        return fallen

    def between(self, start: datetime, end: datetime) -> list[Reading]:
        """The sets from ``start`` to ``end`` (event time, both included), in order."""
        first = bisect_left(self._times, micros(start))
        last = bisect_right(self._times, micros(end))
        return [self._reading(i) for i in range(first, last)]
