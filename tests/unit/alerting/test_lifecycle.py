"""The alert lifecycle with an injectable clock: paging once, escalation timers, responses."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.alerts import AckResponse, ActionTaken, AlertAck, AlertPhase, AlertPriority
from schemas.notifications import AlertNotification, NotificationKind
from streams.alerting.lifecycle import PagingEpisode, Transition, is_due, on_ack, on_alert, on_tick
from streams.alerting.roster import Roster, parse_roster
from tests.support.alerting import T0, make_alert, roster_toml

ROSTER = parse_roster(roster_toml())
NOW = T0 + timedelta(minutes=1)


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def ack(response: AckResponse, event_id: str = "ack-1", alert_id: str = "alert-1") -> AlertAck:
    return AlertAck(
        event_id=event_id,
        alert_id=alert_id,
        patient_ref="pt-1",
        response=response,
        action_taken=ActionTaken.SLOWED,
        event_time=NOW,
    )


def started(priority: AlertPriority = AlertPriority.HIGH, roster: Roster = ROSTER) -> PagingEpisode:
    transition = on_alert(None, make_alert(priority=priority), roster, NOW, partition=1)
    assert transition.episode is not None
    return transition.episode


def only(transition: Transition) -> AlertNotification:
    assert len(transition.notifications) == 1, transition.notifications
    return transition.notifications[0]


def test_start_pages_the_bedside_nurse_and_schedules_escalation() -> None:
    transition = on_alert(None, make_alert(), ROSTER, NOW, partition=1)
    page = only(transition)
    assert (page.kind, page.step, page.recipient.role) == ("start", 0, "bedside_nurse")
    assert page.escalation_due_at == NOW + timedelta(seconds=20)
    assert page.triggered_at == make_alert().event_time
    assert transition.episode is not None
    assert transition.episode.partition == 1


@pytest.mark.parametrize(
    ("priority", "timeout_s"),
    [
        pytest.param(AlertPriority.HIGH, 20, id="high-escalates-after-20s"),
        pytest.param(AlertPriority.MEDIUM, 60, id="medium-escalates-after-60s"),
    ],
)
def test_unacknowledged_alert_escalates_exactly_at_its_timeout(
    priority: AlertPriority, timeout_s: float
) -> None:
    clock = FakeClock(NOW)
    episode = started(priority)
    just_before = clock.advance(timeout_s - 0.1)
    assert not is_due(episode, ROSTER, just_before)
    assert on_tick(episode, ROSTER, just_before).notifications == ()

    at = clock.advance(0.1)
    assert is_due(episode, ROSTER, at)
    transition = on_tick(episode, ROSTER, at)
    page = only(transition)
    assert (page.kind, page.step, page.recipient.role) == ("escalate", 1, "charge_nurse")
    assert page.triggered_at == NOW + timedelta(seconds=timeout_s)
    assert page.escalation_due_at == at + timedelta(seconds=timeout_s)


def test_escalation_walks_the_chain_and_stops_at_its_end() -> None:
    clock = FakeClock(NOW)
    episode = started()
    roles = []
    for _ in range(4):
        transition = on_tick(episode, ROSTER, clock.advance(20))
        assert transition.episode is not None
        episode = transition.episode
        roles += [n.recipient.role for n in transition.notifications]
    assert roles == ["charge_nurse", "prescriber"]
    assert episode.escalation_due_at is None


def test_low_priority_never_escalates() -> None:
    episode = started(AlertPriority.LOW)
    assert episode.escalation_due_at is None
    assert on_tick(episode, ROSTER, NOW + timedelta(hours=1)).notifications == ()


@pytest.mark.parametrize(
    "response",
    [
        AckResponse.ACCEPTED,
        AckResponse.TRUE_POSITIVE,
        AckResponse.NOT_CLINICALLY_RELEVANT,
        AckResponse.FALSE_POSITIVE,
        AckResponse.CALLBACK,
    ],
)
def test_a_response_taking_responsibility_stops_escalation(response: AckResponse) -> None:
    clock = FakeClock(NOW)
    episode = started()
    transition = on_ack(episode, ack(response), ROSTER, clock.advance(8))
    note = only(transition)
    assert note.kind == "response"
    assert not note.delivered_by_channels
    assert note.ack is not None
    assert note.ack.response == response
    assert transition.episode is not None
    assert transition.episode.escalation_due_at is None
    assert on_tick(transition.episode, ROSTER, clock.advance(60)).notifications == ()


@pytest.mark.parametrize("response", [AckResponse.DELIVERED, AckResponse.READ])
def test_a_delivery_receipt_does_not_stop_escalation(response: AckResponse) -> None:
    episode = started()
    transition = on_ack(episode, ack(response), ROSTER, NOW + timedelta(seconds=3))
    assert transition.episode is not None
    assert only(on_tick(transition.episode, ROSTER, NOW + timedelta(seconds=20))).kind == "escalate"


def test_rejected_escalates_at_once() -> None:
    transition = on_ack(started(), ack(AckResponse.REJECTED), ROSTER, NOW + timedelta(seconds=2))
    page = only(transition)
    assert (page.kind, page.recipient.role) == ("escalate", "charge_nurse")
    assert page.escalation_due_at == NOW + timedelta(seconds=22)


def test_redelivered_start_and_ack_change_nothing() -> None:
    episode = started()
    assert on_alert(episode, make_alert(), ROSTER, NOW, partition=1).ignored
    answered = on_ack(episode, ack(AckResponse.ACCEPTED), ROSTER, NOW).episode
    assert answered is not None
    assert on_ack(answered, ack(AckResponse.ACCEPTED), ROSTER, NOW).ignored


@pytest.mark.parametrize(
    ("start_priority", "change", "kinds"),
    [
        pytest.param(
            AlertPriority.HIGH, {"pain": 8, "minute": 3}, [], id="same-evidence-later-report-silent"
        ),
        pytest.param(
            AlertPriority.HIGH, {"pain": 9}, ["refresh"], id="pain-changed-same-priority-refreshes"
        ),
        pytest.param(
            AlertPriority.HIGH,
            {"priority": AlertPriority.MEDIUM, "pain": 8},
            ["refresh"],
            id="priority-lowered-refreshes-only",
        ),
        pytest.param(
            AlertPriority.MEDIUM,
            {"priority": AlertPriority.HIGH, "pain": 8},
            ["update"],
            id="priority-raised-pages",
        ),
    ],
)
def test_update_pages_only_when_the_priority_rises(
    start_priority: AlertPriority, change: dict[str, object], kinds: list[str]
) -> None:
    """Issue 12: an update pages again only above the priority already paged; any other
    material change refreshes the nurse station, which no channel delivers."""
    episode = on_alert(None, make_alert(priority=start_priority), ROSTER, NOW, partition=1).episode
    assert episode is not None
    update = make_alert(phase=AlertPhase.UPDATE, **change)  # type: ignore[arg-type]
    transition = on_alert(episode, update, ROSTER, NOW + timedelta(seconds=5), partition=1)
    assert [n.kind for n in transition.notifications] == kinds
    assert all(n.pages_a_person == (n.kind == "update") for n in transition.notifications)


def test_lowered_then_raised_again_pages_only_above_what_was_paged() -> None:
    episode = on_alert(None, make_alert(priority=AlertPriority.HIGH), ROSTER, NOW, 1).episode
    assert episode is not None
    lower = make_alert(phase=AlertPhase.UPDATE, priority=AlertPriority.MEDIUM, pain=5)
    lowered = on_alert(episode, lower, ROSTER, NOW, 1).episode
    assert lowered is not None
    assert lowered.highest_paged is AlertPriority.HIGH
    back = make_alert(phase=AlertPhase.UPDATE, priority=AlertPriority.HIGH, pain=7)
    transition = on_alert(lowered, back, ROSTER, NOW, 1)
    assert [n.kind for n in transition.notifications] == ["refresh"]


def test_priority_raise_restarts_the_timer_with_the_new_timeout() -> None:
    episode = started(AlertPriority.MEDIUM)
    raised = make_alert(phase=AlertPhase.UPDATE, priority=AlertPriority.HIGH, pain=9)
    later = NOW + timedelta(seconds=30)
    transition = on_alert(episode, raised, ROSTER, later, partition=1)
    assert only(transition).escalation_due_at == later + timedelta(seconds=20)


def test_end_closes_the_episode_and_late_phases_stay_silent() -> None:
    episode = started()
    ended = on_alert(episode, make_alert(phase=AlertPhase.END), ROSTER, NOW, partition=1)
    assert only(ended).kind == "end"
    assert only(ended).delivered_by_channels
    assert ended.episode is not None
    assert ended.episode.escalation_due_at is None
    assert on_alert(ended.episode, make_alert(), ROSTER, NOW, partition=1).ignored
    assert on_tick(ended.episode, ROSTER, NOW + timedelta(hours=1)).notifications == ()
    forgotten = on_tick(ended.episode, ROSTER, NOW + timedelta(days=2))
    assert forgotten.episode is None
    assert not forgotten.ignored


def test_end_without_a_known_start_is_ignored() -> None:
    assert on_alert(None, make_alert(phase=AlertPhase.END), ROSTER, NOW, partition=0).ignored


def test_unknown_ward_routes_to_the_default_ward() -> None:
    page = only(on_alert(None, make_alert(ward="nowhere"), ROSTER, NOW, partition=0))
    assert page.recipient.contact == "dect-4101"


def test_notification_ids_are_deterministic_per_transition() -> None:
    first = only(on_alert(None, make_alert(), ROSTER, NOW, partition=0))
    again = only(on_alert(None, make_alert(), ROSTER, NOW + timedelta(seconds=1), partition=0))
    escalated = only(on_tick(started(), ROSTER, NOW + timedelta(seconds=20)))
    assert first.notification_id == again.notification_id != escalated.notification_id


def test_episode_survives_the_table_round_trip() -> None:
    episode = on_ack(started(), ack(AckResponse.READ), ROSTER, NOW).episode
    assert episode is not None
    assert PagingEpisode.from_table_value(episode.to_table_value()) == episode


INPUTS = st.lists(
    st.one_of(
        st.tuples(
            st.just("alert"), st.sampled_from(["start", "update", "end"]), st.integers(1, 10)
        ),
        st.tuples(st.just("ack"), st.sampled_from(list(AckResponse)), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.just(""), st.integers(0, 90)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(INPUTS)
def test_any_input_sequence_pages_start_once_and_escalates_forward(
    inputs: list[tuple[str, object, int]],
) -> None:
    clock = FakeClock(NOW)
    episode: PagingEpisode | None = None
    notes: list[AlertNotification] = []
    for kind, what, number in inputs:
        now = clock.advance(number if kind == "tick" else 1)
        if kind == "alert":
            alert = make_alert(phase=AlertPhase(str(what)), pain=number)
            transition = on_alert(episode, alert, ROSTER, now, partition=0)
        elif kind == "ack":
            response = AckResponse(str(what))
            transition = on_ack(episode, ack(response, f"ack-{number}"), ROSTER, now)
        elif episode is not None:
            transition = on_tick(episode, ROSTER, now)
        else:
            continue
        episode = transition.episode
        notes += transition.notifications
    kinds = [n.kind for n in notes]
    assert kinds.count(NotificationKind.START) <= 1
    assert kinds.count(NotificationKind.END) <= 1
    assert len({n.notification_id for n in notes}) == len(notes), "no transition emitted twice"
    if NotificationKind.END in kinds:
        assert kinds[-1] == NotificationKind.END, "nothing after the end"
    steps = [n.step for n in notes if n.kind == NotificationKind.ESCALATE]
    assert steps == sorted(set(steps)), "escalation only moves forward, one step at a time"
