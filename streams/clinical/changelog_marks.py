"""What the changelog holds of one patient's state and what it still lacks: the bookkeeping
``state_changelog.py`` keeps beside each :class:`~streams.clinical.state.PatientState` (in
memory only, never written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.clinical.vitals_assessment import Reading


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
    #: The deltas on the changelog since the base, oldest first: (checkpoint number, the newest
    #: set it holds, None when it holds none).
    live_deltas: list[tuple[int, Reading | None]] = field(default_factory=list)
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
