"""One page per bedside moment (issue 12), through the pure functions: several rules' episodes
about one patient become one page; the episodes stay per rule; escalation and acknowledgement act
on the page; updates page again only when the priority rises; ``end`` never pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.alerts import (
    AckResponse,
    Alert,
    AlertAck,
    AlertPhase,
    AlertPriority,
    AlertType,
    RecommendationCode,
)
from schemas.notifications import AlertNotification, NotificationKind
from streams.alerting.lifecycle import PagingEpisode, Transition, on_ack, on_alert, on_tick
from streams.alerting.page_grouping import (
    join_page,
    on_grouped_alert,
    page_holding,
    page_to_join,
    page_to_reopen,
    reopen_page,
)
from streams.alerting.roster import parse_roster
from streams.clinical.publish_order import in_paging_order
from tests.support.alerting import T0, make_alert, roster_toml

ROSTER = parse_roster(roster_toml(high=20, medium=60))
WINDOW_S = 300.0


class Pages:
    """The lifecycle agent's routing (streams/alerting/agents.py) over dicts, for tests."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.hold_s = hold_s
        self.pages: dict[str, PagingEpisode] = {}
        self.sent: list[AlertNotification] = []

    def _store(self, page_id: str, transition: Transition) -> None:
        self.sent.extend(transition.notifications)
        if transition.episode is not None:
            self.pages[page_id] = transition.episode

    def alert(self, alert: Alert, now: datetime) -> None:
        hold = self.hold_s
        own = self.pages.get(alert.alert_id)
        if own is not None:
            self._store(alert.alert_id, on_alert(own, alert, ROSTER, now, 0, hold))
            return
        pages = list(self.pages.values())
        holding = page_holding(pages, alert.alert_id)
        if holding is not None:
            self._store(holding.alert_id, on_grouped_alert(holding, alert, ROSTER, now, hold))
            return
        joined = page_to_join(pages, alert, WINDOW_S)
        if joined is not None:
            self._store(joined.alert_id, join_page(joined, alert, ROSTER, now, hold))
            return
        closed = page_to_reopen(pages, alert, WINDOW_S)
        if closed is not None:
            self._store(closed.alert_id, reopen_page(closed, alert, ROSTER, now))
            return
        self._store(alert.alert_id, on_alert(None, alert, ROSTER, now, 0, hold))

    def ack(self, ack: AlertAck, now: datetime) -> None:
        page = self.pages.get(ack.alert_id) or page_holding(list(self.pages.values()), ack.alert_id)
        assert page is not None
        self._store(page.alert_id, on_ack(page, ack, ROSTER, now))

    def tick(self, now: datetime) -> None:
        for page_id, page in list(self.pages.items()):
            self._store(page_id, on_tick(page, ROSTER, now))

    def pages_sent(self) -> list[AlertNotification]:
        return [n for n in self.sent if n.pages_a_person]


def _r2(alert_id: str = "r2", **kw: object) -> Alert:
    alert = make_alert(alert_id, rule="R2", priority=AlertPriority.HIGH, **kw)  # type: ignore[arg-type]
    return alert.model_copy(
        update={
            "title": "Back pain 6/10 with heart rate 128 bpm",
            "recommendations": (
                *alert.recommendations,
                alert.recommendations[0].model_copy(
                    update={"code": RecommendationCode.NOTIFY_PRESCRIBER, "text": "Notify."}
                ),
            ),
        }
    )


def _r1(alert_id: str = "r1", **kw: object) -> Alert:
    return make_alert(alert_id, rule="R1", priority=AlertPriority.MEDIUM, pain=6, **kw)  # type: ignore[arg-type]


def _r6(alert_id: str = "r6", **kw: object) -> Alert:
    return make_alert(alert_id, rule="R6", priority=AlertPriority.LOW, **kw)  # type: ignore[arg-type]


def test_one_report_three_rules_is_one_page_at_the_highest_priority() -> None:
    """The issue's new-user run: R1, R2 and R6 for one pain report paged three times."""
    pages = Pages()
    for alert in in_paging_order([_r1(), _r2(), _r6()]):
        pages.alert(alert, T0)
    sent = pages.pages_sent()
    assert [n.kind for n in sent] == [NotificationKind.START]
    page = sent[0].alert
    assert page.priority is AlertPriority.HIGH
    assert page.alert_id == "r2"
    codes = [r.code for r in page.recommendations]
    assert len(codes) == len(set(codes))
    assert RecommendationCode.NOTIFY_PRESCRIBER in codes
    # Each rule's evidence is kept, on the board and in the page.
    latest = pages.sent[-1]
    assert {a.rule for a in latest.page_alerts} == {"R1", "R2", "R6"}
    assert latest.alert.title.endswith("(+ R1, R6)")


