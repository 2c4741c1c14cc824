"""One page per bedside moment (issue 12): which page a new alert episode goes on.

The clinical stage keeps one episode per rule (``alerts`` topic); a nurse needs one page per
patient situation. A new episode of a patient *joins* the patient's latest open page when its
event time lies within the grouping window of the page's first episode, or while nobody has
taken responsibility for that page yet (the nurse is still being paged about this patient);
otherwise it opens a page of its own. Joining pages again only when it raises the page's
priority above what was paged (``update``); else the nurse station is refreshed. Pure functions,
the time passed in, like ``lifecycle.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.alerts import Alert, AlertPhase
from streams.alerting.lifecycle import (
    PagingEpisode,
    Transition,
    apply_member_phase,
    page_or_refresh,
    while_held,
)
from streams.alerting.lifecycle import next_due as lifecycle_next_due
from streams.alerting.roster import Roster

#: Default grouping window, seconds of event time: the findings one bedside report, or the
#: vitals set read just before or after it, raise together (R1 with R2, R4's adjustments).
DEFAULT_GROUPING_WINDOW_S = 300.0
#: Page ids remembered per patient (open pages and recently closed ones).
PAGES_KEPT_PER_PATIENT = 20


def page_holding(pages: list[PagingEpisode], alert_id: str) -> PagingEpisode | None:
    """The page (among a patient's) that already carries episode ``alert_id``."""
    return next((p for p in pages if alert_id in p.member_ids), None)


def page_to_join(pages: list[PagingEpisode], alert: Alert, window_s: float) -> PagingEpisode | None:
    """The open page a new episode joins, or None (it opens its own page)."""
    if alert.phase is AlertPhase.END:
        return None
    open_pages = [p for p in pages if p.is_open and p.alert.infusion_id == alert.infusion_id]
    if not open_pages:
        return None
    latest = max(open_pages, key=lambda p: p.alert.event_time)
    first = min(a.event_time for a in (latest.alert, *latest.members))
    within = abs(alert.event_time - first) <= timedelta(seconds=window_s)
    return latest if within or not latest.responsibility_taken else None


def page_to_reopen(
    pages: list[PagingEpisode], alert: Alert, window_s: float
) -> PagingEpisode | None:
    """A closed page of the same infusion that a new episode belongs to although it was read
    after the page ended: its event time lies between the page's first episode (less the
    window) and the page's end. The clinical stage reads pump, symptom and vitals topics in its
    own order, and late data arrive late: the bedside moment was the same."""
    if alert.phase is AlertPhase.END:
        return None
    closed = [
        p
        for p in pages
        if not p.is_open
        and p.alert.infusion_id == alert.infusion_id
        and p.first_event_time - timedelta(seconds=window_s) <= alert.event_time <= p.end_event_time
    ]
    return max(closed, key=lambda p: p.end_event_time) if closed else None


def join_page(
    page: PagingEpisode, alert: Alert, roster: Roster, now: datetime, hold_s: float = 0.0
) -> Transition:
    """Add a new episode to an open page: a page again only when the page's priority rises."""

    def joined(current: PagingEpisode) -> Transition:
        update = {
            "members": (*current.members, alert),
            "updates": current.updates + 1,
            "touched_at": now,
        }
        return page_or_refresh(
            current, current.model_copy(update=update), roster, alert.event_time, now
        )

    return while_held(page, alert, roster, now, hold_s, joined)


def reopen_page(page: PagingEpisode, alert: Alert, roster: Roster, now: datetime) -> Transition:
    """Open a closed page again for an episode of its bedside moment read after its end (see
    :func:`page_to_reopen`): a page again only when it raises the priority above what was
    paged; the escalation timer runs again unless someone took responsibility."""
    reopened = page.model_copy(
        update={
            "ended_at": None,
            "reopened": page.reopened + 1,
            "ended_members": tuple(dict.fromkeys((*page.ended_members, *page.member_ids))),
        }
    )
    transition = join_page(reopened, alert, roster, now)
    after = transition.episode
    if after is None or after.escalation_due_at is not None or after.unpaged:
        return transition
    due = lifecycle_next_due(after, roster, now)
    return Transition(after.model_copy(update={"escalation_due_at": due}), transition.notifications)


def on_grouped_alert(
    page: PagingEpisode, alert: Alert, roster: Roster, now: datetime, hold_s: float = 0.0
) -> Transition:
    """A later phase of an episode already on ``page`` (not the page's own id)."""
    if not page.is_open:
        return Transition(page, ignored=True)
    return apply_member_phase(page, alert, roster, now, hold_s)


def remember_page(page_ids: list[str], page_id: str) -> list[str]:
    """The patient's page index with ``page_id`` added (most recent last, bounded)."""
    kept = [p for p in page_ids if p != page_id]
    kept.append(page_id)
    return kept[-PAGES_KEPT_PER_PATIENT:]
