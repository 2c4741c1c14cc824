"""Failed produces: a Faust sensor that hears of every message the producer gave up on.

Faust sends an agent's output without waiting for Kafka's answer: when the producer finally gives
up on a message (a non-retriable error, or ``producer_request_timeout`` spent), Faust logs one
``_on_published error`` WARNING and calls its sensors' ``on_send_error``, and the agent goes on
while the consumer keeps committing the offsets of the messages that caused the lost ones. Left
alone, such a worker looks alive and ready and counts its alerts, but they never reach ``alerts``.
:class:`ProduceFailureSensor` hands each failure to the worker (``streams/worker.py``), which
counts it, answers ``/readyz`` with 503 and stops the process (docs/reliability.md, "Broker
faults").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

#: ``on_failure(topic, exc)``: the topic of the message the producer gave up on, and why.
FailureHandler = Callable[[str, BaseException], None]


class ProduceFailureSensor(faust.Sensor):
    """Calls ``on_failure(topic, exc)`` for each message the producer could not write."""

    def __init__(self, on_failure: FailureHandler, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_failure = on_failure

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> str:
        """The state Faust hands back to :meth:`on_send_error`: the message's topic."""
        return topic

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self._on_failure(str(state), exc)


def describe_failure(topic: str, exc: BaseException) -> str:
    """For the worker's one line: the topic and the producer's reason."""
    reason = str(exc).strip() or type(exc).__name__
    if type(exc).__name__ not in reason:
        reason = f"{type(exc).__name__}: {reason}"
    return f"Kafka did not accept a message for topic {topic} ({reason})"
