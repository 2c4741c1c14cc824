"""What the changelog holds of one patient's state and what it still lacks: the bookkeeping
``state_changelog.py`` keeps beside each :class:`~streams.clinical.state.PatientState` (in
memory only, never written)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.clinical.kept_readings import KeptReadings, micros
from streams.clinical.vitals_assessment import Reading

_NO_SET = -(2**63)


class LiveDeltas:
    """The deltas on the changelog since the base, oldest first: each one's checkpoint number
    and the event time (microseconds since the epoch) of the newest set it holds (None when it
    holds none). Flat arrays rather than a tuple per delta, and the time rather than the set: at
    1 Hz and a commit every 2.8 s a patient has up to ~100 of them, and the sets they held (with
    their event times and ids) outlived the columns that keep the sets (docs/benchmarks.md,
    "Memory"). A delta is dead once its newest set is older than every set kept; by time alone,
    one whose newest set has the oldest kept set's time stays until that time goes (a tie of
    event times between a patient's sets: rare, and only later)."""

    __slots__ = ("seqs", "top_times")

    def __init__(self, entries: Iterable[tuple[int, Reading | None]] = ()) -> None:
        self.seqs = array("q")
        self.top_times = array("q")
        for seq, top in entries:
            self.append(seq, top)

    def __len__(self) -> int:
        return len(self.seqs)

    def append(self, seq: int, top: Reading | None) -> None:
        self.seqs.append(seq)
        self.top_times.append(_NO_SET if top is None else micros(top.event_time))

    def top(self, index: int) -> int | None:
        """The event time of the newest set the delta at ``index`` holds (None: it holds none)."""
        time_us = self.top_times[index]
        return None if time_us == _NO_SET else time_us

    def pop(self) -> int:
        """Take the newest off; its checkpoint number."""
        self.top_times.pop()
        return self.seqs.pop()

    def take_oldest(self, count: int) -> list[int]:
        """Take the ``count`` oldest off; their checkpoint numbers."""
        taken = self.seqs[:count].tolist()
        del self.seqs[:count], self.top_times[:count]
        return taken

    def take_unless(self, needed: Callable[[int | None], bool]) -> list[int]:
        """Take off every one but the newest whose top set is not ``needed``; their numbers."""
        keep = [i == len(self) - 1 or needed(self.top(i)) for i in range(len(self))]
        taken = [seq for seq, kept in zip(self.seqs, keep, strict=True) if not kept]
        self.seqs = array("q", (v for v, kept in zip(self.seqs, keep, strict=True) if kept))
        self.top_times = array("q", (v for v, k in zip(self.top_times, keep, strict=True) if k))
        return taken

    def copy(self) -> LiveDeltas:
        copied = LiveDeltas()
        copied.seqs, copied.top_times = array("q", self.seqs), array("q", self.top_times)
        return copied


@dataclass(slots=True)
class ChangelogMarks:
    #: The next checkpoint writes the whole state (a base): true for a new patient and after a
    #: failed write.
    needs_base: bool = True
    #: Read back from the changelog: a checkpoint writes a base when the worker's budget of
    #: bases per commit allows (consolidating its records), deltas until then.
    recovered: bool = False
    #: How many of the newest sets kept were added since the last checkpoint (the next
    #: delta's, read from the columns then): sets fall off only the oldest end, so those added
    #: after every one written stay the newest. A count, not the sets: a ``Reading`` held from
    #: one checkpoint to the next, ~300 bytes a set in small objects made while the patient's
    #: other small objects were, kept the heap from returning memory (docs/benchmarks.md).
    unwritten_newest: int = 0
    #: Sets added since the last checkpoint older than one written then (late ones: rare).
    unwritten_late: list[Reading] = field(default_factory=list)
    #: The deltas on the changelog since the base, oldest first.
    live_deltas: LiveDeltas = field(default_factory=LiveDeltas)
    #: A hash of the core (the state but its sets and scalars) last written, None if none was.
    core_hash: int | None = None
    #: The scalars (``state_changelog.SCALARS``) last written.
    written_scalars: tuple[Any, ...] | None = None
    #: Whether the changelog may hold a core for this patient (removed with the next base).
    core_on_log: bool = False

    def added(self, reading: Reading, index: int, kept: int) -> None:
        """``reading`` was added to the sets kept at ``index`` (of ``kept`` now)."""
        if index >= kept - 1 - self.unwritten_newest:  # (among or after the unwritten newest)
            self.unwritten_newest += 1  # (more than are kept: every one kept is unwritten)
        else:
            self.unwritten_late.append(reading)

    def unwritten(self, readings: KeptReadings) -> list[Reading]:
        """The sets added since the last checkpoint that are still kept (of ``readings``, the
        state's; a late one that fell off since may be among them), sorted."""
        newest = min(self.unwritten_newest, len(readings))
        added = readings[len(readings) - newest :] if newest else []
        return sorted([*self.unwritten_late, *added]) if self.unwritten_late else added

    def written(self) -> None:
        """The sets added so far are on the changelog."""
        self.unwritten_newest = 0
        self.unwritten_late = []

    def copy(self) -> ChangelogMarks:
        return ChangelogMarks(
            self.needs_base,
            self.recovered,
            self.unwritten_newest,
            self.unwritten_late.copy(),
            self.live_deltas.copy(),
            self.core_hash,
            self.written_scalars,
            self.core_on_log,
        )