def test_in_arrival_order_a_later_higher_finding_pages_once_more_only_when_it_raises() -> None:
    pages = Pages()
    pages.alert(_r6(), T0)  # low: the page opens
    pages.alert(_r1(), T0)  # medium joins: the priority rises, one more page
    pages.alert(_r1("r1b").model_copy(update={"rule": "R5"}), T0)  # medium again: no page
    assert [n.kind for n in pages.pages_sent()] == ["start", "update"]
    assert pages.sent[-1].kind is NotificationKind.REFRESH


def test_start_then_update_within_the_window_is_one_page() -> None:
    """Cross-topic read order: the rate step read after the pain corrects the evidence."""
    pages = Pages()
    pages.alert(_r1(), T0)
    corrected = _r1(phase=AlertPhase.UPDATE).model_copy(
        update={"evidence": _r1().evidence.model_copy(update={"rate_after_ml_h": 200.0})}
    )
    pages.alert(corrected, T0 + timedelta(seconds=1))
    assert [n.kind for n in pages.pages_sent()] == ["start"]
    assert pages.sent[-1].alert.evidence.rate_after_ml_h == 200.0  # the board shows it


def test_escalation_and_ack_act_on_the_page() -> None:
    pages = Pages()
    for alert in in_paging_order([_r1(), _r2()]):
        pages.alert(alert, T0)
    pages.tick(T0 + timedelta(seconds=20))
    escalations = [n for n in pages.sent if n.kind is NotificationKind.ESCALATE]
    assert len(escalations) == 1  # one page escalates, not one per rule
    ack = AlertAck(
        event_id="a1", alert_id="r2", patient_ref="pt-1", response=AckResponse.ACCEPTED,
        event_time=T0, responder_id="rn-ada",
    )  # fmt: skip
    pages.ack(ack, T0 + timedelta(seconds=25))
    # The clinical copy for the grouped R1 episode does not act on the page again.
    pages.ack(ack.model_copy(update={"event_id": "a1-r1", "alert_id": "r1", "page_id": "r2"}),
              T0 + timedelta(seconds=26))  # fmt: skip
    responses = [n for n in pages.sent if n.kind is NotificationKind.RESPONSE]
    assert len(responses) == 1
    assert responses[0].ack is not None
    assert responses[0].ack.responder_id == "rn-ada"
    pages.tick(T0 + timedelta(seconds=200))
    assert len([n for n in pages.sent if n.kind is NotificationKind.ESCALATE]) == 1


def test_end_never_pages_and_the_page_ends_with_its_last_episode() -> None:
    pages = Pages()
    for alert in in_paging_order([_r1(), _r2()]):
        pages.alert(alert, T0)
    pages.alert(_r2(phase=AlertPhase.END), T0 + timedelta(minutes=5))
    assert pages.sent[-1].kind is NotificationKind.REFRESH
    assert pages.sent[-1].alert.priority is AlertPriority.MEDIUM  # what is left on the page
    pages.alert(_r1(phase=AlertPhase.END), T0 + timedelta(minutes=6))
    assert pages.sent[-1].kind is NotificationKind.END
    assert not pages.sent[-1].pages_a_person
    assert [n.kind for n in pages.pages_sent()] == ["start"]


def test_after_the_window_an_answered_page_is_not_joined() -> None:
    pages = Pages()
    pages.alert(_r1(), T0)
    ack = AlertAck(event_id="a1", alert_id="r1", patient_ref="pt-1",
                   response=AckResponse.ACCEPTED, event_time=T0)  # fmt: skip
    pages.ack(ack, T0)
    pages.alert(_r2(minute=3), T0)  # within 5 min: joins (priority rises: one more page)
    pages.alert(_r6("r6", minute=30), T0)  # 30 min later, page answered: a page of its own
    kinds = [(n.kind.value, n.alert.alert_id) for n in pages.pages_sent()]
    assert kinds == [("start", "r1"), ("update", "r1"), ("start", "r6")]


def test_unanswered_page_collects_later_findings_without_paging_again() -> None:
    pages = Pages()
    pages.alert(_r2(), T0)
    pages.alert(_r1("r1", minute=40), T0)
    assert [n.kind for n in pages.pages_sent()] == ["start"]


def test_publish_order_keeps_each_episodes_phases_and_puts_ends_first() -> None:
    alerts = [_r6(), _r1(), _r1(phase=AlertPhase.END), _r2(), _r6("old", phase=AlertPhase.END)]
    ordered = in_paging_order(alerts)
    assert [(a.alert_id, a.phase.value) for a in ordered] == [
        ("old", "end"), ("r2", "start"), ("r1", "start"), ("r1", "end"), ("r6", "start"),
    ]  # fmt: skip


# --- The hold, quiet advisories and late members (issue 12, page target) ---------------------


def _advisory(alert_id: str = "r6", priority: AlertPriority = AlertPriority.LOW) -> Alert:
    return make_alert(alert_id, rule="R6", priority=priority).model_copy(
        update={"type": AlertType.ADVISORY, "title": "Assess renal function"}
    )


