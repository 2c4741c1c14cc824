"""The alert lifecycle: one episode per ``alert_id``, paged once, escalated when unanswered.

Pure functions over a :class:`PagingEpisode` (no Faust, no I/O, the time passed in), so the rules
of paging can be tested with a fake clock:

- a page goes out on ``start``, on an update that raises the page's priority, and on each
  escalation; any other *material* update (rule, pain score, rate, recommendations or risk
  factors changed) only refreshes the nurse station (``refresh``); re-delivered or repeated alert
  phases change nothing (IHE leaves this to the alert source: DOMAIN.md §3-4);
- one page may carry several rules' episodes about one patient (``page_grouping.py``): the page
  is keyed by the id of the episode that opened it and acts (escalates, is acknowledged) as one;
- an unacknowledged alert escalates to the next person of its ward's chain when its priority's
  timeout has passed (defaults: high 20 s, medium 60 s, low never), then again from there;
- a nurse response that takes responsibility stops escalation; ``rejected`` escalates at once;
- ``end`` closes the episode; the closed episode is remembered for the roster's retention so a
  late re-delivery stays silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.alerts import AckResponse, Alert, AlertAck, AlertPhase, AlertPriority, Recommendation
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
    #: Other rules' episodes of the same patient grouped on this page (issue 12): the latest
    #: phase of each. Empty for a page of one episode.
    members: tuple[Alert, ...] = ()
    #: Ids of this page's episodes (its own included) whose ``end`` arrived; the page ends when
    #: every one of its episodes has ended.
    ended_members: tuple[str, ...] = ()
    #: The highest priority a person was paged with (None: ``alert.priority``): an update pages
    #: again only above it.
    paged_priority: AlertPriority | None = None
    #: Nobody has been paged for this page yet: it is held (below), or carries only alert types
    #: the roster does not page (advisories, by default): the board shows it, the pager is silent.
    unpaged: bool = False
    #: The page is held until then (``PUMPSTREAM_PAGE_HOLD_S``), so that findings arriving
    #: together go out as one page at their final priority; released by a timer tick.
    held_until: AwareDatetime | None = None
    #: Times the page was opened again by an episode read after the page had ended although its
    #: event time lies before that end (cross-topic read order, late data).
    reopened: int = 0
    #: Event time of the episode that opened the page (its later phases move ``alert``'s).
    opened_event_time: AwareDatetime | None = None

    def to_table_value(self) -> str:
        # Fields added for page grouping are left out while unused: a page of one episode is
        # stored byte for byte as before (tests/unit/alerting/test_episode_compatibility.py).
        unused = {
            name
            for name in (
                "members",
                "ended_members",
                "paged_priority",
                "unpaged",
                "held_until",
                "reopened",
                "opened_event_time",
            )
            if not getattr(self, name)
        }
        if self.opened_event_time == self.alert.event_time:
            unused.add("opened_event_time")  # read back from ``alert`` (first_event_time)
        return self.model_dump_json(exclude=unused)

    @classmethod
    def from_table_value(cls, value: str | None) -> PagingEpisode | None:
        if value is None:
            return None
        episode = cls.model_validate_json(value)
        if episode.opened_event_time is None:
            # Left out while equal to the alert's (and absent from pages stored before it).
            episode = episode.model_copy(update={"opened_event_time": episode.alert.event_time})
        return episode

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def responsibility_taken(self) -> bool:
        return self.ack is not None and self.ack.response.stops_escalation

    @property
    def member_ids(self) -> tuple[str, ...]:
        return (self.alert_id, *(m.alert_id for m in self.members))

    def open_alerts(self) -> tuple[Alert, ...]:
        """The latest phase of each of the page's episodes not yet ended."""
        alerts = (self.alert, *self.members)
        return tuple(a for a in alerts if a.alert_id not in self.ended_members) or (self.alert,)

    @property
    def priority(self) -> AlertPriority:
        return max((a.priority for a in self.open_alerts()), key=PRIORITY_RANK.__getitem__)

    @property
    def highest_paged(self) -> AlertPriority:
        return self.paged_priority or self.alert.priority

    @property
    def first_event_time(self) -> datetime:
        """Event time of the page's first finding."""
        times = [a.event_time for a in (self.alert, *self.members)]
        return min([self.opened_event_time, *times] if self.opened_event_time else times)

    @property
    def end_event_time(self) -> datetime:
        """When (event time) the page's last episode ended; for a closed page only."""
        return max(a.event_time for a in (self.alert, *self.members))


