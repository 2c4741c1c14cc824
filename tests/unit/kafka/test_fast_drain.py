"""Faust's drain loop with the per-record ``wait_first`` paid only by a callback that waits
(``streams/kafka/fast_drain.py``): the loop is Faust's but for that one call, and a callback is
run, interrupted by a rebalance, cancelled and fails as under ``wait_first``. The consumer here is
a real mode ``Service`` with Faust's ``suspend_flow`` event, not a stand-in for one."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from typing import Any

import pytest
from faust.transport import consumer as faust_consumer
from mode import Service

from streams.kafka import transport
from streams.kafka.fast_drain import deliver, drain_messages


def _body(function: Any) -> str:
    """The function's code without its docstring, comments and formatting."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    node = tree.body[0]
    assert isinstance(node, ast.AsyncFunctionDef)
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        node.body = node.body[1:]
    return "\n".join(ast.unparse(statement) for statement in node.body)


def test_the_drain_loop_is_fausts_but_for_the_callback_call() -> None:
    stock = _body(faust_consumer.Consumer._drain_messages)
    call = "await self.wait_first(callback(message), self.suspend_flow.wait())"
    assert stock.count(call) == 1, "Faust's drain loop changed: re-read streams/kafka/fast_drain.py"
    assert _body(drain_messages) == stock.replace(call, "await deliver(self, callback(message))")


def test_the_worker_consumer_drains_with_it() -> None:
    assert transport._Transport.Consumer._drain_messages is drain_messages
    assert "consumer._drain_messages(self)" in inspect.getsource(
        faust_consumer.Fetcher._fetcher.fun
    )


class _Consumer(Service):
    """What :func:`deliver` uses of Faust's consumer: mode's ``wait_first`` (counted) and the
    ``suspend_flow`` event Faust sets for a rebalance."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()
        self.waits = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        self.waits += 1
        return await super().wait_first(*coros, timeout=timeout)


async def test_a_callback_that_does_not_wait_runs_without_wait_first() -> None:
    consumer, done = _Consumer(), []

    async def callback() -> None:
        done.append("put")

    await deliver(consumer, callback())
    assert done == ["put"]
    assert consumer.waits == 0


@pytest.mark.parametrize("yields", ["sleep(0)", "event"])
async def test_a_callback_that_waits_goes_on_under_wait_first(yields: str) -> None:
    consumer, done, room = _Consumer(), [], asyncio.Event()

    async def callback() -> None:
        done.append("decoded")
        if yields == "event":
            await room.wait()  # a full channel queue
        else:
            await asyncio.sleep(0)
        done.append("put")

    delivering = asyncio.create_task(deliver(consumer, callback()))
    await asyncio.sleep(0.01)
    assert done == ["decoded"] + (["put"] if yields == "sleep(0)" else [])
    room.set()
    await asyncio.wait_for(delivering, 1)
    assert done == ["decoded", "put"]
    assert consumer.waits == 1


async def test_a_rebalance_interrupts_a_waiting_callback_as_before() -> None:
    consumer, seen = _Consumer(), []

    async def callback() -> None:
        try:
            await asyncio.Event().wait()  # never room
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    delivering = asyncio.create_task(deliver(consumer, callback()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    await asyncio.wait_for(delivering, 1)  # returns: the drain loop goes on
    await asyncio.sleep(0)
    assert seen == ["cancelled"]


async def test_cancelling_the_drain_loop_cancels_a_waiting_callback() -> None:
    consumer, seen = _Consumer(), []

    async def callback() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            seen.append("finally")

    delivering = asyncio.create_task(deliver(consumer, callback()))
    await asyncio.sleep(0.01)
    delivering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await delivering
    await asyncio.sleep(0)
    assert seen == ["finally"]


@pytest.mark.parametrize("waits_first", [False, True])
async def test_a_callback_error_reaches_the_drain_loop(waits_first: bool) -> None:
    consumer = _Consumer()

    async def callback() -> None:
        if waits_first:
            await asyncio.sleep(0)
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        await deliver(consumer, callback())


async def test_with_flow_suspended_it_is_wait_first_from_the_start() -> None:
    consumer = _Consumer()
    consumer.suspend_flow.set()

    async def callback() -> None:
        await asyncio.sleep(0)

    await asyncio.wait_for(deliver(consumer, callback()), 1)
    assert consumer.waits == 1
