"""The changelog's delta records: a format pinned by a recorded value (the records a worker
wrote must stay readable), and one not known refused with a clear error."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from streams.clinical.changelog_marks import LiveDeltas
from streams.clinical.kept_readings import micros
from streams.clinical.state_changelog import StateDelta, decode_delta, encode_delta
from streams.clinical.vitals_assessment import Reading

DELTA = StateDelta(
    seq=7,
    watermark=datetime(2026, 12, 1, 8, 0, 2, tzinfo=UTC),
    last_vitals_arrival_epoch_s=1796112002.5,
    last_arrival_epoch_s=1796112002.5,
    readings=[
        Reading(datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC), "mon-1", 80.0, 120.0, None, 98.0),
        Reading(datetime(2026, 12, 1, 8, 0, 2, tzinfo=UTC), "mon-2", 81.0, None, 36.8, 97.0),
    ],
)
#: ``encode_delta(DELTA)`` as pumpstream first wrote it (format 1).
RECORDED = (
    "AauGuN8ci/sNjcCGWYANMyLC/ZZmhkALDIz0THG7H1kNpvtRrDQEWZmbn6driOL6vNKcHIjrdaJxORSkywioyxCmHuJl"
    "c7CXAQ=="
)


def test_a_delta_recorded_by_an_earlier_worker_still_reads() -> None:
    assert decode_delta(base64.b64decode(RECORDED)) == DELTA


def test_a_delta_reads_back_as_written() -> None:
    assert decode_delta(encode_delta(DELTA)) == DELTA


def test_a_delta_of_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        decode_delta(b'{"seq":1}')


def _set(second: int) -> Reading:
    return Reading(datetime(2026, 1, 5, 8, 0, second, tzinfo=UTC), f"v{second}", 70.0)


def test_live_deltas_are_taken_off_oldest_first_and_the_newest_stays() -> None:
    live = LiveDeltas([(1, _set(1)), (2, None), (3, _set(3)), (4, _set(2)), (5, None)])
    copied = live.copy()
    assert live.take_oldest(1) == [1]
    # Every one but the newest whose top set is not needed: the sets before second 3.
    third = micros(_set(3).event_time)
    assert live.take_unless(lambda top: top is not None and top >= third) == [2, 4]
    assert (live.seqs.tolist(), live.top(0), live.top(1)) == ([3, 5], third, None)
    assert live.pop() == 5
    assert len(live) == 1
    assert copied.seqs.tolist() == [1, 2, 3, 4, 5], "a copy does not change with the original"
