"""The MLLP listener: an asyncio TCP server, one task per connection, each with its own frame
decoder, so one connection's garbage, oversized frames or stalls never touch another's.

Per connection, messages are answered in the order they arrive (MLLP is request/response; a
sender that pipelines gets its ACKs in order). Limits, from the settings: the largest message
(``PUMPSTREAM_GATEWAY_MAX_MESSAGE_BYTES``: refused with ``AR`` and not read into memory), the
idle time after which a connection is closed, and the connections open at once (more are closed
as soon as they are accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from dataclasses import dataclass

from streams.exceptions import PortInUse, PumpstreamError
from streams.gateway.mllp_framing import (
    END_BLOCK,
    START_BLOCK,
    Decoded,
    Frame,
    FrameDecoder,
    Garbage,
    Oversized,
    Truncated,
)
from streams.gateway.receiver import Hl7Receiver
from streams.metrics.families import GatewayMetrics

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 65_536
#: Pending connections the kernel queues for accept (a burst of senders reconnecting at once).
MAX_BACKLOG = 1024


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    max_message_bytes: int
    idle_timeout_s: float
    max_connections: int


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    #: Answering a message (its ACK waits for Kafka): stopping lets it finish.
    busy: bool = False


class MllpListener:
    """Accepts MLLP connections on ``host:port`` and answers each message through ``receiver``."""

    def __init__(
        self,
        receiver: Hl7Receiver,
        metrics: GatewayMetrics,
        limits: ListenerLimits,
        *,
        host: str,
        port: int,
    ) -> None:
        self._receiver = receiver
        self._metrics = metrics
        self.limits = limits
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[_Connection, asyncio.Task[None]] = {}
        self._closing = False

    @property
    def port(self) -> int:
        """The bound port once started (the one asked for before)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def bind(self) -> None:
        """Take the port (a port in use is named before anything else starts); connections are
        accepted from :meth:`serve` on."""
        try:
            self._server = await asyncio.start_server(
                self._serve,
                self.host,
                self._port,
                backlog=min(MAX_BACKLOG, max(100, self.limits.max_connections)),
                start_serving=False,
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {self._port} on {self.host} is already in use (the gateway's MLLP "
                    "listener): stop what holds it, or set PUMPSTREAM_GATEWAY_MLLP_PORT to a free "
                    "port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise PumpstreamError(
                    f"PUMPSTREAM_BIND_ADDRESS={self.host} is not an address of this machine"
                ) from None
            raise

    async def serve(self) -> None:
        assert self._server is not None, "bind first"
        await self._server.start_serving()

    async def stop(self, *, grace_s: float = 5.0) -> None:
        """Stop accepting; close idle connections at once, and busy ones once their message is
        answered (at most ``grace_s``)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for connection in list(self._connections):
            if not connection.busy:
                connection.writer.close()
        tasks = list(self._connections.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing or len(self._connections) >= self.limits.max_connections:
            self._metrics.connections_refused.inc()
            writer.close()
            return
        connection = _Connection(writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        self._metrics.connections.inc()
        self._metrics.open_connections.inc()
        try:
            await self._converse(reader, connection)
        except (ConnectionError, OSError):
            pass  # the peer went away; nothing of this connection is left to answer
        except Exception:
            log.exception("MLLP connection ended by an unexpected error")
        finally:
            self._connections.pop(connection, None)
            self._metrics.open_connections.dec()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        decoder = FrameDecoder(self.limits.max_message_bytes)
        while not self._closing:
            try:
                data = await asyncio.wait_for(
                    reader.read(READ_CHUNK_BYTES), self.limits.idle_timeout_s
                )
            except TimeoutError:
                self._metrics.idle_closed.inc()
                self._note(decoder.close())
                return
            if not data:
                self._note(decoder.close())
                return
            received_at = time.perf_counter()
            for item in decoder.feed(data):
                if isinstance(item, Frame | Oversized):
                    connection.busy = True
                    try:
                        await self._answer(item, connection.writer, received_at)
                    finally:
                        connection.busy = False
                else:
                    self._note([item])

    async def _answer(
        self, item: Frame | Oversized, writer: asyncio.StreamWriter, received_at: float
    ) -> None:
        if isinstance(item, Frame):
            answer = await self._receiver.receive(item.payload, received_at=received_at)
        else:
            self._metrics.framing_errors.labels("oversized").inc()
            answer = self._receiver.oversized(item.head, item.size, received_at=received_at)
        writer.write(START_BLOCK + answer.ack + END_BLOCK)
        await asyncio.wait_for(writer.drain(), self.limits.idle_timeout_s)

    def _note(self, items: list[Decoded]) -> None:
        for item in items:
            if isinstance(item, Garbage):
                self._metrics.framing_errors.labels("garbage").inc()
            elif isinstance(item, Truncated):
                self._metrics.framing_errors.labels("truncated").inc()
