"""A patient's state on the changelog: a base, a core and deltas.

Writing the whole state at every commit cost ~22 kB per patient once 300 vital-signs sets are
kept: at 1 Hz and a commit every 2.8 s, ~7,900 bytes per reading (docs/benchmarks.md). Most of
the state does not change between two commits; only the new sets and three scalars do. So a
checkpoint writes, per dirty patient, under three kinds of key of the state table's changelog:

- ``ref``, the **base**: the whole state, as before (``PatientState.to_table_value``: a value
  written by an older pumpstream is a base). Written on a new patient's first checkpoint and
  after a failed write; and for a patient read back from the changelog, on a checkpoint when
  the worker's budget of bases per commit allows (consolidating its records, while a
  worker's first commits after recovery do not write every patient's whole state at once);
- ``ref/c``, the **core**: the state without its kept sets and scalars, written only when it
  changed (a pump event, a report, an episode, an abnormal set kept for R2);
- ``ref/N``, a **delta**: the sets added since the last checkpoint and the scalars
  (:data:`SCALARS`), N the patient's checkpoint number. A delta is removed (a tombstone) once
  every set it holds fell off the kept ones and a newer delta exists, so a compacted changelog
  keeps exactly what the state holds.

Every record carries the checkpoint number that wrote it (``changelog_seq``), so a record older
than the base is ignored: what a failed or interrupted write left behind never overrides a newer
base. Recovery (:func:`assemble`) starts from the base, takes a newer core's fields, adds every
newer delta's sets (the newest ``VITALS_KEPT`` of them are exactly those kept: sets only ever
fall off the oldest end) and the newest delta's scalars.

A patient ref never contains ``/`` (``schemas.base.PatientRef``), so the keys cannot collide.
"""

from __future__ import annotations

import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from streams.clinical.changelog_marks import ChangelogMarks, LiveDeltas
from streams.clinical.kept_readings import KeptReadings
from streams.clinical.state import ADDED_TABLE_FIELDS, VITALS_KEPT, PatientState
from streams.clinical.vitals_assessment import Reading

SEPARATOR = "/"
CORE = "c"
#: The fields every vital-signs set may change: written with each delta, not in the core.
SCALARS = ("watermark", "last_vitals_arrival_epoch_s", "last_arrival_epoch_s")
#: What the core leaves out: the sets (the deltas' and the base's), the scalars, the number.
_NOT_IN_CORE = {"readings", *SCALARS, "changelog_seq"}


class StateDelta(BaseModel):
    """The value of a delta key: one checkpoint's new sets and the scalars after it."""

    model_config = ConfigDict(frozen=True)

    seq: int
    watermark: datetime | None = None
    last_vitals_arrival_epoch_s: float | None = None
    last_arrival_epoch_s: float | None = None
    readings: list[Reading] = []


class StateCore(BaseModel):
    """The value of a core key: the state without its sets and scalars, and its number."""

    seq: int
    core: PatientState


#: A delta's value: this byte, then its JSON deflated (raw, a 1 kB window) with
#: :data:`DELTA_DICTIONARY`. A delta holds a few sets (~3 at 1 Hz and a commit every 2.8 s): most
#: of its JSON is field names, numbers and the times' common prefix, which the dictionary
#: holds; deflated, a delta of 3 sets takes ~90 bytes instead of ~320 (docs/benchmarks.md).
DELTA_FORMAT = 1
#: Never change it: the records written need it to be read. Another dictionary needs another
#: ``DELTA_FORMAT``.
DELTA_DICTIONARY = (
    b'{"seq":1,"watermark":"2026-01-01T00:00:00Z","last_vitals_arrival_epoch_s":1700000000.0,'
    b'"last_arrival_epoch_s":1700000000.0,"readings":[["2026-01-01T00:00:00.000000Z","",'
    b"80.0,120.0,36.8,98.0]]}"
)
_WINDOW_BITS = -10


