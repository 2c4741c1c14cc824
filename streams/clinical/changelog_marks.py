"""What the changelog holds of one patient's state and what it still lacks: the bookkeeping
``state_changelog.py`` keeps beside each :class:`~streams.clinical.state.PatientState` (in
memory only, never written)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.clinical.vitals_assessment import Reading


class LiveDeltas:
    """The deltas on the changelog since the base, oldest first: each one's checkpoint number
    and the newest set it holds (None when it holds none). Two flat sequences rather than a
    tuple per delta: at 1 Hz and a commit every 2.8 s a patient has up to ~100 of them, and the
    tuples were ~4.5 kB of a patient's 32 kB (docs/benchmarks.md, "Memory (6)")."""

    __slots__ = ("seqs", "tops")

    def __init__(self, entries: Iterable[tuple[int, Reading | None]] = ()) -> None:
        self.seqs = array("q")
        self.tops: list[Reading | None] = []
        for seq, top in entries:
            self.append(seq, top)

    def __len__(self) -> int:
        return len(self.tops)

    def append(self, seq: int, top: Reading | None) -> None:
        self.seqs.append(seq)
        self.tops.append(top)

    def pop(self) -> int:
        """Take the newest off; its checkpoint number."""
        self.tops.pop()
        return self.seqs.pop()

    def take_oldest(self, count: int) -> list[int]:
        """Take the ``count`` oldest off; their checkpoint numbers."""
        taken = self.seqs[:count].tolist()
        del self.seqs[:count], self.tops[:count]
        return taken

    def take_unless(self, needed: Callable[[Reading | None], bool]) -> list[int]:
        """Take off every one but the newest whose top set is not ``needed``; their numbers."""
        kept = LiveDeltas()
        taken: list[int] = []
        last = len(self) - 1
        for index, (seq, top) in enumerate(zip(self.seqs, self.tops, strict=True)):
            if index == last or needed(top):
                kept.append(seq, top)
            else:
                taken.append(seq)
        self.seqs, self.tops = kept.seqs, kept.tops
        return taken

    def copy(self) -> LiveDeltas:
        copied = LiveDeltas()
        copied.seqs, copied.tops = array("q", self.seqs), self.tops.copy()
        return copied


@dataclass(slots=True)
class ChangelogMarks:
    #: The next checkpoint writes the whole state (a base): true for a new patient and after a
    #: failed write.
    needs_base: bool = True
    #: Read back from the changelog: a checkpoint writes a base when the worker's budget of
    #: bases per commit allows (consolidating its records), deltas until then.
    recovered: bool = False
    #: Vital-signs sets added since the last checkpoint (the next delta's).
    unwritten: list[Reading] = field(default_factory=list)
    #: The deltas on the changelog since the base, oldest first.
    live_deltas: LiveDeltas = field(default_factory=LiveDeltas)
    #: A hash of the core (the state but its sets and scalars) last written, None if none was.
    core_hash: int | None = None
    #: The scalars (``state_changelog.SCALARS``) last written.
    written_scalars: tuple[Any, ...] | None = None
    #: Whether the changelog may hold a core for this patient (removed with the next base).
    core_on_log: bool = False

    def copy(self) -> ChangelogMarks:
        return ChangelogMarks(
            self.needs_base,
            self.recovered,
            self.unwritten.copy(),
            self.live_deltas.copy(),
            self.core_hash,
            self.written_scalars,
            self.core_on_log,
        )
