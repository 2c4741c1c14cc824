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
from schemas.base import AddsOptionalFields, FrozenModel

#: Namespace of notification ids (UUIDv5 of alert id, kind and sequence).
NOTIFICATION_NAMESPACE = uuid.UUID("6f1d3c2e-5b0a-4c8e-9d8f-2a7e4b1c9e01")

RoleName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class NotificationKind(StrEnum):
    START = "start"
    UPDATE = "update"
    ESCALATE = "escalate"
    RESPONSE = "response"
    END = "end"
    #: The page's content changed (a member episode updated, joined or ended) without paging
    #: anyone: the nurse station's board shows it, no channel delivers it (issue 12).
    REFRESH = "refresh"
    #: A page of alert types the roster does not page (advisories, by default): the board and
    #: the alert managers (PCD-04, Alertmanager) show it; no pager rings (issue 12).
    NOTICE = "notice"


#: Kinds that ring a person's pager: a new page, a page whose priority rose, an escalation.
#: ``end`` never pages (it clears alert managers and the board); ``refresh`` and ``response``
#: only update the nurse station's view.
PAGING_KINDS = frozenset(
    {NotificationKind.START, NotificationKind.UPDATE, NotificationKind.ESCALATE}
)

#: Kinds that delivery channels send: the pager webhook only the ``PAGING_KINDS``; alert
#: managers (PCD-04, Alertmanager) also ``end``, which clears the alarm there.
DELIVERED_KINDS = frozenset(
    {
        NotificationKind.START,
        NotificationKind.UPDATE,
        NotificationKind.ESCALATE,
        NotificationKind.END,
        NotificationKind.NOTICE,
    }
)


class Recipient(FrozenModel):
    """One link of an on-call chain: a role, who holds it, and how to reach them."""

    role: RoleName
    name: Annotated[str, Field(min_length=1, max_length=80)]
    contact: Annotated[str, Field(min_length=1, max_length=120)]


class AlertNotification(AddsOptionalFields):
    """One transition of one page (one alert episode, or several grouped: ``page_alerts``), with
    the page's state after it."""

    ADDED_OPTIONAL = frozenset({"page_alerts"})

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
    #: A page grouping several rules' episodes about one patient (issue 12): the latest phase of
    #: each, with its own evidence. ``alert`` is then the page as a whole: the page's id, the
    #: highest priority, every suggestion merged. Empty for a page of one episode.
    page_alerts: tuple[Alert, ...] = ()

    @property
    def delivered_by_channels(self) -> bool:
        return self.kind in DELIVERED_KINDS

    @property
    def pages_a_person(self) -> bool:
        """Whether this transition rings a pager (``end`` and ``refresh`` never do)."""
        return self.kind in PAGING_KINDS


def notification_id(alert_id: str, kind: NotificationKind, sequence: str) -> str:
    """Deterministic id (idempotency key) of one transition of one episode."""
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{alert_id}|{kind.value}|{sequence}"))


class LifecycleTick(FrozenModel):
    """Sent by the worker's timer to a partition of ``alerts.lifecycle.ticks`` when an escalation
    on that partition may be due: escalations are decided by the agent that owns the state."""

    sent_at: AwareDatetime
