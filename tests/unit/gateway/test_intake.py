"""The symptom intake API in process (aiohttp's test server, a fake Kafka send): token, schema
validation with field problems, body limit, 202 only after the send returned, 503 when it does
not in time; one outcome per request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.errors import KafkaConnectionError

from schemas.events import SymptomKind, SymptomReport
from streams.exceptions import SettingsError
from streams.gateway.intake import INTAKE_PATH, SymptomIntake, build_intake_app
from streams.kafka.connection import KafkaConnection
from tests.support.events import Patient

TOKEN = "intake-token-for-the-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_BODY_BYTES = 2048


def report_json(**changes: Any) -> dict[str, Any]:
    """A back-pain report 6/10 as a sender writes it, with ``changes`` (None removes a field)."""
    body: dict[str, Any] = json.loads(Patient("pt-1").pain(78, 6).model_dump_json())
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Intake:
    client: TestClient
    sent: list[SymptomReport] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


def intake_fixture(
    send: Callable[[SymptomReport, list[SymptomReport]], Awaitable[None]] | None = None,
) -> Callable[[], AsyncIterator[Intake]]:
    async def make() -> AsyncIterator[Intake]:
        sent: list[SymptomReport] = []
        outcomes: list[str] = []

        async def record(report: SymptomReport) -> None:
            if send is not None:
                await send(report, sent)
            else:
                sent.append(report)

        app = build_intake_app(TOKEN, record, MAX_BODY_BYTES, outcomes.append, ack_timeout_s=0.2)
        async with TestClient(TestServer(app)) as client:
            yield Intake(client, sent, outcomes)

    return make


intake = pytest.fixture(intake_fixture())


async def _never_acknowledged(report: SymptomReport, sent: list[SymptomReport]) -> None:
    await asyncio.sleep(3600)


async def _kafka_refuses(report: SymptomReport, sent: list[SymptomReport]) -> None:
    raise KafkaConnectionError("no broker")


never_acknowledged = pytest.fixture(intake_fixture(_never_acknowledged))
kafka_refuses = pytest.fixture(intake_fixture(_kafka_refuses))


async def test_a_valid_report_is_sent_then_answered_202_with_its_event_id(intake: Intake) -> None:
    body = report_json(neurological={"tingling": True})

    response = await intake.client.post(INTAKE_PATH, headers=AUTH, json=body)

    assert response.status == 202
    assert await response.json() == {"event_id": "pt-1-pain-78"}
    (sent,) = intake.sent
    assert (sent.patient_ref, sent.symptom, sent.pain_score) == ("pt-1", SymptomKind.BACK_PAIN, 6)
    assert sent.neurological.tingling
    assert intake.outcomes == ["accepted"]


async def test_the_scheme_is_case_insensitive(intake: Intake) -> None:
    headers = {"Authorization": f"bearer {TOKEN}"}
    response = await intake.client.post(INTAKE_PATH, headers=headers, json=report_json())
    assert response.status == 202


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer wrong-token-of-some-length"}, id="wrong-token"),
        pytest.param({"Authorization": TOKEN}, id="no-bearer-prefix"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="other-scheme"),
        pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}"}, id="token-prefix"),
    ],
)
async def test_without_the_token_nothing_is_read_or_sent(
    intake: Intake, headers: dict[str, str]
) -> None:
    response = await intake.client.post(INTAKE_PATH, headers=headers, json=report_json())

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["error"] == "unauthorized"
    assert intake.sent == []
    assert intake.outcomes == ["unauthorized"]


@pytest.mark.parametrize(
    ("body", "status", "field", "reason"),
    [
        pytest.param(b"{not json", 400, None, "Invalid JSON: key must be a string", id="not-json"),
        pytest.param(
            report_json(pain_score=11), 422, "pain_score", "Input should be less than", id="pain-11"
        ),
        pytest.param(
            report_json(pain_score=None),
            422,
            None,
            "a back_pain report needs pain_score (NRS 0-10)",
            id="back-pain-without-score",
        ),
        pytest.param(
            report_json(symptom="knee_pain"),
            422,
            "symptom",
            "Input should be 'back_pain', 'headache', ",
            id="unknown-symptom",
        ),
        pytest.param(
            report_json(patient_ref="Jane Doe"),
            422,
            "patient_ref",
            "String should match pattern",
            id="patient-ref-with-space",
        ),
        pytest.param(
            report_json(event_time="2026-03-02T10:18:00"),
            422,
            "event_time",
            "Input should have timezone info",
            id="naive-time",
        ),
        pytest.param(report_json(event_id=None), 422, "event_id", "Field required", id="no-id"),
        pytest.param(
            report_json(mrn="12345678"), 422, "mrn", "Extra inputs are not permitted", id="extra"
        ),
        pytest.param(
            report_json(neurological={"weakness": "maybe"}),
            422,
            "neurological.weakness",
            "Input should be a valid boolean",
            id="neuro-not-boolean",
        ),
    ],
)
async def test_an_invalid_report_is_refused_with_its_field_problems(
    intake: Intake, body: bytes | dict[str, Any], status: int, field: str | None, reason: str
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    response = await intake.client.post(INTAKE_PATH, headers=AUTH, data=data)

    assert response.status == status
    answer = await response.json()
    assert answer["error"] == "invalid"
    (problem,) = answer["problems"]
    assert problem["field"] == field
    assert problem["reason"].startswith(reason)
    assert intake.sent == []
    assert intake.outcomes == ["invalid"]


async def test_a_body_over_the_limit_is_refused_413(intake: Intake) -> None:
    oversized = json.dumps(report_json(symptom="other", pain_score=None) | {"x": "a" * 4096})

    response = await intake.client.post(INTAKE_PATH, headers=AUTH, data=oversized.encode())

    assert response.status == 413
    assert (await response.json())["detail"] == f"the body is larger than {MAX_BODY_BYTES} bytes"
    assert intake.sent == []
    assert intake.outcomes == ["too_large"]


async def test_a_chunked_body_over_the_limit_is_refused_413(intake: Intake) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read up to the limit only
        for _ in range(8):
            yield b" " * 512

    response = await intake.client.post(INTAKE_PATH, headers=AUTH, data=chunks())

    assert response.status == 413
    assert intake.outcomes == ["too_large"]


async def test_kafka_not_acknowledging_in_time_gives_503_with_retry_after(
    never_acknowledged: Intake,
) -> None:
    response = await never_acknowledged.client.post(INTAKE_PATH, headers=AUTH, json=report_json())

    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert "retry with the same event_id" in (await response.json())["detail"]
    assert never_acknowledged.outcomes == ["unavailable"]


async def test_a_kafka_error_gives_503(kafka_refuses: Intake) -> None:
    response = await kafka_refuses.client.post(INTAKE_PATH, headers=AUTH, json=report_json())

    assert response.status == 503
    assert kafka_refuses.outcomes == ["unavailable"]


async def test_other_methods_and_paths_are_not_outcomes(intake: Intake) -> None:
    assert (await intake.client.get(INTAKE_PATH, headers=AUTH)).status == 405
    assert (await intake.client.post("/v1/other", headers=AUTH, json={})).status == 404
    assert intake.outcomes == []


def test_a_short_token_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="PUMPSTREAM_INTAKE_TOKEN"):
        SymptomIntake(KafkaConnection("127.0.0.1:9"), "short", "127.0.0.1", 0, MAX_BODY_BYTES)
