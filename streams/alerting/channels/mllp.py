"""MLLP (HL7 minimal lower layer protocol): 0x0B message 0x1C 0x0D over TCP."""

from __future__ import annotations

import asyncio
import contextlib

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
#: An HL7 message larger than this is not an ACK we expect: stop reading.
MAX_FRAME_BYTES = 1 << 20


def frame(message: str) -> bytes:
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


async def read_frame(reader: asyncio.StreamReader) -> str:
    """Read one framed message; bytes before the start block are discarded (MLLP release 2)."""
    data = await reader.readuntil(END_BLOCK)
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError("MLLP frame too large")
    start = data.rfind(START_BLOCK)
    if start < 0:
        raise ValueError("MLLP frame without a start block")
    return data[start + 1 : -len(END_BLOCK)].decode("utf-8")


async def exchange(host: str, port: int, message: str, timeout_s: float) -> str:
    """Send one message and return the peer's answer (the HL7 ACK), within ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(frame(message))
            await writer.drain()
            return await read_frame(reader)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
