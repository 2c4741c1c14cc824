"""MLLP framing: frames however the bytes are split, garbage between them, a new start block
inside an open frame, oversized frames skipped without being kept, a frame cut off."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.gateway.mllp_framing import (
    END_BLOCK,
    START_BLOCK,
    Frame,
    FrameDecoder,
    Garbage,
    Oversized,
    Truncated,
)

MESSAGES = st.lists(
    st.binary(min_size=1, max_size=300).map(
        lambda b: b.replace(START_BLOCK, b"").replace(b"\x1c", b"") or b"x"
    ),
    min_size=1,
    max_size=8,
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(MESSAGES, st.lists(st.integers(min_value=0), max_size=20))
def test_frames_come_out_whole_however_the_bytes_are_split(
    messages: list[bytes], cuts: list[int]
) -> None:
    stream = b"\r\n".join(START_BLOCK + m + END_BLOCK for m in messages)
    decoder = FrameDecoder(max_message_bytes=1000)
    out = [item for piece in _split(stream, cuts) for item in decoder.feed(piece)]
    assert out == [Frame(m) for m in messages]
    assert decoder.close() == []


@given(st.lists(st.integers(min_value=0), max_size=10))
def test_an_oversized_frame_is_skipped_and_the_next_one_read(cuts: list[int]) -> None:
    big = b"MSH|^~\\&|BIG" + b"x" * 5000
    stream = START_BLOCK + big + END_BLOCK + START_BLOCK + b"MSH|small" + END_BLOCK
    decoder = FrameDecoder(max_message_bytes=1024)
    out = [item for piece in _split(stream, cuts) for item in decoder.feed(piece)]
    assert len(out) == 2
    oversized, small = out
    assert isinstance(oversized, Oversized)
    assert oversized.size == len(big)
    assert oversized.head.startswith(b"MSH|^~\\&|BIG")
    assert small == Frame(b"MSH|small")
    assert len(decoder._buffer) < 1024, "an oversized frame is not kept"


def test_garbage_before_a_frame_is_reported_and_line_ends_are_not() -> None:
    decoder = FrameDecoder(1000)
    assert decoder.feed(b"hello" + START_BLOCK + b"MSH|a" + END_BLOCK) == [
        Garbage(5),
        Frame(b"MSH|a"),
    ]
    assert decoder.feed(b"\r\n" + START_BLOCK + b"MSH|b" + END_BLOCK + b"\n") == [Frame(b"MSH|b")]


def test_a_start_block_inside_a_frame_abandons_it() -> None:
    decoder = FrameDecoder(1000)
    out = decoder.feed(START_BLOCK + b"MSH|half" + START_BLOCK + b"MSH|whole" + END_BLOCK)
    assert out == [Garbage(9), Frame(b"MSH|whole")]


def test_the_end_of_a_connection_inside_a_frame_is_a_truncation() -> None:
    decoder = FrameDecoder(1000)
    assert decoder.feed(START_BLOCK + b"MSH|cut") == []
    assert decoder.in_frame
    assert decoder.close() == [Truncated(7)]
    assert decoder.close() == []