def test_findings_arriving_within_the_hold_go_out_once_at_their_final_priority() -> None:
    """R1 medium, then seconds later R2 high and an R1 update: one page, at high, on release."""
    pages = Pages(hold_s=2.0)
    pages.alert(_r1(), T0)
    pages.alert(_r2().model_copy(update={"event_time": T0 + timedelta(seconds=1)}), T0)
    assert pages.sent == []  # held: nobody paged yet
    pages.tick(T0 + timedelta(seconds=1.9))
    assert pages.sent == []
    pages.tick(T0 + timedelta(seconds=2))
    sent = pages.pages_sent()
    assert [(n.kind, n.alert.priority) for n in sent] == [
        (NotificationKind.START, AlertPriority.HIGH)
    ]
    # Escalation counts from the release, at the page's priority (high: 20 s).
    assert sent[0].escalation_due_at == T0 + timedelta(seconds=22)


def test_a_finding_from_beyond_the_hold_releases_the_held_page_first() -> None:
    """A replay at full speed delivers minutes of event time within the hold: the later finding
    pages again as it would have live, not silently."""
    pages = Pages(hold_s=2.0)
    pages.alert(_r1(), T0)
    pages.alert(_r2(minute=3), T0 + timedelta(seconds=0.1))
    sent = pages.pages_sent()
    assert [(n.kind, n.alert.priority) for n in sent] == [
        (NotificationKind.START, AlertPriority.MEDIUM),
        (NotificationKind.UPDATE, AlertPriority.HIGH),
    ]


def test_a_late_finding_does_not_join_the_hold_silently() -> None:
    pages = Pages(hold_s=2.0)
    pages.alert(_r1(), T0)
    pages.alert(_r2().model_copy(update={"late_by_min": 12.0}), T0 + timedelta(seconds=0.1))
    assert [n.kind for n in pages.pages_sent()] == [NotificationKind.START, NotificationKind.UPDATE]


def test_a_page_whose_findings_end_within_the_hold_pages_nobody() -> None:
    pages = Pages(hold_s=2.0)
    pages.alert(_r1(), T0)
    pages.alert(_r1(phase=AlertPhase.END), T0 + timedelta(seconds=0.5))
    pages.tick(T0 + timedelta(seconds=5))
    assert pages.sent == []


def test_a_low_advisory_is_a_notice_and_a_finding_joining_it_is_the_first_page() -> None:
    pages = Pages()
    pages.alert(_advisory(), T0)
    assert [n.kind for n in pages.sent] == [NotificationKind.NOTICE]
    assert pages.pages_sent() == []
    pages.tick(T0 + timedelta(hours=1))  # low advisories never escalate
    assert pages.pages_sent() == []
    pages.alert(_r1(minute=30), T0 + timedelta(minutes=30))
    sent = pages.pages_sent()
    assert [(n.kind, n.alert.priority, n.step) for n in sent] == [
        (NotificationKind.START, AlertPriority.MEDIUM, 0)
    ]
    assert sent[0].escalation_due_at == T0 + timedelta(minutes=31)


def test_a_medium_advisory_pages_by_default_and_the_roster_can_quiet_it() -> None:
    pages = Pages()
    pages.alert(_advisory("r8", AlertPriority.MEDIUM), T0)
    assert [n.kind for n in pages.pages_sent()] == [NotificationKind.START]
    quiet = parse_roster('advisories_page_from = "high"\n' + roster_toml())
    assert not quiet.pages_for(_advisory("r8", AlertPriority.MEDIUM))
    assert quiet.pages_for(_advisory("r8", AlertPriority.HIGH))


def test_a_finding_read_after_its_page_ended_reopens_it_without_paging_twice() -> None:
    """The faulted day's pt-010: R1 paged (medium, then high), its end read before R2's start
    (cross-topic read order), although R2's event time lies inside the page."""
    pages = Pages()
    pages.alert(_r1(), T0)
    pages.alert(
        _r1(phase=AlertPhase.UPDATE, minute=10).model_copy(update={"priority": AlertPriority.HIGH}),
        T0,
    )
    pages.alert(
        _r1(phase=AlertPhase.END, minute=50).model_copy(update={"priority": AlertPriority.HIGH}),
        T0,
    )
    pages.alert(_r2(minute=5), T0)
    pages.alert(_r2(phase=AlertPhase.END, minute=50), T0)
    kinds = [n.kind for n in pages.sent]
    assert kinds == [
        NotificationKind.START,
        NotificationKind.UPDATE,
        NotificationKind.END,
        NotificationKind.REFRESH,
        NotificationKind.END,
    ]
    assert len({n.notification_id for n in pages.sent}) == len(pages.sent)
    # A finding after the page's end is a new moment: a page of its own.
    pages.alert(_r2("r2-later", minute=60), T0)
    assert pages.sent[-1].kind is NotificationKind.START