#: Priorities in increasing order of urgency.
PRIORITY_RANK = {AlertPriority.LOW: 0, AlertPriority.MEDIUM: 1, AlertPriority.HIGH: 2}


def page_view(episode: PagingEpisode) -> Alert:
    """The page as one alert: for a page of one episode, that episode's latest phase; for
    several, the most urgent open episode's phase under the page's id, with the page's priority,
    every episode's suggestions merged (most urgent first, each code once) and risk factors and
    modifiers united; each episode's own evidence travels in ``page_alerts``."""
    if not episode.members:
        return episode.alert
    alerts = sorted(episode.open_alerts(), key=lambda a: (-PRIORITY_RANK[a.priority], a.event_time))
    lead = alerts[0]
    recommendations: list[Recommendation] = []
    for alert in alerts:
        for rec in alert.recommendations:
            if all(r.code != rec.code for r in recommendations):
                recommendations.append(rec)
    others = [a.rule for a in alerts[1:] if a.rule != lead.rule]
    title = lead.title if not others else f"{lead.title} (+ {', '.join(others)})"
    return lead.model_copy(
        update={
            "alert_id": episode.alert_id,
            "title": title[:200],
            "recommendations": tuple(recommendations),
            "risk_factors": tuple(dict.fromkeys(f for a in alerts for f in a.risk_factors)),
            "modifiers": tuple(sorted({m for a in alerts for m in a.modifiers})),
            "event_time": min(a.event_time for a in alerts),
        }
    )


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
        alert=page_view(episode),
        page_alerts=(episode.alert, *episode.members) if episode.members else (),
        step=step,
        recipient=chain[step],
        escalation_due_at=episode.escalation_due_at,
        ack=episode.ack,
        triggered_at=triggered_at,
        produced_at=now,
    )


def next_due(episode: PagingEpisode, roster: Roster, now: datetime) -> datetime | None:
    """When the next escalation falls due, or None (answered, ended, or end of the chain)."""
    if episode.responsibility_taken or not episode.is_open or episode.unpaged:
        return None
    if episode.step + 1 >= len(roster.chain_for(episode.alert)):
        return None
    timeout_s = roster.escalation_timeout_s(page_view(episode))
    return None if timeout_s is None else now + timedelta(seconds=timeout_s)


def on_alert(
    episode: PagingEpisode | None,
    alert: Alert,
    roster: Roster,
    now: datetime,
    partition: int,
    hold_s: float = 0.0,
) -> Transition:
    """Apply one alert phase from the ``alerts`` topic. With ``hold_s`` a new page is held that
    long (the first page goes out when a tick releases it, at the page's priority by then)."""
    if episode is None:
        if alert.phase is AlertPhase.END:
            return Transition(None, ignored=True)  # its start never reached us: nothing to close
        opened = PagingEpisode(
            alert_id=alert.alert_id, partition=partition, alert=alert, touched_at=now, opened_at=now
        )
        opened = opened.model_copy(update={"opened_event_time": alert.event_time})
        if hold_s > 0:
            held = opened.model_copy(
                update={"unpaged": True, "held_until": now + timedelta(seconds=hold_s)}
            )
            return Transition(held)
        return first_page(opened, roster, now)
    if not episode.is_open:
        return Transition(episode, ignored=True)
    return apply_member_phase(episode, alert, roster, now, hold_s)


def pages_a_person(episode: PagingEpisode, roster: Roster) -> bool:
    """Whether the page carries an open episode of a type the roster pages (advisories do not,
    by default: they are shown on the nurse station and sent to alert managers)."""
    return any(roster.pages_for(a) for a in episode.open_alerts())


