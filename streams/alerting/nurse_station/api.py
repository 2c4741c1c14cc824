"""The nurse station: a page listing a ward's open alerts, and the acknowledgement API.

Served by the worker (aiohttp) on ``PUMPSTREAM_BIND_ADDRESS`` (127.0.0.1 by default) and
``PUMPSTREAM_NURSE_STATION_PORT``. Every ``/api/`` route needs ``Authorization: Bearer <token>``
(``PUMPSTREAM_ACK_TOKEN``). A response is published to ``alerts.acks``; the lifecycle applies it
(stops escalation) and the page shows it once it comes back on ``alerts.notifications``.

- ``GET  /nurse-station?ward=W``           the page (no data without the token)
- ``GET  /api/wards``                      roster wards and the default one
- ``GET  /api/alerts?ward=W&after=V``      open episodes; waits up to 20 s for a version > V
- ``POST /api/alerts/{alert_id}/ack``      ``{"response": ..., "action_taken": ...}`` -> 202
- ``POST /api/symptom-reports``            a ``SymptomReport`` (the page's "report pain" form) ->
  202 once Kafka acknowledged it on ``symptoms.raw``; 422 with the field problems
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from mode import Service
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.alerts import AckResponse, ActionTaken, AlertAck
from schemas.events import SymptomReport
from schemas.notifications import NotificationKind
from schemas.topics import ALERT_ACKS, SYMPTOMS_RAW
from schemas.validation_errors import field_problems, problem_lines
from streams.alerting.board import BoardEntry, EpisodeBoard
from streams.alerting.roster import Roster
from streams.exceptions import PortInUse
from streams.kafka.connection import KafkaConnection

log = logging.getLogger(__name__)


def page_html() -> str:
    """The nurse station page, shipped as package data beside this module."""
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


LONG_POLL_S = 20.0
#: Closed pages sent with each board answer (the page filters them).
HISTORY_SHOWN = 100
#: How long a symptom report waits for Kafka's acknowledgement before the page is told to resend.
SYMPTOM_SEND_TIMEOUT_S = 10.0
SendAck = Callable[[AlertAck], Awaitable[None]]
SendSymptom = Callable[[SymptomReport], Awaitable[None]]


class AckRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    response: AckResponse
    action_taken: ActionTaken = ActionTaken.NONE
    responder_role: Annotated[str, Field(min_length=1, max_length=32)] = "nurse"
    #: The nurse's roster id (issue 12): each answer is a person's, not a shared role's.
    responder_id: (
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")] | None
    ) = None


def _entry_json(entry: BoardEntry, roster: Roster | None = None) -> dict[str, Any]:
    latest = entry.latest
    alert = latest.alert
    ack = latest.ack
    return {
        "alert_id": alert.alert_id,
        "kind": latest.kind.value,
        "priority": alert.priority.value,
        "rule": alert.rule,
        "type": alert.type.value,
        "title": alert.title,
        "patient_ref": alert.patient_ref,
        "infusion_id": alert.infusion_id,
        "recommendations": [{"code": r.code.value, "text": r.text} for r in alert.recommendations],
        "evidence": alert.evidence.model_dump(mode="json"),
        "risk_factors": [r.value for r in alert.risk_factors],
        "step": latest.step,
        "recipient": {"role": latest.recipient.role, "name": latest.recipient.name},
        "escalation_due_at": latest.escalation_due_at.isoformat()
        if latest.escalation_due_at
        else None,
        "ack": None
        if ack is None
        else {
            "response": ack.response.value,
            "action_taken": ack.action_taken.value,
            "responder_role": ack.responder_role,
            "responder_id": ack.responder_id,
            "responder_name": _staff_name(roster, ack.responder_id),
            "event_time": ack.event_time.isoformat(),
            "stops_escalation": ack.response.stops_escalation,
        },
        "started_at": entry.started.produced_at.isoformat(),
        "closed_at": latest.produced_at.isoformat()
        if latest.kind is NotificationKind.END
        else None,
        "live": entry.live,
    }


def _staff_name(roster: Roster | None, staff_id: str | None) -> str | None:
    member = roster.staff_member(staff_id) if roster and staff_id else None
    return member.name if member else None


def build_nurse_station(
    board: EpisodeBoard,
    roster: Roster,
    token: str,
    send_ack: SendAck,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    send_symptom: SendSymptom | None = None,
) -> web.Application:
    """The aiohttp application (routes above); ``send_ack`` publishes to ``alerts.acks``,
    ``send_symptom`` (when given) to ``symptoms.raw``."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def require_token(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            # A header's undecodable bytes arrive as surrogates: compare them, never raise.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                raise web.HTTPUnauthorized(
                    text="missing or wrong bearer token",
                    headers={"WWW-Authenticate": 'Bearer realm="pumpstream"'},
                )
        return await handler(request)

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=page_html(),
            content_type="text/html",
            headers={
                "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'",
                "Cache-Control": "no-store",
            },
        )

    async def wards(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "wards": sorted(roster.wards),
                "default_ward": roster.default_ward,
                "staff": [
                    {"id": m.id, "name": m.name, "role": m.role, "wards": list(m.wards)}
                    for m in roster.staff
                ],
            }
        )

    async def alerts(request: web.Request) -> web.Response:
        ward = request.query.get("ward") or roster.default_ward
        if ward not in roster.wards:
            raise web.HTTPNotFound(text=f"unknown ward {ward!r}")
        try:
            after = int(request.query.get("after", "-1"))
        except ValueError:
            raise web.HTTPBadRequest(text="after: not an integer") from None
        version = await board.wait_changed(after, LONG_POLL_S) if after >= 0 else board.version
        now = clock()
        entries = board.entries(now, ward)
        history = board.history(now, ward)[:HISTORY_SHOWN]
        return web.json_response(
            {
                "ward": ward,
                "version": version,
                "alerts": [_entry_json(e, roster) for e in entries],
                "history": [_entry_json(e, roster) for e in history],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def acknowledge(request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        current = board.find(alert_id)
        if current is None:
            raise web.HTTPNotFound(text=f"no open alert {alert_id!r}")
        try:
            body = AckRequest.model_validate_json(await _body(request))
        except ValidationError as exc:
            problems = "; ".join(problem_lines(exc, top_level="body"))
            raise web.HTTPBadRequest(text=problems) from None
        responder_role = body.responder_role
        if roster.staff:
            responder = roster.staff_member(body.responder_id) if body.responder_id else None
            if responder is None:
                raise web.HTTPBadRequest(
                    text="responder_id: name one of the roster's staff (who is answering?)"
                )
            responder_role = responder.role
        ack = AlertAck(
            event_id=f"ack-{uuid.uuid4().hex}",
            alert_id=alert_id,
            patient_ref=current.alert.patient_ref,
            response=body.response,
            action_taken=body.action_taken,
            responder_role=responder_role,
            responder_id=body.responder_id,
            event_time=clock(),
        )
        await send_ack(ack)
        # A page of several episodes: the answer is copied to each grouped episode, so the
        # clinical stage applies it to all of them (a "false positive" ends every one); the
        # lifecycle applies only the page's own (issue 12).
        for member in current.page_alerts:
            if member.alert_id != alert_id:
                await send_ack(
                    ack.model_copy(
                        update={
                            "event_id": f"{ack.event_id}-{member.rule.lower()}",
                            "alert_id": member.alert_id,
                            "page_id": alert_id,
                        }
                    )
                )
        log.info("ack %s for alert %s: %s", ack.event_id, alert_id, ack.response.value)
        return web.json_response({"event_id": ack.event_id}, status=202)

    async def report_symptom(request: web.Request) -> web.Response:
        # The one schema decides what is valid (the same model ingest applies); the page shows
        # each problem under the form.
        try:
            report = SymptomReport.model_validate_json(await _body(request))
        except ValidationError as exc:
            problems = [
                {"field": p.field() or None, "reason": p.reason.removeprefix("Value error, ")}
                for p in field_problems(exc)
            ]
            return web.json_response({"error": "invalid", "problems": problems}, status=422)
        assert send_symptom is not None
        try:
            await asyncio.wait_for(send_symptom(report), SYMPTOM_SEND_TIMEOUT_S)
        except (TimeoutError, KafkaError):
            detail = "Kafka did not acknowledge the report: send it again"
            return web.json_response(
                {"error": "unavailable", "detail": detail}, status=503, headers={"Retry-After": "5"}
            )
        log.info("symptom report %s from the nurse station", report.event_id)
        return web.json_response({"event_id": report.event_id}, status=202)

    async def root(request: web.Request) -> web.Response:
        raise web.HTTPFound("/nurse-station")

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/", root)
    app.router.add_get("/nurse-station", page)
    app.router.add_get("/api/wards", wards)
    app.router.add_get("/api/alerts", alerts)
    app.router.add_post("/api/alerts/{alert_id}/ack", acknowledge)
    if send_symptom is not None:
        app.router.add_post("/api/symptom-reports", report_symptom)
    return app


class NurseStation(Service):
    """Runs the nurse station's HTTP server and its producer (``alerts.acks``, and
    ``symptoms.raw`` for the pain form) in the worker."""

    def __init__(
        self,
        kafka: KafkaConnection,
        board: EpisodeBoard,
        roster: Roster,
        token: str,
        host: str,
        port: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kafka = kafka
        self.board = board
        self.roster = roster
        self.token = token
        self.host = host
        self.port = port
        self._producer: AIOKafkaProducer | None = None
        self._runner: web.AppRunner | None = None

    async def _send_ack(self, ack: AlertAck) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            ALERT_ACKS.name, key=ack.patient_ref.encode(), value=ack.model_dump_json().encode()
        )

    async def _send_symptom(self, report: SymptomReport) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            SYMPTOMS_RAW.name,
            key=report.patient_ref.encode(),
            value=report.model_dump_json().encode(),
        )

    async def on_start(self) -> None:
        self._producer = producer = self.kafka.producer(acks="all")
        await producer.start()
        app = build_nurse_station(
            self.board, self.roster, self.token, self._send_ack, send_symptom=self._send_symptom
        )
        # Long polls hold requests open for up to LONG_POLL_S: on shutdown, give in-flight
        # requests a second, and stop a handler whose client has gone.
        self._runner = runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            # The worker stops: release what started here, then say which setting moves it.
            self._runner = self._producer = None
            await runner.cleanup()
            await producer.stop()
            raise PortInUse(
                f"port {self.port} on {self.host} is already in use (the nurse station): stop "
                "what holds it, or set PUMPSTREAM_NURSE_STATION_PORT to a free port (0 runs "
                "the worker without the nurse station)"
            ) from None
        log.info("nurse station on http://%s:%d/nurse-station", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._producer is not None:
            await self._producer.stop()


async def _body(request: web.Request) -> bytes:
    """The request's body; a 400 when it cannot be read (a Content-Encoding it does not match)."""
    try:
        return await request.read()
    except RequestPayloadError as exc:
        raise web.HTTPBadRequest(text=f"cannot read the body: {exc}") from None
