"""The symptom intake API: a bedside tablet, a patient app or an interface engine reports a
symptom (pain score, where it hurts, neurological signs) as a ``SymptomReport``, and the gateway
answers 202 only once Kafka has acknowledged the record on ``symptoms.raw``
(docs/intake-and-fhir.md).

``POST /v1/symptom-reports`` with ``Authorization: Bearer <PUMPSTREAM_INTAKE_TOKEN>`` and a
``SymptomReport`` JSON body (the schema is the one pydantic model in ``schemas/events.py``):

- 202 ``{"event_id": ...}``: Kafka acknowledged the record (``acks=all``, key = ``patient_ref``);
- 400 (not JSON) or 422 (schema) ``{"error": "invalid", "problems": [{"field", "reason"}]}``;
- 401 without the token, 413 for a body over ``max_body_bytes``;
- 503 with ``Retry-After`` when Kafka did not acknowledge in time. Nothing is lost: the sender
  retries with the same ``event_id``, and the clinical stage drops an id it has applied.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas.events import SymptomReport
from schemas.topics import SYMPTOMS_RAW
from schemas.validation_errors import field_problems
from streams.exceptions import KafkaUnreachable, PortInUse, SettingsError
from streams.kafka.connection import KafkaConnection

log = logging.getLogger(__name__)

INTAKE_PATH = "/v1/symptom-reports"
#: What each request ended as, for the caller's metrics (``on_outcome``).
Outcome = Literal["accepted", "invalid", "unauthorized", "too_large", "unavailable"]
SendReport = Callable[[SymptomReport], Awaitable[None]]
MIN_TOKEN_LENGTH = 16
#: How long a request waits for Kafka's acknowledgement (``PUMPSTREAM_GATEWAY_ACK_TIMEOUT_S``).
DEFAULT_ACK_TIMEOUT_S = 10.0
#: Seconds a sender is asked to wait before retrying after a 503.
RETRY_AFTER_S = 5


def problems_json(exc: ValidationError) -> list[dict[str, str | None]]:
    """One ``{"field", "reason"}`` per validation error; ``field`` is null for a rule across
    fields (a back-pain report without a pain score)."""
    return [
        {"field": p.field() or None, "reason": p.reason.removeprefix("Value error, ")}
        for p in field_problems(exc)
    ]


def build_intake_app(
    token: str,
    send: SendReport,
    max_body_bytes: int,
    on_outcome: Callable[[str], None] = lambda outcome: None,
    *,
    ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
) -> web.Application:
    """The aiohttp application; ``send`` returns once Kafka acknowledged the report."""
    expected = token.encode()

    def answer(
        outcome: Outcome, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        on_outcome(outcome)
        return web.json_response(body, status=status, headers=headers)

    def too_large() -> web.Response:
        detail = f"the body is larger than {max_body_bytes} bytes"
        return answer("too_large", 413, {"error": "too_large", "detail": detail})

    async def intake(request: web.Request) -> web.Response:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), expected
        ):
            return answer(
                "unauthorized",
                401,
                {"error": "unauthorized", "detail": "missing or wrong bearer token"},
                {"WWW-Authenticate": 'Bearer realm="pumpstream"'},
            )
        if (request.content_length or 0) > max_body_bytes:
            return too_large()
        try:
            body = await request.read()  # client_max_size stops a chunked body at the limit
        except web.HTTPRequestEntityTooLarge:
            return too_large()
        except RequestPayloadError as exc:  # e.g. a Content-Encoding the body does not match
            return answer("invalid", 400, {"error": "invalid", "detail": f"unreadable body: {exc}"})
        try:
            report = SymptomReport.model_validate_json(body)
        except ValidationError as exc:
            not_json = any(e["type"] == "json_invalid" for e in exc.errors())
            body_json = {"error": "invalid", "problems": problems_json(exc)}
            return answer("invalid", 400 if not_json else 422, body_json)
        try:
            await asyncio.wait_for(send(report), ack_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            log.warning("symptom report %s not acknowledged by Kafka: %r", report.event_id, exc)
            detail = (
                f"Kafka did not acknowledge the report within {ack_timeout_s:g} s: retry with "
                "the same event_id"
            )
            return answer(
                "unavailable",
                503,
                {"error": "unavailable", "detail": detail},
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        log.debug("symptom report %s accepted", report.event_id)
        return answer("accepted", 202, {"event_id": report.event_id})

    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post(INTAKE_PATH, intake)
    return app


class SymptomIntake:
    """Runs the intake API and its ``symptoms.raw`` producer; ``port`` 0 picks a free port."""

    def __init__(
        self,
        kafka: KafkaConnection,
        token: str,
        host: str,
        port: int,
        max_body_bytes: int,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        *,
        ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
    ) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise SettingsError(
                "PUMPSTREAM_INTAKE_TOKEN: the symptom intake API needs a bearer token of at least "
                f"{MIN_TOKEN_LENGTH} characters"
            )
        self._kafka = kafka
        self._token = token
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._on_outcome = on_outcome
        self._ack_timeout_s = ack_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the one asked for before)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    async def _send(self, report: SymptomReport) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            SYMPTOMS_RAW.name,
            key=report.patient_ref.encode(),
            value=report.model_dump_json().encode(),
        )

    async def start(self) -> None:
        # A record Kafka has not acknowledged by the ack timeout expires in the producer too, so
        # stopping while Kafka is away does not wait for aiokafka's 40 s default.
        producer = self._kafka.producer(
            acks="all", request_timeout_ms=int(self._ack_timeout_s * 1000)
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise KafkaUnreachable(
                f"the symptom intake cannot reach Kafka at {self._kafka.describe()} ({exc}): "
                "start the broker or fix PUMPSTREAM_KAFKA_BOOTSTRAP"
            ) from None
        app = build_intake_app(
            self._token,
            self._send,
            self._max_body_bytes,
            self._on_outcome,
            ack_timeout_s=self._ack_timeout_s,
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            await producer.stop()
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"port {self._port} on {self._host} is already in use (the symptom intake API): "
                "stop what holds it, or set PUMPSTREAM_GATEWAY_HTTP_PORT to a free port"
            ) from None
        self._producer, self._runner = producer, runner
        log.info("symptom intake on http://%s:%d%s", self._host, self.port, INTAKE_PATH)

    async def stop(self) -> None:
        runner, producer = self._runner, self._producer
        self._runner = self._producer = None
        if runner is not None:
            await runner.cleanup()
        if producer is not None:
            await producer.stop()