def first_page(
    episode: PagingEpisode, roster: Roster, now: datetime, triggered_at: datetime | None = None
) -> Transition:
    """The page's first notification: ``start`` (a person is paged, its escalation timer runs),
    or ``notice`` when it carries only types the roster does not page."""
    episode = episode.model_copy(update={"held_until": None, "touched_at": now})
    triggered_at = triggered_at or episode.first_event_time
    if not pages_a_person(episode, roster):
        quiet = episode.model_copy(update={"unpaged": True, "escalation_due_at": None})
        return Transition(
            quiet, (_notify(quiet, NotificationKind.NOTICE, "0", roster, triggered_at, now),)
        )
    paged = episode.model_copy(update={"unpaged": False})
    paged = paged.model_copy(
        update={
            "escalation_due_at": next_due(paged, roster, now),
            "paged_priority": None if paged.priority == paged.alert.priority else paged.priority,
        }
    )
    return Transition(
        paged, (_notify(paged, NotificationKind.START, "0", roster, triggered_at, now),)
    )


def _joins_held(episode: PagingEpisode, alert: Alert, hold_s: float) -> bool:
    """Whether ``alert`` would have reached a held page before its release: its event time lies
    within the hold of the page's first episode and it was not evaluated late. (Event time, not
    arrival: a replay at full speed must not coalesce findings minutes apart.)"""
    if episode.held_until is None or alert.late_by_min is not None:
        return False
    return abs(alert.event_time - episode.first_event_time) <= timedelta(seconds=hold_s)


def while_held(
    episode: PagingEpisode,
    alert: Alert,
    roster: Roster,
    now: datetime,
    hold_s: float,
    apply: Callable[[PagingEpisode], Transition],
) -> Transition:
    """Apply ``alert`` to a page (``apply``), minding the hold: a held page takes a phase that
    arrives within its hold silently (its first page goes out on release, at the final
    priority); a phase from beyond the hold releases the page first, as the live clock would
    have. A page not held is ``apply``-ed as is."""
    if episode.held_until is None:
        return apply(episode)
    if not _joins_held(episode, alert, hold_s):
        released = first_page(episode, roster, now)
        assert released.episode is not None
        after = apply(released.episode)
        if after.ignored:
            return released
        return Transition(after.episode, (*released.notifications, *after.notifications))
    applied = apply(episode)
    if applied.ignored or applied.episode is None:
        return applied
    after_hold = applied.episode
    ended = after_hold.ended_at is not None
    return Transition(
        after_hold.model_copy(
            update={
                # A page whose episodes all ended within the hold never pages anyone.
                "unpaged": True,
                "held_until": None if ended else episode.held_until,
                "escalation_due_at": None,
                "paged_priority": None,
            }
        )
    )


def apply_member_phase(
    episode: PagingEpisode, alert: Alert, roster: Roster, now: datetime, hold_s: float = 0.0
) -> Transition:
    """A later phase of one of an open page's episodes (its own, or a grouped one): ``end`` of
    the last open episode ends the page; an update pages again only when it raises the page's
    priority above what was paged, and otherwise refreshes the nurse station when it is material."""
    return while_held(
        episode, alert, roster, now, hold_s, lambda page: _apply_phase(page, alert, roster, now)
    )


def _apply_phase(episode: PagingEpisode, alert: Alert, roster: Roster, now: datetime) -> Transition:
    own = alert.alert_id == episode.alert_id
    previous = episode.alert if own else _member(episode, alert.alert_id)
    if previous is None or alert.alert_id in episode.ended_members:
        return Transition(episode, ignored=True)
    replaced = _with_phase(episode, alert, own)
    if alert.phase is AlertPhase.END:
        ended_ids = (*episode.ended_members, alert.alert_id)
        if all(i in ended_ids for i in episode.member_ids):
            ended = replaced.model_copy(
                update={"ended_at": now, "escalation_due_at": None, "touched_at": now}
            )
            if episode.members:
                ended = ended.model_copy(update={"ended_members": ended_ids})
            sequence = "0" if not episode.reopened else f"reopened-{episode.reopened}"
            return Transition(
                ended,
                (_notify(ended, NotificationKind.END, sequence, roster, alert.event_time, now),),
            )
        rest = replaced.model_copy(update={"ended_members": ended_ids, "touched_at": now})
        rest = _retimed(episode, rest, roster, now)
        note = _notify(
            rest, NotificationKind.REFRESH, f"end-{alert.alert_id}", roster, alert.event_time, now
        )
        return Transition(rest, (note,))
    if material_fingerprint(alert) == material_fingerprint(previous):
        return Transition(episode, ignored=True)
    updated = replaced.model_copy(update={"updates": episode.updates + 1, "touched_at": now})
    return page_or_refresh(episode, updated, roster, alert.event_time, now)


