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
