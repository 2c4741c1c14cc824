"""A TCP proxy in front of the embedded broker whose link can be cut and restored, to take Kafka
away from a client and give it back (restarting the embedded broker on the same port is refused
for 30-60 s, and a restart loses its topics anyway).

``cut()`` closes every proxied connection and stops listening (clients get "connection refused");
``restore()`` listens on the same port again. Start the broker with ``advertised`` set to the
proxy's address, so clients reach the broker only through it.
"""

from __future__ import annotations

import asyncio
import contextlib

from streams.cli.local.embedded_broker import LOOPBACK, free_port


class KafkaProxy:
    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._server: asyncio.Server | None = None
        self._links: dict[asyncio.Task[None], list[asyncio.StreamWriter]] = {}

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    async def start(self) -> KafkaProxy:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self.port)
        return self

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writers in self._links.values():  # both ends of every link: the pipes end
            for writer in writers:
                writer.close()
        await asyncio.gather(*self._links, return_exceptions=True)
        self._links.clear()

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links[task] = [writer]
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                LOOPBACK, self.target_port
            )
        except OSError:
            writer.close()
            self._links.pop(task, None)
            return
        self._links[task].append(upstream_writer)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for side in (writer, upstream_writer):
                side.close()
                with contextlib.suppress(OSError):
                    await side.wait_closed()
            self._links.pop(task, None)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: writing to a closed link
        while data := await source.read(65_536):
            sink.write(data)
            await sink.drain()
    sink.close()
