"""The nurse station's HTTP API in process (aiohttp test server): token, listing, long poll,
acknowledgement; and the episode board and Alertmanager body it reads from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from schemas.alerts import AckResponse, ActionTaken, AlertAck, AlertPhase, AlertPriority
from streams.alerting.board import EpisodeBoard
from streams.alerting.channels.alertmanager import LABEL_NAMES, alertmanager_alerts, label_set
from streams.alerting.lifecycle import on_alert
from streams.alerting.nurse_station.api import build_nurse_station
from streams.alerting.roster import parse_roster
from tests.support.alerting import make_alert, roster_toml

ROSTER = parse_roster(
    roster_toml(
        extra='\n[wards.day-unit]\nchain = [{ role = "bedside_nurse", name = "N", contact = "c" }]\n'
    )
)
TOKEN = "s3cret-token-for-tests"
NOW = datetime.now(UTC)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _board() -> EpisodeBoard:
    board = EpisodeBoard(lambda n: ROSTER.ward_for(n.alert), ROSTER.episode_retention_s)
    board.mark_caught_up()
    return board


@pytest.fixture
async def station() -> AsyncIterator[tuple[TestClient, EpisodeBoard, list[AlertAck]]]:
    board = _board()
    sent: list[AlertAck] = []

    async def send_ack(ack: AlertAck) -> None:
        sent.append(ack)

    app = build_nurse_station(board, ROSTER, TOKEN, send_ack, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        yield client, board, sent


async def test_api_needs_the_bearer_token(
    station: tuple[TestClient, EpisodeBoard, list[AlertAck]],
) -> None:
    client, _, _ = station
    assert (await client.get("/api/alerts")).status == 401
    wrong = await client.get("/api/alerts", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    page = await client.get("/nurse-station")
    assert page.status == 200
    assert "Nurse station" in await page.text()


async def test_lists_a_wards_open_alerts_and_accepts_an_ack(
    station: tuple[TestClient, EpisodeBoard, list[AlertAck]],
) -> None:
    client, board, sent = station
    board.apply(on_alert(None, make_alert("a-high"), ROSTER, NOW, 0).notifications[0])
    board.apply(
        on_alert(None, make_alert("a-day", ward="day-unit"), ROSTER, NOW, 0).notifications[0]
    )

    listing = await (await client.get("/api/alerts?ward=infusion-centre", headers=AUTH)).json()
    assert [a["alert_id"] for a in listing["alerts"]] == ["a-high"]
    alert = listing["alerts"][0]
    assert alert["recipient"] == {"role": "bedside_nurse", "name": "Bay nurse"}
    assert alert["evidence"]["pain_score"] == 8
    assert [r["code"] for r in alert["recommendations"]] == ["pause", "hydrate"]

    answer = await client.post(
        "/api/alerts/a-high/ack",
        headers=AUTH,
        json={"response": "true_positive", "action_taken": "paused"},
    )
    assert answer.status == 202
    assert [(a.alert_id, a.patient_ref, a.response, a.action_taken) for a in sent] == [
        ("a-high", "pt-1", AckResponse.TRUE_POSITIVE, ActionTaken.PAUSED)
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        pytest.param("/api/alerts/nope/ack", {"response": "accepted"}, 404, "no open alert 'nope'", id="unknown-alert"),
        pytest.param("/api/alerts/a-1/ack", {"response": "maybe"}, 400, "response: Input should be", id="bad-response"),
        pytest.param("/api/alerts/a-1/ack", {"response": "accepted", "x": 1}, 400, "x: Extra inputs", id="extra-field"),
    ],
)  # fmt: skip
async def test_bad_acks_are_refused_with_a_reason(
    station: tuple[TestClient, EpisodeBoard, list[AlertAck]],
    path: str,
    body: dict[str, object],
    status: int,
    text: str,
) -> None:
    client, board, sent = station
    board.apply(on_alert(None, make_alert("a-1"), ROSTER, NOW, 0).notifications[0])
    response = await client.post(path, headers=AUTH, json=body)
    assert response.status == status
    assert text in await response.text()
    assert sent == []


async def test_long_poll_returns_when_the_board_changes(
    station: tuple[TestClient, EpisodeBoard, list[AlertAck]],
) -> None:
    client, board, _ = station
    first = await (await client.get("/api/alerts", headers=AUTH)).json()
    pending = client.get(f"/api/alerts?after={first['version']}", headers=AUTH)
    board.apply(on_alert(None, make_alert("a-new"), ROSTER, NOW, 0).notifications[0])
    changed = await (await pending).json()
    assert changed["version"] > first["version"]
    assert [a["alert_id"] for a in changed["alerts"]] == ["a-new"]


def test_board_drops_ended_episodes_and_orders_by_priority() -> None:
    board = _board()
    low = on_alert(None, make_alert("low", priority=AlertPriority.LOW), ROSTER, NOW, 0)
    high = on_alert(None, make_alert("high"), ROSTER, NOW + timedelta(seconds=1), 0)
    for transition in (low, high):
        board.apply(transition.notifications[0])
    assert [e.latest.alert.alert_id for e in board.entries(NOW)] == ["high", "low"]
    end = on_alert(low.episode, make_alert("low", phase=AlertPhase.END), ROSTER, NOW, 0)
    board.apply(end.notifications[0])
    assert [e.latest.alert.alert_id for e in board.entries(NOW)] == ["high"]


def test_alertmanager_labels_are_only_ward_rule_priority_type() -> None:
    board = _board()
    first = on_alert(None, make_alert("one", patient="pt-1"), ROSTER, NOW, 0)
    second = on_alert(None, make_alert("two", patient="pt-2"), ROSTER, NOW, 0)
    for transition in (first, second):
        board.apply(transition.notifications[0])
    entries = board.entries(NOW)
    labels = label_set(entries[0], "infusion-centre")
    body = alertmanager_alerts({labels: entries}, {(("ward", "day-unit"),)}, NOW, 60, None)
    firing, resolved = body
    assert tuple(firing["labels"]) == LABEL_NAMES
    assert firing["labels"] == {
        "ward": "infusion-centre",
        "rule": "R1",
        "priority": "high",
        "type": "physiological",
    }
    assert "pt-" not in str(firing["labels"]), "no patient reference in labels"
    assert firing["annotations"]["alert_ids"] == "one,two"
    assert firing["endsAt"] == (NOW + timedelta(seconds=240)).isoformat()
    assert resolved["endsAt"] == NOW.isoformat()


# --- Issue 12: the grouped page's answer, who answers, history ---------------------------------

STAFF_ROSTER = parse_roster(
    roster_toml()
    + '\n[[staff]]\nid = "n-ahmed"\nname = "A. Ahmed"\n'
    + '\n[[staff]]\nid = "cn-okoro"\nname = "B. Okoro"\nrole = "charge_nurse"\n'
)


def _grouped_page_notification(roster: object = ROSTER) -> object:
    """R2 opens a page, R1 and R6 join it: the page's notification lists all three."""
    from streams.alerting.page_grouping import join_page

    assert roster is ROSTER or roster is STAFF_ROSTER
    r2 = make_alert("page-r2", rule="R2", priority=AlertPriority.HIGH)
    r1 = make_alert("page-r1", rule="R1", priority=AlertPriority.MEDIUM)
    r6 = make_alert("page-r6", rule="R6", priority=AlertPriority.LOW)
    opened = on_alert(None, r2, roster, NOW, 0)  # type: ignore[arg-type]
    assert opened.episode is not None
    joined = join_page(opened.episode, r1, roster, NOW)  # type: ignore[arg-type]
    assert joined.episode is not None
    again = join_page(joined.episode, r6, roster, NOW)  # type: ignore[arg-type]
    return again.notifications[-1]


