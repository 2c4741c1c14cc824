"""Writing a message's records to Kafka and knowing when they are durable: ``acks=all``, the
idempotent producer where the broker grants it, and a deadline
(``PUMPSTREAM_GATEWAY_ACK_TIMEOUT_S``) after which the sender hears ``AE`` and resends.

Past the deadline the records stay with the producer, which keeps retrying them (aiokafka retries
a produce to a broker it cannot reach; measured: such a record lands once Kafka is back). So a
message is written once however often it is resent: while an earlier send of the same bytes is
unresolved, a resend waits for that one instead of writing again, and hears ``AA`` once it
lands. Only a send that failed for good is written anew. (A record Kafka wrote whose
acknowledgement was lost on the way back does land twice; it carries the same event id, and the
clinical stage drops the second.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    UnknownError,
    UnsupportedVersionError,
)

from streams.exceptions import KafkaUnreachable, PumpstreamError
from streams.gateway.kafka_records import Record
from streams.kafka.connection import KafkaConnection

log = logging.getLogger(__name__)

#: What a broker answers InitProducerId with when it has no idempotent producers (Tansu 0.6:
#: UnknownError, measured) or the principal may not use them.
_NO_IDEMPOTENCE = (UnknownError, UnsupportedVersionError, ClusterAuthorizationFailedError)


class KafkaUnavailable(PumpstreamError):
    """Kafka did not acknowledge a message's records in time: the sender gets ``AE``."""


class _QuietInitProducerId(logging.Filter):
    """aiokafka logs an ERROR when the broker refuses idempotence; the gateway handles that
    (and says so in one WARNING)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "InitProducerId" not in record.getMessage()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume the outcome of records nobody waits for any more (no "exception never
    retrieved" when they fail after the sender heard AE and left)."""
    if not future.cancelled():
        future.exception()


class DurableProducer:
    """One aiokafka producer for the gateway's records."""

    def __init__(self, kafka: KafkaConnection, *, ack_timeout_s: float) -> None:
        self._kafka = kafka
        self.ack_timeout_s = ack_timeout_s
        self._producer: AIOKafkaProducer | None = None
        #: Whether the broker granted the idempotent producer.
        self.idempotent = False
        #: Message digest -> its records' acknowledgement, while unresolved.
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    def _new(self, *, idempotent: bool) -> AIOKafkaProducer:
        # No linger: aiokafka batches what arrives while a request is in flight anyway, and a
        # linger of 2 ms cost a lone sender half its rate (docs/benchmarks.md, "Gateway").
        return self._kafka.producer(acks="all", enable_idempotence=idempotent, linger_ms=0)

    async def start(self) -> None:
        sender_log = logging.getLogger("aiokafka.producer.sender")
        quiet = _QuietInitProducerId()
        for idempotent in (True, False):
            producer = self._new(idempotent=idempotent)
            sender_log.addFilter(quiet)
            try:
                await producer.start()
            except _NO_IDEMPOTENCE as exc:
                await producer.stop()
                log.info(
                    "the Kafka broker refuses idempotent producers (%s): the gateway produces "
                    "with acks=all alone; event ids keep a resent message harmless",
                    type(exc).__name__,
                )
                continue
            except KafkaError as exc:
                await producer.stop()
                raise KafkaUnreachable(
                    f"the gateway cannot reach Kafka at {self._kafka.describe()} ({exc}): start "
                    "the broker or fix PUMPSTREAM_KAFKA_BOOTSTRAP"
                ) from None
            finally:
                sender_log.removeFilter(quiet)
            self._producer, self.idempotent = producer, idempotent
            return

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, records: Sequence[Record], *, message_key: str) -> None:
        """Return once Kafka acknowledged every record of the message ``message_key`` names (a
        digest of its bytes); :class:`KafkaUnavailable` when it did not within the deadline or
        refused one."""
        if self._producer is None:
            raise KafkaUnavailable("the gateway's Kafka producer is not running")
        pending = self._in_flight.get(message_key)
        if pending is None:
            pending = asyncio.ensure_future(self._produce(self._producer, records))
            self._in_flight[message_key] = pending
            pending.add_done_callback(lambda done: self._resolved(message_key, done))
        try:
            await asyncio.wait_for(asyncio.shield(pending), self.ack_timeout_s)
        except TimeoutError:
            raise KafkaUnavailable(
                f"Kafka did not acknowledge within {self.ack_timeout_s:g} s"
            ) from None
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka refused the record ({type(exc).__name__})") from None

    @property
    def in_flight(self) -> int:
        """Messages whose records Kafka has not acknowledged (nor refused) yet."""
        return len(self._in_flight)

    def _resolved(self, message_key: str, done: asyncio.Future[None]) -> None:
        if self._in_flight.get(message_key) is done:
            del self._in_flight[message_key]
        _retrieve(done)

    @staticmethod
    async def _produce(producer: AIOKafkaProducer, records: Sequence[Record]) -> None:
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers) or None)
            for r in records
        ]
        await asyncio.gather(*futures)
