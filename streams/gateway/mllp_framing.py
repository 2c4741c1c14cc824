"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol, release 1): each message is sent as
``0x0B <message> 0x1C 0x0D``. A pure, incremental decoder: feed it the bytes a connection
receives in whatever pieces they come, get back frames and framing problems.

- Bytes before a start block are not a message: discarded and reported (:class:`Garbage`, once
  per piece received); line ends between frames, which some senders add, are ignored.
- A start block inside an open frame means the sender gave up on that frame and began again:
  the unfinished frame is garbage, the new one is read.
- A frame larger than ``max_message_bytes`` is read to its end block without being kept
  (:class:`Oversized`, with its first bytes, so it can still be answered).
- At the connection's end, :meth:`FrameDecoder.close` reports an open frame as
  :class:`Truncated`.
"""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
#: First bytes of an oversized frame kept to read its MSH (for the ACK's control id).
OVERSIZED_HEAD_BYTES = 4096
_BETWEEN_FRAMES = frozenset(b"\r\n\t ")


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes discarded outside a frame (or an unfinished frame replaced by a new one)."""

    size: int


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame larger than the limit: its first bytes and its size."""

    head: bytes
    size: int


@dataclass(frozen=True, slots=True)
class Truncated:
    """The connection ended inside a frame: how many bytes of it had arrived."""

    size: int


Decoded = Frame | Garbage | Oversized | Truncated


class FrameDecoder:
    """Turns a connection's bytes into frames; one decoder per connection."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._in_frame = False
        #: Oversized frame being skipped: its head and how many bytes it had so far.
        self._skipping: tuple[bytes, int] | None = None
        self._garbage = 0

    @property
    def in_frame(self) -> bool:
        """A frame has started and not ended."""
        return self._in_frame

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        self._buffer += data
        while self._buffer:
            if not self._in_frame:
                if not self._find_start(out):
                    break
            elif not self._read_frame(out):
                break
        self._flush_garbage(out)
        return out

    def close(self) -> list[Decoded]:
        """At the connection's end: garbage not yet reported, and the frame it cut off."""
        out: list[Decoded] = []
        self._flush_garbage(out)
        if self._in_frame:
            size = (self._skipping[1] if self._skipping else 0) + len(self._buffer)
            out.append(Truncated(size))
        self._buffer.clear()
        self._in_frame, self._skipping = False, None
        return out

    def _flush_garbage(self, out: list[Decoded]) -> None:
        if self._garbage:
            out.append(Garbage(self._garbage))
            self._garbage = 0

    def _find_start(self, out: list[Decoded]) -> bool:
        start = self._buffer.find(START_BLOCK)
        skipped = self._buffer if start < 0 else self._buffer[:start]
        self._garbage += sum(1 for byte in skipped if byte not in _BETWEEN_FRAMES)
        if start < 0:
            self._buffer.clear()
            return False
        self._flush_garbage(out)
        del self._buffer[: start + 1]
        self._in_frame = True
        return True

    def _read_frame(self, out: list[Decoded]) -> bool:
        end = self._buffer.find(END_BLOCK)
        restart = self._buffer.find(START_BLOCK)
        if restart >= 0 and (end < 0 or restart < end):
            # The sender began a new frame before ending this one.
            out.append(Garbage(restart + (self._skipping[1] if self._skipping else 0) + 1))
            self._skipping = None
            del self._buffer[: restart + 1]
            return True
        # Without its end block yet, a trailing 0x1C may be the first half of it: not the body's.
        partial_end = 1 if end < 0 and self._buffer.endswith(END_BLOCK[:1]) else 0
        body = self._buffer[: len(self._buffer) - partial_end] if end < 0 else self._buffer[:end]
        seen = (self._skipping[1] if self._skipping else 0) + len(body)
        if seen > self.max_message_bytes:
            head = self._skipping[0] if self._skipping else bytes(body[:OVERSIZED_HEAD_BYTES])
            self._skipping = (head, seen)
        if end < 0:
            if self._skipping is not None:
                # Keep nothing of an oversized frame but a possible split end block.
                self._skipping = (self._skipping[0], seen)
                del self._buffer[: len(self._buffer) - partial_end]
            return False
        if self._skipping is not None:
            out.append(Oversized(self._skipping[0], seen))
            self._skipping = None
        else:
            out.append(Frame(bytes(body)))
        del self._buffer[: end + len(END_BLOCK)]
        self._in_frame = False
        return True
