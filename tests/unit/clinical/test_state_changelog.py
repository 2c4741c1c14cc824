"""The changelog's delta records: a format pinned by a recorded value (the records a worker
wrote must stay readable), and one not known refused with a clear error."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

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