def encode_delta(delta: StateDelta) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, _WINDOW_BITS, 1, zdict=DELTA_DICTIONARY)
    body = deflate.compress(delta.model_dump_json().encode()) + deflate.flush()
    return bytes([DELTA_FORMAT]) + body


def decode_delta(value: bytes) -> StateDelta:
    if not value or value[0] != DELTA_FORMAT:
        raise ValueError(
            f"a state delta of an unknown format ({value[:1]!r}): written by a newer pumpstream?"
        )
    inflate = zlib.decompressobj(_WINDOW_BITS, zdict=DELTA_DICTIONARY)
    return StateDelta.model_validate_json(inflate.decompress(value[1:]) + inflate.flush())


def core_key(patient_ref: str) -> str:
    return f"{patient_ref}{SEPARATOR}{CORE}"


def delta_key(patient_ref: str, seq: int) -> str:
    return f"{patient_ref}{SEPARATOR}{seq}"


def kind_of(key: str) -> str:
    """A record's kind by its key: base, core or delta."""
    if SEPARATOR not in key:
        return "base"
    return "core" if key.endswith(SEPARATOR + CORE) else "delta"


def is_part_key(key: object) -> bool:
    """Whether a table key is a core's or a delta's (not a patient's own)."""
    return isinstance(key, str) and SEPARATOR in key


@dataclass(slots=True)
class Checkpoint:
    """What one checkpoint writes for one patient: the records, then the tombstones (sent only
    once the records are delivered: a delta is removed after what replaces it is written)."""

    records: list[tuple[str, bytes]] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    #: Whether the records are a base.
    base: bool = False


def encode_checkpoint(state: PatientState, *, rebase: bool = True) -> Checkpoint:
    """The records that bring the changelog up to ``state``, and the marks updated as if they
    were written (a failed write sets ``needs_base``: the next checkpoint writes a base).
    ``rebase``: a recovered state may be written as a base."""
    marks = state.changelog_marks
    ref = state.patient_ref
    out = Checkpoint()
    state.changelog_seq += 1
    seq = state.changelog_seq
    scalars = tuple(getattr(state, name) for name in SCALARS)
    if marks.needs_base or (marks.recovered and rebase):
        out.base = True
        out.records.append((ref, state.to_table_value()))
        out.tombstones += [delta_key(ref, s) for s in marks.live_deltas.seqs]
        if marks.core_on_log:
            out.tombstones.append(core_key(ref))
        marks.needs_base = marks.recovered = marks.core_on_log = False
        marks.written()
        marks.live_deltas = LiveDeltas()
        marks.core_hash = hash(_core_json(state))
        marks.written_scalars = scalars
        return out
    core = _core_json(state)
    if hash(core) != marks.core_hash:
        out.records.append((core_key(ref), b'{"seq":%d,"core":%s}' % (seq, core)))
        marks.core_hash = hash(core)
        marks.core_on_log = True
    new = marks.unwritten(state.readings)
    if new or scalars != marks.written_scalars:
        # (Constructed, not validated: the state's own values.)
        delta = StateDelta.model_construct(
            seq=seq, readings=new, **dict(zip(SCALARS, scalars, strict=True))
        )
        out.records.append((delta_key(ref, seq), encode_delta(delta)))
        live = marks.live_deltas
        if live and live.top(-1) is None:  # the newest held only scalars, which this replaces
            out.tombstones.append(delta_key(ref, live.pop()))
        live.append(seq, max(new) if new else None)
        marks.written()
        marks.written_scalars = scalars
    out.tombstones += _dead_deltas(state, marks)
    return out


