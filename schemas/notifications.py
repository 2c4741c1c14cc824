"""What the alert lifecycle emits (topic ``alerts.notifications``) and its timer ticks.

One notification per episode transition: start, material update, escalation, nurse response,
end. Delivery channels (webhook, Alertmanager, HL7 PCD-04) and the nurse station read it.
``notification_id`` is deterministic, so a re-emitted transition carries the same idempotency key.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field

from schemas.alerts import Alert, AlertAck
from schemas.base import FrozenModel

#: Namespace of notification ids (UUIDv5 of alert id, kind and sequence).
NOTIFICATION_NAMESPACE = uuid.UUID("6f1d3c2e-5b0a-4c8e-9d8f-2a7e4b1c9e01")

RoleName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class NotificationKind(StrEnum):
    START = "start"
    UPDATE = "update"
    ESCALATE = "escalate"
    RESPONSE = "response"
    END = "end"


#: Kinds that delivery channels send; a nurse response only updates the station's view.
DELIVERED_KINDS = frozenset(
    {
        NotificationKind.START,
        NotificationKind.UPDATE,
        NotificationKind.ESCALATE,
        NotificationKind.END,
    }
)


class Recipient(FrozenModel):
    """One link of an on-call chain: a role, who holds it, and how to reach them."""

    role: RoleName
    name: Annotated[str, Field(min_length=1, max_length=80)]
    contact: Annotated[str, Field(min_length=1, max_length=120)]


class AlertNotification(FrozenModel):
    """One transition of one alert episode, with the episode's state after it."""

    notification_id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: NotificationKind
    alert: Alert
    #: Index of ``recipient`` in the ward's chain (0 = bedside nurse).
    step: Annotated[int, Field(ge=0)]
    recipient: Recipient
    escalation_due_at: AwareDatetime | None = None
    ack: AlertAck | None = None
    #: The event this transition answers: the report behind the alert phase, the moment an
    #: escalation fell due, or the nurse's response. Page latency is measured from here.
    triggered_at: AwareDatetime
    produced_at: AwareDatetime

    @property
    def delivered_by_channels(self) -> bool:
        return self.kind in DELIVERED_KINDS


def notification_id(alert_id: str, kind: NotificationKind, sequence: str) -> str:
    """Deterministic id (idempotency key) of one transition of one episode."""
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{alert_id}|{kind.value}|{sequence}"))


class LifecycleTick(FrozenModel):
    """Sent by the worker's timer to a partition of ``alerts.lifecycle.ticks`` when an escalation
    on that partition may be due: escalations are decided by the agent that owns the state."""

    sent_at: AwareDatetime
