"""An aiohttp application served on loopback for a synchronous hypothesis test: one event loop
and one test server per test, many requests (through aiohttp's test client, or raw bytes on a
socket for what a client library would refuse to send)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer


class ServedApp:
    def __init__(self, loop: asyncio.AbstractEventLoop, client: TestClient) -> None:
        self._loop = loop
        self._client = client

    def request(self, method: str, path: str, **options: Any) -> tuple[int, bytes]:
        """Status and body of one request through the test client."""

        async def send() -> tuple[int, bytes]:
            async with self._client.request(method, path, **options) as response:
                return response.status, await response.read()

        return self._loop.run_until_complete(send())

    def raw(self, request: bytes, *, timeout_s: float = 5.0) -> int | None:
        """Write ``request`` as is and return the status the server answered (None when it
        closed the connection without an answer)."""
        server = self._client.server

        async def send() -> bytes:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            try:
                writer.write(request)
                await writer.drain()
                return await asyncio.wait_for(reader.read(), timeout_s)
            finally:
                writer.close()
                await writer.wait_closed()

        answer = self._loop.run_until_complete(send())
        if not answer:
            return None
        status_line = answer.split(b"\r\n", 1)[0].split()
        return int(status_line[1])


@contextmanager
def served(app: web.Application) -> Iterator[ServedApp]:
    loop = asyncio.new_event_loop()

    async def start() -> TestClient:
        client = TestClient(TestServer(app))
        await client.start_server()
        return client

    client = loop.run_until_complete(start())
    try:
        yield ServedApp(loop, client)
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def raw_request(
    path: str, headers: list[tuple[bytes, bytes]], body: bytes, *, chunked: bool = False
) -> bytes:
    """An HTTP/1.1 POST with ``headers`` written byte for byte, then ``body`` (with its
    Content-Length, or in two chunks)."""
    lines = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: fuzz"]
    lines += [name + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        half = len(body) // 2
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part
        )
        body += b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
