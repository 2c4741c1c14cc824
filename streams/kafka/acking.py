"""Events acknowledged only once handled.

Faust acknowledges the event an agent holds whenever the agent's loop ends, cancelled included
(the ``finally`` around its ``yield``), and its default stop waits until every event already
fetched is processed (``stream_wait_empty``). Together a stopping worker either waits for slow
work (a page retrying an unreachable channel: its retry budget per queued notification) or, not
waiting, commits an event it never finished. The worker therefore does not wait
(``stream_wait_empty=False``, streams/app.py) and every agent iterates :func:`handled`: an event
is acknowledged when the loop body is done with it and asks for the next one, never when the loop
is left (an exception, a ``return``, a cancellation), so an unfinished event is not committed and
the next worker reads it again (each stage is idempotent: docs/reliability.md, "Stopping").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


async def handled(stream: Any) -> AsyncIterator[Any]:
    """The events of a Faust agent's ``stream``, each acknowledged after the loop body ran."""
    manual = stream.noack()
    async for event in manual.events():
        yield event
        await manual.ack(event)
