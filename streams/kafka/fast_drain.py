"""Faust's consumer drain loop without two tasks and an ``asyncio.wait`` per message.

Faust hands every fetched record to its conductor with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: mode's ``wait_first``
wraps both in tasks, adds two more for the service's stopped and crashed events, and waits for
the first (docs research: 50-90 us per call, more than the rest of a record's path). It is there
so that a rebalance (``suspend_flow`` set) can interrupt a callback blocked on a full channel
queue or on stopped flow control. Almost every callback never blocks: it decodes the record and
puts it on a queue with room.

:func:`deliver` keeps that guarantee and pays for it only when it is needed: it steps the
callback once; a callback that finishes without waiting is done, with no task made; one that
waits goes on, from where it stopped, under ``wait_first`` as before. :func:`drain_messages` is
Faust's ``Consumer._drain_messages`` (as in faust-streaming 0.15.3) with that one call replaced;
``tests/unit/kafka/test_fast_drain.py`` fails if Faust's method changes in any other way, so an
upgrade re-reads it. Upstream proposal 3 in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from mode import Service, ServiceT


class _Resumed(Awaitable[Any]):
    """The rest of a coroutine that was stepped once by hand and waits on ``pending`` (what its
    first step yielded): awaiting this (or a task made of it) drives it on, forwarding whatever
    the event loop throws in (a cancellation)."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # thrown in by the task (a cancellation): the coroutine's
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            try:
                pending = coro.send(sent)
            except StopIteration as done:
                return done.value


async def deliver(consumer: Any, coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` (the conductor's callback for one record) as Faust's
    ``consumer.wait_first(coro, consumer.suspend_flow.wait())`` would, without its tasks when
    ``coro`` finishes at its first step."""
    if consumer.suspend_flow.is_set() or consumer._stopped.is_set() or consumer._crashed.is_set():
        await consumer.wait_first(coro, consumer.suspend_flow.wait())
        return
    try:
        pending = coro.send(None)
    except StopIteration:
        return
    await consumer.wait_first(_Resumed(coro, pending), consumer.suspend_flow.wait())


async def drain_messages(self: Any, fetcher: ServiceT) -> None:
    """Faust's ``Consumer._drain_messages``, the callback run by :func:`deliver`."""
    # This is the background thread started by Fetcher, used to
    # constantly read messages using Consumer.getmany.
    # It takes Fetcher as argument, because we must be able to
    # stop it using `await Fetcher.stop()`.
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator, getmany(timeout=1.0))  # type: ignore[type-arg] # Faust's line

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None:  # noqa: SIM102 - Faust's lines, verbatim
                            if self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                        await deliver(self, callback(message))
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev(
                            "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                            offset,
                            message.key,
                            message.value,
                        )
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)