async def test_an_answer_to_a_grouped_page_is_copied_to_each_of_its_episodes(
    station: tuple[TestClient, EpisodeBoard, list[AlertAck]],
) -> None:
    client, board, sent = station
    note = _grouped_page_notification()
    board.apply(note)  # type: ignore[arg-type]
    answer = await client.post(
        "/api/alerts/page-r2/ack",
        headers=AUTH,
        json={"response": "false_positive", "action_taken": "none", "responder_id": "n-ahmed"},
    )
    assert answer.status == 202
    event_id = (await answer.json())["event_id"]
    assert [(a.alert_id, a.page_id) for a in sent] == [
        ("page-r2", None),
        ("page-r1", "page-r2"),
        ("page-r6", "page-r2"),
    ]
    assert len({a.event_id for a in sent}) == 3
    assert all(a.event_id.startswith(event_id) for a in sent)
    assert {(a.response, a.responder_id, a.patient_ref) for a in sent} == {
        (AckResponse.FALSE_POSITIVE, "n-ahmed", "pt-1")
    }


async def test_with_a_staff_list_every_answer_names_a_known_nurse() -> None:
    board = _board()
    sent: list[AlertAck] = []

    async def send_ack(ack: AlertAck) -> None:
        sent.append(ack)

    app = build_nurse_station(board, STAFF_ROSTER, TOKEN, send_ack, clock=lambda: NOW)
    board.apply(on_alert(None, make_alert("a-1"), STAFF_ROSTER, NOW, 0).notifications[0])
    async with TestClient(TestServer(app)) as client:
        wards = await (await client.get("/api/wards", headers=AUTH)).json()
        assert [m["id"] for m in wards["staff"]] == ["n-ahmed", "cn-okoro"]
        for body in (
            {"response": "accepted"},
            {"response": "accepted", "responder_id": "n-nobody"},
        ):
            refused = await client.post("/api/alerts/a-1/ack", headers=AUTH, json=body)
            assert refused.status == 400
            assert "responder_id" in await refused.text()
        ok = await client.post(
            "/api/alerts/a-1/ack",
            headers=AUTH,
            json={"response": "accepted", "action_taken": "slowed", "responder_id": "cn-okoro"},
        )
        assert ok.status == 202
    (ack,) = sent
    assert (ack.responder_id, ack.responder_role) == ("cn-okoro", "charge_nurse")


