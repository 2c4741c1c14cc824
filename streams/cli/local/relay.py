"""A TCP relay in front of the embedded broker: it owns the public port, so the broker can be
restarted on that port at once, and it can cut the broker off (:meth:`TcpRelay.pause`) and let
it back (:meth:`TcpRelay.resume`) for fault tests and the chaos harness.

Tansu 0.6.0 does not set ``SO_REUSEADDR``: when it stops, the connections it closed first sit in
``TIME_WAIT`` on its port, and a new Tansu asked for the same port fails with ``AddrInUse`` for
30-60 s (measured). The relay binds the public port with ``SO_REUSEADDR`` (asyncio's default on
Unix) and Tansu listens on a free internal port, advertising the relay's address, as the TLS
tests do with stunnel (``tests/support/tls.py``).

The relay runs its own event loop in a daemon thread, so it serves a synchronous caller (the
``pumpstream broker`` command) and an asynchronous one (a test, the chaos harness) alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from streams.exceptions import BrokerPortInUse

T = TypeVar("T")

#: Bytes read from one side before writing them to the other.
CHUNK_BYTES = 256 * 1024
#: Longest a call into the relay's thread may take (binding, closing connections).
CALL_TIMEOUT_S = 10.0


class TcpRelay:
    """Accepts TCP connections on ``host:port`` (0: a free port) and pipes each to
    ``target_host:target_port``.

    :meth:`start` binds (raising :class:`BrokerPortInUse` when the port is taken); :meth:`pause`
    makes an outage: by default it closes the listener and every open connection, so clients see
    "connection refused" as when a broker is down; with ``blackhole=True`` it keeps accepting and
    holding connections but forwards nothing either way and never answers, as a network that
    drops packets does (requests then end only by the clients' own timeouts). :meth:`resume`
    ends the outage (cutting the held connections, whose byte streams are broken), :meth:`stop`
    ends it all."""

    def __init__(self, host: str, port: int, target_host: str, target_port: int) -> None:
        self.host = host
        self.port = port
        self.target_host = target_host
        self.target_port = target_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._blackhole = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        #: Connections accepted since start (tests check traffic really went through).
        self.accepted = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def paused(self) -> bool:
        return self._server is None or self._blackhole

    def start(self) -> TcpRelay:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="broker-relay", daemon=True)
        self._thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self.stop()
            raise
        return self

    def pause(self, *, blackhole: bool = False) -> None:
        """Cut every connection; refuse new ones, or (``blackhole``) hold them unanswered."""
        self._call(self._cut(listen=blackhole, blackhole=blackhole))

    def resume(self) -> None:
        """Relay again on the same port."""
        self._call(self._cut(listen=True))

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                self._call(self._cut(listen=False))
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CALL_TIMEOUT_S)
        loop.close()
        self._loop = self._thread = None

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "start the relay first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT_S)

    async def _listen(self) -> None:
        try:
            # reuse_address: a port whose last connections are in TIME_WAIT can be bound again.
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, reuse_address=True
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerPortInUse(
                    f"port {self.port} on {self.host} is already in use; "
                    "choose another with --port or omit it for a free one"
                ) from None
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cut(self, *, listen: bool, blackhole: bool = False) -> None:
        """Close every connection; keep (or start) listening when ``listen``, else close; new
        connections are swallowed from now on when ``blackhole``."""
        self._blackhole = blackhole
        if not listen and self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if listen and self._server is None:
            await self._listen()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            if self._blackhole:
                while await reader.read(CHUNK_BYTES):
                    pass  # swallowed: no byte reaches the broker, no answer comes back
                return
            await self._relay(reader, writer)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # cancelled by _cut: an outage or the relay's stop (asyncio logs it otherwise)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        self._writers.add(up_writer)
        pipes = {
            asyncio.ensure_future(_pipe(reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, writer)),
        }
        try:
            # When one side closes, close the other: a half-open Kafka connection is useless.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            self._writers.discard(up_writer)
            up_writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