def _dead_deltas(state: PatientState, marks: ChangelogMarks) -> list[str]:
    """The deltas no longer needed, taken off ``marks``: all but the newest (its scalars are
    the state's) that hold no set, or only sets that fell off the kept ones (sets fall off the
    oldest end: one older than the oldest kept is gone for good). Looked for from the oldest
    until one still needed, and among all of them only when there are more than the kept sets
    could need (a late set can hold dead ones back): a checkpoint costs the same however many
    deltas a patient has."""
    readings = state.readings
    oldest_kept = readings.oldest_time() if len(readings) >= VITALS_KEPT else None
    live = marks.live_deltas

    def needed(top: int | None) -> bool:
        return top is not None and (oldest_kept is None or top >= oldest_kept)

    first = 0
    while first < len(live) - 1 and not needed(live.top(first)):
        first += 1
    gone = live.take_oldest(first)
    if len(live) > VITALS_KEPT + 1:
        gone += live.take_unless(needed)
    return [delta_key(state.patient_ref, seq) for seq in gone]


def _core_json(state: PatientState) -> bytes:
    empty = {name for name in ADDED_TABLE_FIELDS if not getattr(state, name)}
    return state.model_dump_json(exclude=_NOT_IN_CORE | empty).encode()


@dataclass(slots=True)
class Recovered:
    """A patient's records as recovery left them in the table, assembled on first use."""

    base: bytes | None
    core: bytes | None = None
    deltas: list[bytes] = field(default_factory=list)


def regroup(data: MutableMapping[Any, Any]) -> int:
    """Gather the cores and deltas recovery put in ``data`` under their patient's key (a
    :class:`Recovered`); the number of patients gathered."""
    parts: dict[str, Recovered] = {}
    for key in [k for k in data if is_part_key(k)]:
        value = data.pop(key)
        if value is None:
            continue
        ref, _, part = key.rpartition(SEPARATOR)
        recovered = parts.get(ref)
        if recovered is None:
            own = data.get(ref)
            # A patient's own value is bytes when recovery read its base; an object in memory
            # (or one not yet assembled) is superseded by what recovery read.
            recovered = parts[ref] = Recovered(own if isinstance(own, bytes) else None)
        if part == CORE:
            recovered.core = value
        else:
            recovered.deltas.append(value)
    data.update(parts)
    return len(parts)


def assemble(patient_ref: str, recovered: Recovered) -> PatientState:
    """The state the records hold (see the module's docstring), with the marks that let its
    checkpoints go on with deltas until one writes a base."""
    state = PatientState.from_table_value(patient_ref, recovered.base)
    floor = state.changelog_seq
    if recovered.core is not None:
        core = StateCore.model_validate_json(recovered.core)
        if core.seq > floor:
            update = {
                name: getattr(core.core, name)
                for name in PatientState.model_fields
                if name not in _NOT_IN_CORE and name != "vitals"
            }
            update["changelog_seq"] = core.seq
            state = state.model_copy(update=update)
    every = sorted(map(decode_delta, recovered.deltas), key=lambda d: d.seq)
    deltas = [d for d in every if d.seq > floor]
    if deltas:
        by_key = {r[:2]: r for r in state.readings}
        for delta in deltas:
            for reading in delta.readings:
                by_key.setdefault(reading[:2], reading)
        state.readings = KeptReadings(sorted(by_key.values())[-VITALS_KEPT:])
        newest = deltas[-1]
        for name in SCALARS:
            setattr(state, name, getattr(newest, name))
        state.changelog_seq = max(state.changelog_seq, newest.seq)
    marks = state.changelog_marks
    marks.needs_base = False
    marks.recovered = True
    # Those older than the base go with the next checkpoint (as held no sets: not the newest).
    marks.live_deltas = LiveDeltas(
        [
            *((d.seq, None) for d in every if d.seq <= floor),
            *((d.seq, max(d.readings) if d.readings else None) for d in deltas),
        ]
    )
    marks.core_on_log = recovered.core is not None
    # What the records hold of the core (the base's, or a newer core's): written again only
    # once it changes.
    marks.core_hash = hash(_core_json(state))
    marks.written_scalars = tuple(getattr(state, name) for name in SCALARS)
    return state
