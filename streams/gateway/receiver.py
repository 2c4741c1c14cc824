"""One framed HL7 message in, its ACK out, after Kafka: parse, map, write the events (or the
dead letter) and answer only once Kafka acknowledged them (docs/integration.md, "ACK semantics").

Nothing here logs or counts a patient identifier: log lines name the message's control id, its
type and the reason; metrics take only the closed vocabularies of ``GatewayMetrics``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from streams.gateway.acks import AckCode, ack_message
from streams.gateway.delivery_stops import DeliveryStops
from streams.gateway.durable_producer import DurableProducer, KafkaUnavailable
from streams.gateway.health import GatewayHealth
from streams.gateway.hl7_reading import Header, read_header, read_message
from streams.gateway.kafka_records import Record, dead_letter, event_records
from streams.gateway.message_facts import Mapped
from streams.gateway.message_mapping import map_message
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.rejections import KAFKA_UNAVAILABLE_ERROR, Rejection, RejectReason
from streams.kafka.dead_letters import RateLimitedLog
from streams.metrics.families import GatewayMetrics

log = logging.getLogger(__name__)

_MESSAGE_TYPES = {("ORU", "R01"): "oru_r01", ("ORU", "R42"): "oru_r42"}


def message_type_label(header: Header) -> str:
    return _MESSAGE_TYPES.get((header.message_code, header.trigger), "other")


@dataclass(frozen=True, slots=True)
class Answer:
    """The ACK's bytes and its code."""

    ack: bytes
    code: AckCode


class Hl7Receiver:
    """Turns each message into its ACK; shared by every connection of one gateway."""

    def __init__(
        self,
        producer: DurableProducer,
        pseudonymiser: Pseudonymiser,
        metrics: GatewayMetrics,
        health: GatewayHealth,
        *,
        max_message_bytes: int,
    ) -> None:
        self._producer = producer
        self._pseudonymiser = pseudonymiser
        self._metrics = metrics
        self._health = health
        self.max_message_bytes = max_message_bytes
        self.stops = DeliveryStops()
        self._log = RateLimitedLog(log)

    async def receive(self, payload: bytes, *, received_at: float | None = None) -> Answer:
        """The ACK for one message (``received_at``: ``time.perf_counter()`` of its last byte)."""
        started = time.perf_counter() if received_at is None else received_at
        message = read_message(payload)
        if isinstance(message, Rejection):
            answer = await self._refuse(payload, read_header(payload), message)
        else:
            mapped = map_message(message, self._pseudonymiser, self.stops.get)
            if isinstance(mapped, Rejection):
                answer = await self._refuse(payload, message.header, mapped)
            else:
                answer = await self._accept(payload, message.header, mapped)
        header = message.header if not isinstance(message, Rejection) else read_header(payload)
        self._observe(header, answer.code, started)
        return answer

    def oversized(self, head: bytes, size: int, *, received_at: float | None = None) -> Answer:
        """The ``AR`` for a message over the size limit (not kept: it may not fit Kafka)."""
        started = time.perf_counter() if received_at is None else received_at
        header = read_header(head)
        rejection = Rejection(
            RejectReason.TOO_LARGE,
            f"{size} bytes, more than the {self.max_message_bytes} the gateway accepts "
            "(PUMPSTREAM_GATEWAY_MAX_MESSAGE_BYTES); not kept",
        )
        self._log_refusal(header, rejection)
        self._metrics.rejected.labels(rejection.reason.value).inc()
        answer = Answer(self._ack(AckCode.REJECT, header, rejection), AckCode.REJECT)
        self._observe(header, answer.code, started)
        return answer

    def _ack(self, code: AckCode, header: Header, rejection: Rejection | None = None) -> bytes:
        if rejection is None:
            return ack_message(code, header)
        return ack_message(
            code,
            header,
            error=rejection.hl7_error,
            text=f"{rejection.reason.value}: {rejection.detail}",
            location=rejection.location,
        )

    def _unavailable(self, header: Header, problem: KafkaUnavailable) -> Answer:
        self._health.broker_failed(str(problem))
        self._log.warning(
            ("unavailable",),
            "answered AE to %s %s: %s; the sender resends",
            header.message_type or "(no type)",
            header.control_id or "(no control id)",
            problem,
        )
        ack = ack_message(
            AckCode.ERROR,
            header,
            error=KAFKA_UNAVAILABLE_ERROR,
            text=f"not stored: {problem}; resend the message",
        )
        return Answer(ack, AckCode.ERROR)

    async def _write(self, records: list[Record], payload: bytes) -> None:
        message_key = hashlib.sha256(payload).hexdigest()
        await self._producer.send(records, message_key=message_key)
        self._health.broker_ok()
        for record in records:
            self._metrics.records.labels(record.topic).inc()

    async def _accept(self, payload: bytes, header: Header, mapped: Mapped) -> Answer:
        records = event_records(mapped)
        if records:
            try:
                await self._write(records, payload)
            except KafkaUnavailable as exc:
                return self._unavailable(header, exc)
        if mapped.stop_update is not None:
            self.stops.apply(mapped.stop_update)
        log.debug("accepted %s %s: %s", header.message_type, header.control_id, mapped.kind)
        return Answer(self._ack(AckCode.ACCEPT, header), AckCode.ACCEPT)

    async def _refuse(self, payload: bytes, header: Header, rejection: Rejection) -> Answer:
        record = dead_letter(payload, rejection, self._pseudonymiser)
        try:
            await self._write([record], payload)
        except KafkaUnavailable as exc:
            # Not kept yet: the sender resends, and the message is refused again then.
            return self._unavailable(header, exc)
        self._log_refusal(header, rejection)
        self._metrics.rejected.labels(rejection.reason.value).inc()
        if rejection.code_kind is not None:
            self._metrics.unknown_codes.labels(rejection.code_kind.value).inc()
        return Answer(self._ack(AckCode.REJECT, header, rejection), AckCode.REJECT)

    def _log_refusal(self, header: Header, rejection: Rejection) -> None:
        self._log.warning(
            (rejection.reason.value,),
            "refused (AR) %s %s from %s: %s: %s",
            header.message_type or "(no type)",
            header.control_id or "(no control id)",
            header.sending_application or "(no sender)",
            rejection.reason.value,
            rejection.detail,
        )

    def _observe(self, header: Header, code: AckCode, started: float) -> None:
        self._metrics.messages.labels(message_type_label(header), code.value).inc()
        self._metrics.ack_latency.labels(code.value).observe(time.perf_counter() - started)
