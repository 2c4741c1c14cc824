"""The alert lifecycle: one episode per ``alert_id``, paged once, escalated when unanswered.

Pure functions over a :class:`PagingEpisode` (no Faust, no I/O, the time passed in), so the rules
of paging can be tested with a fake clock:

- a page goes out on ``start``, on a *material* update (priority, rule, pain score, rate,
  recommendations or risk factors changed) and on each escalation; re-delivered or repeated
  alert phases never page again (IHE leaves this to the alert source: DOMAIN.md §3-4);
- an unacknowledged alert escalates to the next person of its ward's chain when its priority's
  timeout has passed (defaults: high 20 s, medium 60 s, low never), then again from there;
- a nurse response that takes responsibility stops escalation; ``rejected`` escalates at once;
- ``end`` closes the episode; the closed episode is remembered for the roster's retention so a
  late re-delivery stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.alerts import AckResponse, Alert, AlertAck, AlertPhase
from schemas.notifications import AlertNotification, NotificationKind, notification_id
from streams.alerting.roster import Roster


class PagingEpisode(BaseModel):
    """State of one alert's paging, kept in the ``alert-episodes`` table (key = ``alert_id``; the
    JSON must stay readable by running workers). Not the clinical stage's ``ClinicalEpisode``,
    which decides when an alert starts and ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    #: Partition of the ``alerts`` topic the episode lives on (timer ticks go there).
    partition: int
    #: The last alert phase that was paged (the baseline for "material").
    alert: Alert
    step: int = 0
    escalation_due_at: AwareDatetime | None = None
    updates: int = 0
    ack: AlertAck | None = None
    ack_event_ids: tuple[str, ...] = ()
    ended_at: AwareDatetime | None = None
    touched_at: AwareDatetime
    #: When the episode opened (its first page): time to acknowledge counts from here.
    opened_at: AwareDatetime | None = None

    def to_table_value(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_table_value(cls, value: str | None) -> PagingEpisode | None:
        return None if value is None else cls.model_validate_json(value)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def responsibility_taken(self) -> bool:
        return self.ack is not None and self.ack.response.stops_escalation


@dataclass(frozen=True, slots=True)
class Transition:
    """The episode after an input (``None``: forget it) and the notifications to emit."""

    episode: PagingEpisode | None
    notifications: tuple[AlertNotification, ...] = ()
    #: The input changed nothing (re-delivery, immaterial update, unknown alert).
    ignored: bool = False


def material_fingerprint(alert: Alert) -> tuple[object, ...]:
    """What must change for an update to page again (not timestamps or recomputed minutes)."""
    return (
        alert.priority,
        alert.rule,
        alert.type,
        alert.evidence.pain_score,
        alert.evidence.rate_after_ml_h,
        tuple(r.code for r in alert.recommendations),
        frozenset(alert.risk_factors),
    )


def _notify(
    episode: PagingEpisode,
    kind: NotificationKind,
    sequence: str,
    roster: Roster,
    triggered_at: datetime,
    now: datetime,
) -> AlertNotification:
    chain = roster.chain_for(episode.alert)
    step = min(episode.step, len(chain) - 1)
    return AlertNotification(
        notification_id=notification_id(episode.alert_id, kind, sequence),
        kind=kind,
        alert=episode.alert,
        step=step,
        recipient=chain[step],
        escalation_due_at=episode.escalation_due_at,
        ack=episode.ack,
        triggered_at=triggered_at,
        produced_at=now,
    )


def _next_due(episode: PagingEpisode, roster: Roster, now: datetime) -> datetime | None:
    """When the next escalation falls due, or None (answered, ended, or end of the chain)."""
    if episode.responsibility_taken or not episode.is_open:
        return None
    if episode.step + 1 >= len(roster.chain_for(episode.alert)):
        return None
    timeout_s = roster.escalation_timeout_s(episode.alert)
    return None if timeout_s is None else now + timedelta(seconds=timeout_s)


def on_alert(
    episode: PagingEpisode | None, alert: Alert, roster: Roster, now: datetime, partition: int
) -> Transition:
    """Apply one alert phase from the ``alerts`` topic."""
    if episode is None:
        if alert.phase is AlertPhase.END:
            return Transition(None, ignored=True)  # its start never reached us: nothing to close
        opened = PagingEpisode(
            alert_id=alert.alert_id, partition=partition, alert=alert, touched_at=now, opened_at=now
        )
        opened = opened.model_copy(update={"escalation_due_at": _next_due(opened, roster, now)})
        start = _notify(opened, NotificationKind.START, "0", roster, alert.event_time, now)
        return Transition(opened, (start,))
    if not episode.is_open:
        return Transition(episode, ignored=True)
    if alert.phase is AlertPhase.END:
        ended = episode.model_copy(
            update={"alert": alert, "ended_at": now, "escalation_due_at": None, "touched_at": now}
        )
        return Transition(
            ended, (_notify(ended, NotificationKind.END, "0", roster, alert.event_time, now),)
        )
    if material_fingerprint(alert) == material_fingerprint(episode.alert):
        return Transition(episode, ignored=True)
    updated = episode.model_copy(
        update={"alert": alert, "updates": episode.updates + 1, "touched_at": now}
    )
    if alert.priority != episode.alert.priority:
        # A new priority brings its own timeout, counted from now.
        updated = updated.model_copy(update={"escalation_due_at": _next_due(updated, roster, now)})
    page = _notify(
        updated, NotificationKind.UPDATE, str(updated.updates), roster, alert.event_time, now
    )
    return Transition(updated, (page,))


def on_ack(
    episode: PagingEpisode | None, ack: AlertAck, roster: Roster, now: datetime
) -> Transition:
    """Apply one nurse response from ``alerts.acks``."""
    if episode is None or not episode.is_open or ack.event_id in episode.ack_event_ids:
        return Transition(episode, ignored=True)
    answered = episode.model_copy(
        update={
            "ack": ack,
            "ack_event_ids": (*episode.ack_event_ids, ack.event_id)[-20:],
            "touched_at": now,
        }
    )
    if ack.response is AckResponse.REJECTED and answered.step + 1 < len(
        roster.chain_for(answered.alert)
    ):
        escalated = answered.model_copy(update={"step": answered.step + 1})
        escalated = escalated.model_copy(
            update={"escalation_due_at": _next_due(escalated, roster, now)}
        )
        page = _notify(
            escalated, NotificationKind.ESCALATE, str(escalated.step), roster, ack.event_time, now
        )
        return Transition(escalated, (page,))
    if answered.responsibility_taken:
        answered = answered.model_copy(update={"escalation_due_at": None})
    response = _notify(
        answered, NotificationKind.RESPONSE, ack.event_id, roster, ack.event_time, now
    )
    return Transition(answered, (response,))


def is_due(episode: PagingEpisode, roster: Roster, now: datetime) -> bool:
    """Whether a tick would change this episode (escalate it, or forget it)."""
    if episode.escalation_due_at is not None and now >= episode.escalation_due_at:
        return True
    return now - episode.touched_at >= timedelta(seconds=roster.episode_retention_s)


def on_tick(episode: PagingEpisode, roster: Roster, now: datetime) -> Transition:
    """Escalate the episode if its timeout has passed; forget it after the retention."""
    if now - episode.touched_at >= timedelta(seconds=roster.episode_retention_s):
        return Transition(None)
    due = episode.escalation_due_at
    if due is None or now < due or not episode.is_open or episode.responsibility_taken:
        return Transition(episode, ignored=True)
    escalated = episode.model_copy(update={"step": episode.step + 1, "touched_at": now})
    escalated = escalated.model_copy(
        update={"escalation_due_at": _next_due(escalated, roster, now)}
    )
    page = _notify(escalated, NotificationKind.ESCALATE, str(escalated.step), roster, due, now)
    return Transition(escalated, (page,))
