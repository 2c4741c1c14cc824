"""The alerting half of ``pumpstream demo`` (issue 12): a sample roster, the nurse station's
address, pages and escalations as the lifecycle emits them, and a simulated nurse who answers
the first escalated page through the nurse station's real ack API."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from rich.console import Console

from schemas.notifications import AlertNotification, NotificationKind
from schemas.topics import ALERT_NOTIFICATIONS
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import TopicReader

#: The demo's roster: short escalation timeouts so that an unanswered page escalates while the
#: scripted reaction is still open, even at ``--speed 1200``; one nurse who answers.
DEMO_ROSTER = """\
default_ward = "infusion-centre"

[escalation_timeouts_s]
high = 1
medium = 1
low = 0

[wards.infusion-centre]
chain = [
  { role = "bedside_nurse", name = "Demo bay nurse", contact = "dect-4101" },
  { role = "charge_nurse", name = "Demo charge nurse", contact = "dect-4100" },
]

[[staff]]
id = "n-demo"
name = "Demo bay nurse"
"""
DEMO_RESPONDER = "n-demo"


@dataclass
class AlertingDemo:
    """What the demo's worker needs (environment) and what the demo saw (counts)."""

    roster_path: Path
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pages: int = 0
    escalations: int = 0
    acks: int = 0
    acked: set[str] = field(default_factory=set)
    #: Set once a page, an escalation and an answer were seen.
    completed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, run_dir: Path, port: int) -> AlertingDemo:
        roster_path = run_dir / "demo-roster.toml"
        roster_path.write_text(DEMO_ROSTER, encoding="utf-8")
        return cls(roster_path, port)

    def worker_env(self) -> dict[str, str]:
        return {
            "PUMPSTREAM_ALERTING_CONFIG": str(self.roster_path),
            "PUMPSTREAM_ACK_TOKEN": self.token,
            "PUMPSTREAM_NURSE_STATION_PORT": str(self.port),
            # Look for due escalations five times a second (default once), so that the 1 s
            # escalation shows while the scripted reaction is open even at high speeds.
            "PUMPSTREAM_ALERTING_TICK_S": "0.2",
        }

    def station_url(self, host: str) -> str:
        return f"http://{host}:{self.port}/nurse-station?ward=infusion-centre#token={self.token}"

    @property
    def complete(self) -> bool:
        return self.pages > 0 and self.escalations > 0 and self.acks > 0

    async def watch(
        self, kafka: KafkaConnection, host: str, console: Console, stop: asyncio.Event
    ) -> None:
        """Print pages, escalations and answers until ``stop``; answer the first escalation."""
        async with (
            TopicReader(kafka, [ALERT_NOTIFICATIONS.name]) as reader,
            aiohttp.ClientSession() as session,
        ):
            while not stop.is_set():
                for record in await reader.read(timeout_ms=200):
                    note = AlertNotification.model_validate_json(record.value or b"")
                    await self._on_notification(note, session, host, console)
                    if self.complete:
                        self.completed.set()

    async def _on_notification(
        self,
        note: AlertNotification,
        session: aiohttp.ClientSession,
        host: str,
        console: Console,
    ) -> None:
        alert = note.alert
        who = f"{note.recipient.role.replace('_', ' ')} ({note.recipient.contact})"
        if note.kind in (NotificationKind.START, NotificationKind.UPDATE):
            self.pages += 1
            console.print(
                f"[bold blue]PAGE[/] {note.kind.value} {alert.priority.value} "
                f"{alert.patient_ref} -> {who}: {alert.title}"
            )
        elif note.kind is NotificationKind.ESCALATE:
            self.escalations += 1
            console.print(f"[bold blue]ESCALATED[/] {alert.patient_ref} -> {who}: nobody answered")
            if not self.acked:
                self.acked.add(alert.alert_id)
                await self._answer(alert.alert_id, session, host, console)
        elif note.kind is NotificationKind.RESPONSE and note.ack is not None:
            self.acks += 1
            console.print(
                f"[bold blue]ANSWERED[/] {alert.patient_ref}: {note.ack.response.value}, "
                f"{note.ack.action_taken.value}, by {note.ack.responder_id}"
            )

    async def _answer(
        self, alert_id: str, session: aiohttp.ClientSession, host: str, console: Console
    ) -> None:
        """The simulated nurse answers through the nurse station's ack API, as the page does."""
        url = f"http://{host}:{self.port}/api/alerts/{alert_id}/ack"
        body = {"response": "accepted", "action_taken": "slowed", "responder_id": DEMO_RESPONDER}
        headers = {"Authorization": f"Bearer {self.token}"}
        async with session.post(url, json=body, headers=headers) as response:
            console.print(
                f"[dim]simulated nurse {DEMO_RESPONDER}: POST /api/alerts/.../ack -> "
                f"{response.status}[/]"
            )
