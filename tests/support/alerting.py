"""Builders and small real peers for alerting tests: alerts, rosters, an MLLP alert manager,
a webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.alerts import (
    Alert,
    AlertPhase,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    RecommendationCode,
)
from streams.alerting.channels.mllp import frame, read_frame
from streams.alerting.channels.pcd04 import ack_for, field_er7, parse_hl7

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ROSTER_HEAD = """
default_ward = "infusion-centre"

[escalation_timeouts_s]
high = {high}
medium = {medium}
low = 0

[wards.infusion-centre]
channels = {channels}
chain = [
  {{ role = "bedside_nurse", name = "Bay nurse", contact = "dect-4101" }},
  {{ role = "charge_nurse", name = "Charge nurse", contact = "dect-4100" }},
  {{ role = "prescriber", name = "Registrar", contact = "bleep-2231" }},
]
"""


def roster_toml(
    *, high: float = 20, medium: float = 60, channels: list[str] | None = None, extra: str = ""
) -> str:
    return ROSTER_HEAD.format(high=high, medium=medium, channels=json.dumps(channels or [])) + extra


def write_roster(path: Path, **kwargs: Any) -> Path:
    path.write_text(roster_toml(**kwargs), encoding="utf-8")
    return path


def make_alert(
    alert_id: str = "alert-1",
    *,
    phase: AlertPhase = AlertPhase.START,
    priority: AlertPriority = AlertPriority.HIGH,
    pain: int = 8,
    patient: str = "pt-1",
    ward: str = "infusion-centre",
    rule: str = "R1",
    minute: float = 0,
    title: str | None = None,
) -> Alert:
    at = T0 + timedelta(minutes=minute)
    return Alert(
        alert_id=alert_id,
        phase=phase,
        patient_ref=patient,
        infusion_id=f"inf-{patient}",
        rule=rule,
        priority=priority,
        type=AlertType.PHYSIOLOGICAL,
        title=title or f"Back pain {pain}/10, 18 min after rate increase to 4 mg/kg/min",
        recommendations=(
            Recommendation(code=RecommendationCode.PAUSE, text="Pause the infusion."),
            Recommendation(code=RecommendationCode.HYDRATE, text="Check hydration."),
        ),
        evidence=Evidence(
            pain_score=pain,
            rate_before_ml_h=84.0,
            rate_after_ml_h=168.0,
            dose_rate_mg_kg_min=4.0,
            minutes_since_rate_change=18.0,
        ),
        ward=ward,
        event_time=at,
        created_at=at,
    )


def live_alert(alert_id: str, **kwargs: Any) -> Alert:
    """An alert whose event time is now (page latency is measured from it)."""
    now = datetime.now(UTC)
    return make_alert(alert_id, **kwargs).model_copy(update={"event_time": now, "created_at": now})


@dataclass
class MllpPeer:
    """An HL7 alert manager on loopback: answers every message with an ACK (``ack_for``) and
    records what it received, read by message control id (MSH-10) with the ``hl7`` package."""

    port: int
    received: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> MllpPeer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while not reader.at_eof():
                    message = await read_frame(reader)
                    self.received.append(message)
                    writer.write(frame(ack_for(message)))
                    await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def control_ids(self) -> list[str]:
        return [field_er7(parse_hl7(m).segment("MSH"), 10) for m in self.received]

    def phases(self) -> list[str]:
        """MDC_ATTR_EVENT_PHASE of every message received, in order."""
        phases = []
        for text in self.received:
            for obx in parse_hl7(text).segments("OBX"):
                if field_er7(obx, 3).startswith("68481^"):
                    phases.append(field_er7(obx, 5))
        return phases


async def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    """Poll ``condition()`` until true or raise after ``timeout_s`` (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)
