"""The nurse station's ``POST /api/symptom-reports`` (the page's "report pain" form) in process:
behind the station's token, validated by the ``SymptomReport`` schema alone, 202 with the event
id once sent, 422 with field problems, 503 when Kafka does not acknowledge in time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from schemas.alerts import AlertAck
from schemas.events import SymptomKind, SymptomReport
from streams.alerting.board import EpisodeBoard
from streams.alerting.nurse_station import api
from streams.alerting.nurse_station.api import build_nurse_station
from streams.alerting.roster import parse_roster
from tests.support.alerting import roster_toml

ROSTER = parse_roster(roster_toml())
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/api/symptom-reports"


def form_body(**changes: Any) -> dict[str, Any]:
    """What the page's form posts for back pain 7/10 with tingling."""
    body: dict[str, Any] = {
        "event_id": "ns-0123456789abcdef",
        "patient_ref": "pt-1",
        "event_time": "2026-03-02T10:18:00.000Z",
        "reporter": "nurse",
        "symptom": "back_pain",
        "pain_score": 7,
        "neurological": {"tingling": True, "weakness": False},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def _no_ack(ack: AlertAck) -> None:
    raise AssertionError("no ack expected")


async def _station(sent: list[SymptomReport], delay_s: float = 0) -> TestClient:
    async def send_symptom(report: SymptomReport) -> None:
        await asyncio.sleep(delay_s)
        sent.append(report)

    board = EpisodeBoard(lambda n: ROSTER.ward_for(n.alert), ROSTER.episode_retention_s)
    app = build_nurse_station(board, ROSTER, TOKEN, _no_ack, send_symptom=send_symptom)
    return TestClient(TestServer(app))


@pytest.fixture
async def station() -> AsyncIterator[tuple[TestClient, list[SymptomReport]]]:
    sent: list[SymptomReport] = []
    async with await _station(sent) as client:
        yield client, sent


async def test_a_report_from_the_form_is_sent_and_answered_with_its_event_id(
    station: tuple[TestClient, list[SymptomReport]],
) -> None:
    client, sent = station
    response = await client.post(PATH, headers=AUTH, json=form_body())

    assert response.status == 202
    assert await response.json() == {"event_id": "ns-0123456789abcdef"}
    (report,) = sent
    assert (report.patient_ref, report.symptom, report.pain_score) == (
        "pt-1",
        SymptomKind.BACK_PAIN,
        7,
    )
    assert report.reporter == "nurse"
    assert report.neurological.tingling
    assert report.event_time == datetime(2026, 3, 2, 10, 18, tzinfo=UTC)


async def test_the_station_token_is_needed(
    station: tuple[TestClient, list[SymptomReport]],
) -> None:
    client, sent = station
    assert (await client.post(PATH, json=form_body())).status == 401
    assert sent == []


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        pytest.param(
            {"pain_score": None},
            None,
            "a back_pain report needs pain_score (NRS 0-10)",
            id="no-pain-score",
        ),
        pytest.param(
            {"patient_ref": ""},
            "patient_ref",
            "String should have at least 1 character",
            id="no-patient",
        ),
        pytest.param({"symptom": None}, "symptom", "Field required", id="no-site"),
        pytest.param(
            {"pain_score": 11}, "pain_score", "Input should be less than or equal to 10", id="11"
        ),
    ],
)
async def test_an_invalid_report_names_the_field(
    station: tuple[TestClient, list[SymptomReport]],
    changes: dict[str, Any],
    field: str | None,
    reason: str,
) -> None:
    client, sent = station
    response = await client.post(PATH, headers=AUTH, data=json.dumps(form_body(**changes)))

    assert response.status == 422
    assert (await response.json())["problems"] == [{"field": field, "reason": reason}]
    assert sent == []


async def test_kafka_not_acknowledging_in_time_gives_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "SYMPTOM_SEND_TIMEOUT_S", 0.05)
    sent: list[SymptomReport] = []
    async with await _station(sent, delay_s=5) as client:
        response = await client.post(PATH, headers=AUTH, json=form_body())
        assert response.status == 503
        assert "send it again" in (await response.json())["detail"]