def _member(episode: PagingEpisode, alert_id: str) -> Alert | None:
    return next((m for m in episode.members if m.alert_id == alert_id), None)


def _with_phase(episode: PagingEpisode, alert: Alert, own: bool) -> PagingEpisode:
    if own:
        return episode.model_copy(update={"alert": alert})
    members = tuple(alert if m.alert_id == alert.alert_id else m for m in episode.members)
    return episode.model_copy(update={"members": members})


def _retimed(
    before: PagingEpisode, after: PagingEpisode, roster: Roster, now: datetime
) -> PagingEpisode:
    """A new page priority brings its own timeout, counted from now."""
    if after.priority == before.priority:
        return after
    return after.model_copy(update={"escalation_due_at": next_due(after, roster, now)})


def page_or_refresh(
    before: PagingEpisode,
    after: PagingEpisode,
    roster: Roster,
    triggered_at: datetime,
    now: datetime,
) -> Transition:
    """Page again (``update``) when the page's priority rose above what was paged; otherwise
    refresh the nurse station only (alarm fatigue: DOMAIN.md §4, issue 12)."""
    if before.unpaged:
        if not pages_a_person(after, roster):
            note = _notify(
                after, NotificationKind.REFRESH, str(after.updates), roster, triggered_at, now
            )
            return Transition(after, (note,))
        # The first finding a person is paged for joined an advisory-only page: its first page.
        return first_page(after.model_copy(update={"step": 0}), roster, now, triggered_at)
    after = _retimed(before, after, roster, now)
    sequence = str(after.updates)
    rises = PRIORITY_RANK[after.priority] > PRIORITY_RANK[before.highest_paged]
    paged = after.priority if rises else before.highest_paged
    # Kept only when it differs from the own episode's priority (a page of one episode that
    # only rose is stored as before).
    after = after.model_copy(
        update={"paged_priority": None if paged == after.alert.priority else paged}
    )
    kind = NotificationKind.UPDATE if rises else NotificationKind.REFRESH
    return Transition(after, (_notify(after, kind, sequence, roster, triggered_at, now),))


def on_ack(
    episode: PagingEpisode | None, ack: AlertAck, roster: Roster, now: datetime
) -> Transition:
    """Apply one nurse response from ``alerts.acks``."""
    if episode is None or not episode.is_open or ack.event_id in episode.ack_event_ids:
        return Transition(episode, ignored=True)
    if ack.page_id is not None and ack.alert_id != ack.page_id:
        # A copy of the page's answer for one grouped episode: for the clinical stage only.
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
            update={"escalation_due_at": next_due(escalated, roster, now)}
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
    """Whether a tick would change this episode (release its hold, escalate it, or forget it)."""
    if episode.held_until is not None and now >= episode.held_until:
        return True
    if episode.escalation_due_at is not None and now >= episode.escalation_due_at:
        return True
    return now - episode.touched_at >= timedelta(seconds=roster.episode_retention_s)


def on_tick(episode: PagingEpisode, roster: Roster, now: datetime) -> Transition:
    """Escalate the episode if its timeout has passed; forget it after the retention."""
    if now - episode.touched_at >= timedelta(seconds=roster.episode_retention_s):
        return Transition(None)
    if episode.held_until is not None:
        if now < episode.held_until:
            return Transition(episode, ignored=True)
        return first_page(episode, roster, now)
    due = episode.escalation_due_at
    if due is None or now < due or not episode.is_open or episode.responsibility_taken:
        return Transition(episode, ignored=True)
    escalated = episode.model_copy(update={"step": episode.step + 1, "touched_at": now})
    escalated = escalated.model_copy(update={"escalation_due_at": next_due(escalated, roster, now)})
    page = _notify(escalated, NotificationKind.ESCALATE, str(escalated.step), roster, due, now)
    return Transition(escalated, (page,))