def test_a_roster_with_duplicate_staff_ids_is_refused() -> None:
    from streams.alerting.roster import RosterError

    with pytest.raises(RosterError, match="staff ids must be unique"):
        parse_roster(roster_toml() + '\n[[staff]]\nid = "n-a"\nname = "A"\n' * 2)


async def test_closed_pages_and_their_answers_are_listed_as_history(
    station: tuple[TestClient, EpisodeBoard, list[AlertAck]],
) -> None:
    client, board, _ = station
    opened = on_alert(None, make_alert("closing"), ROSTER, NOW, 0)
    board.apply(opened.notifications[0])
    assert opened.episode is not None
    ack = AlertAck(
        event_id="ack-1",
        alert_id="closing",
        patient_ref="pt-1",
        response=AckResponse.ACCEPTED,
        action_taken=ActionTaken.PAUSED,
        responder_id="n-ahmed",
        event_time=NOW,
    )
    from streams.alerting.lifecycle import on_ack

    answered = on_ack(opened.episode, ack, ROSTER, NOW)
    board.apply(answered.notifications[0])
    assert answered.episode is not None
    ended = on_alert(answered.episode, make_alert("closing", phase=AlertPhase.END), ROSTER, NOW, 0)
    board.apply(ended.notifications[0].model_copy(update={"ack": None}))
    listing = await (await client.get("/api/alerts", headers=AUTH)).json()
    assert listing["alerts"] == []
    (closed,) = listing["history"]
    assert closed["alert_id"] == "closing"
    assert closed["closed_at"] is not None
    assert closed["ack"]["responder_id"] == "n-ahmed", "the page's last answer is kept"
