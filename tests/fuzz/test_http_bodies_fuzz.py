"""The HTTP APIs under any request: the nurse station (ack, report pain, alert listing) and the
gateway's symptom intake answer every body, query, path and header with 2xx or 4xx, never 5xx;
what they accept (202) ingest accepts too."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from schemas.alerts import AckResponse, ActionTaken, AlertAck
from schemas.events import SymptomReport
from schemas.raw_validation import Accepted, validate_raw
from schemas.topics import SYMPTOMS_RAW
from streams.alerting.board import EpisodeBoard
from streams.alerting.lifecycle import on_alert
from streams.alerting.nurse_station import api
from streams.alerting.nurse_station.api import build_nurse_station
from streams.alerting.roster import parse_roster
from streams.gateway.intake import INTAKE_PATH, build_intake_app
from tests.fuzz.budget import budget
from tests.fuzz.hostile_json import hostile_json, json_values, valid_json
from tests.fuzz.served_app import ServedApp, raw_request, served
from tests.support.alerting import make_alert, roster_toml

TOKEN = "fuzz-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ROSTER = parse_roster(roster_toml())
OPEN_ALERT = "a-open"
INTAKE_MAX_BODY_BYTES = 2048


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body).encode()


symptom_bodies = st.one_of(
    st.binary(max_size=3000), hostile_json(SYMPTOMS_RAW), valid_json(SYMPTOMS_RAW)
)
ack_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: _json_bytes(v)),
    st.fixed_dictionaries(
        {},
        optional={
            "response": st.one_of(st.sampled_from([r.value for r in AckResponse]), json_values),
            "action_taken": st.one_of(st.sampled_from([a.value for a in ActionTaken]), json_values),
            "responder_role": st.one_of(st.text(max_size=40), json_values),
            "extra": json_values,
        },
    ).map(lambda body: _json_bytes(body)),
)
#: Header values as bytes on the wire (anything but the line ends that would end the header).
header_bytes = st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b)
#: Content-Encoding values; gzip and deflate (with a body not so encoded) are the reported bug
#: below, kept out of the properties so they go on testing everything else.
encodings = st.sampled_from([b"", b"identity", b"br", b"zstd", b"x", b"gzip, gzip"])
utf8_header_bytes = (
    st.text(max_size=40).map(str.encode).filter(lambda b: b"\r" not in b and b"\n" not in b)
)


def _no_server_error(status: int | None) -> None:
    event(f"status {status}")
    assert status is None or status < 500, status


@pytest.fixture(scope="module")
def nurse_station() -> Iterator[tuple[ServedApp, list[AlertAck], list[SymptomReport]]]:
    board = EpisodeBoard(lambda n: ROSTER.ward_for(n.alert), ROSTER.episode_retention_s)
    board.mark_caught_up()
    board.apply(on_alert(None, make_alert(OPEN_ALERT), ROSTER, NOW, 0).notifications[0])
    acks: list[AlertAck] = []
    reports: list[SymptomReport] = []

    async def send_ack(ack: AlertAck) -> None:
        acks.append(ack)

    async def send_symptom(report: SymptomReport) -> None:
        reports.append(report)

    app = build_nurse_station(board, ROSTER, TOKEN, send_ack, lambda: NOW, send_symptom)
    with served(app) as station:
        yield station, acks, reports


@pytest.fixture(scope="module")
def intake() -> Iterator[tuple[ServedApp, list[SymptomReport]]]:
    reports: list[SymptomReport] = []

    async def send(report: SymptomReport) -> None:
        reports.append(report)

    app = build_intake_app(TOKEN, send, INTAKE_MAX_BODY_BYTES, ack_timeout_s=1.0)
    with served(app) as server:
        yield server, reports


def _ingest_accepts(report: SymptomReport) -> None:
    """What an API accepted and sends to ``symptoms.raw``, ingest accepts."""
    outcome = validate_raw(
        SYMPTOMS_RAW, report.patient_ref.encode(), report.model_dump_json().encode()
    )
    assert isinstance(outcome, Accepted), outcome


@budget(150)
@given(body=ack_bodies)
def test_nurse_station_ack_bodies(
    nurse_station: tuple[ServedApp, list[AlertAck], list[SymptomReport]], body: bytes
) -> None:
    station, acks, _ = nurse_station
    before = len(acks)
    status, _ = station.request("POST", f"/api/alerts/{OPEN_ALERT}/ack", data=body, headers=AUTH)
    _no_server_error(status)
    assert status in (202, 400)
    assert len(acks) == before + (status == 202)


@budget(200)
@given(body=symptom_bodies)
def test_nurse_station_symptom_report_bodies(
    nurse_station: tuple[ServedApp, list[AlertAck], list[SymptomReport]], body: bytes
) -> None:
    station, _, reports = nurse_station
    before = len(reports)
    status, _ = station.request("POST", "/api/symptom-reports", data=body, headers=AUTH)
    _no_server_error(status)
    assert status in (202, 422)
    if status == 202:
        assert len(reports) == before + 1
        _ingest_accepts(reports[-1])


@budget(150)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.one_of(
        st.sampled_from(["/api/alerts", "/api/wards", f"/api/alerts/{OPEN_ALERT}/ack", "/"]),
        st.text(max_size=40).map(lambda p: "/api/" + p),
    ),
    query=st.dictionaries(
        st.sampled_from(["ward", "after", "x"]),
        st.one_of(st.text(max_size=20), st.integers(-(10**30), 10**30).map(str)),
        max_size=3,
    ),
    authorised=st.booleans(),
)
def test_nurse_station_paths_queries_and_methods(
    nurse_station: tuple[ServedApp, list[AlertAck], list[SymptomReport]],
    method: str,
    path: str,
    query: dict[str, str],
    authorised: bool,
) -> None:
    station, _, _ = nurse_station
    headers = AUTH if authorised else {}
    # A long poll for a version that never comes would hold each example for 20 s.
    with mock.patch.object(api, "LONG_POLL_S", 0.01):
        status, _ = station.request(method, path, params=query, headers=headers, data=b"{}")
    _no_server_error(status)


@budget(100)
@given(
    authorization=utf8_header_bytes,
    content_type=header_bytes,
    encoding=encodings,
    body=symptom_bodies,
)
def test_nurse_station_raw_requests(
    nurse_station: tuple[ServedApp, list[AlertAck], list[SymptomReport]],
    authorization: bytes,
    content_type: bytes,
    encoding: bytes,
    body: bytes,
) -> None:
    station, _, _ = nurse_station
    for auth in (authorization, f"Bearer {TOKEN}".encode()):
        headers = [(b"Authorization", auth), (b"Content-Type", content_type)]
        if encoding:
            headers.append((b"Content-Encoding", encoding))
        _no_server_error(station.raw(raw_request("/api/symptom-reports", headers, body)))


def test_nurse_station_authorization_header_that_is_not_utf8(
    nurse_station: tuple[ServedApp, list[AlertAck], list[SymptomReport]],
) -> None:
    station, _, _ = nurse_station
    request = raw_request("/api/symptom-reports", [(b"Authorization", b"Bearer \xff")], b"{}")
    assert station.raw(request) == 401


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param(b"gzip", b"{}", id="gzip-header-plain-body"),
        pytest.param(b"deflate", gzip.compress(b"{}"), id="deflate-header-gzip-body"),
    ],
)
def test_nurse_station_body_not_in_its_content_encoding(
    nurse_station: tuple[ServedApp, list[AlertAck], list[SymptomReport]],
    encoding: bytes,
    body: bytes,
) -> None:
    station, _, _ = nurse_station
    headers = [(b"Authorization", f"Bearer {TOKEN}".encode()), (b"Content-Encoding", encoding)]
    assert station.raw(raw_request("/api/symptom-reports", headers, body)) == 400


@budget(250)
@given(body=symptom_bodies, authorised=st.booleans())
def test_intake_bodies(
    intake: tuple[ServedApp, list[SymptomReport]], body: bytes, authorised: bool
) -> None:
    server, reports = intake
    before = len(reports)
    headers = AUTH if authorised else {}
    status, _ = server.request("POST", INTAKE_PATH, data=body, headers=headers)
    _no_server_error(status)
    if not authorised:
        assert status == 401
        return
    assert status in (202, 400, 413, 422), status
    if status == 202:
        assert len(reports) == before + 1
        _ingest_accepts(reports[-1])
    else:
        assert len(reports) == before


@budget(150)
@given(
    authorization=header_bytes,
    content_type=header_bytes,
    encoding=encodings,
    chunked=st.booleans(),
    body=symptom_bodies,
)
def test_intake_raw_requests(
    intake: tuple[ServedApp, list[SymptomReport]],
    authorization: bytes,
    content_type: bytes,
    encoding: bytes,
    chunked: bool,
    body: bytes,
) -> None:
    server, _ = intake
    for auth in (authorization, f"Bearer {TOKEN}".encode(), f"bEaReR   {TOKEN}  ".encode()):
        headers = [(b"Authorization", auth), (b"Content-Type", content_type)]
        if encoding:
            headers.append((b"Content-Encoding", encoding))
        # Chunked: no Content-Length, so the body limit is met while reading.
        _no_server_error(server.raw(raw_request(INTAKE_PATH, headers, body, chunked=chunked)))


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param(b"gzip", b"{}", id="gzip-header-plain-body"),
        pytest.param(b"deflate", gzip.compress(b"{}"), id="deflate-header-gzip-body"),
    ],
)
def test_intake_body_not_in_its_content_encoding(
    intake: tuple[ServedApp, list[SymptomReport]], encoding: bytes, body: bytes
) -> None:
    server, _ = intake
    headers = [(b"Authorization", f"Bearer {TOKEN}".encode()), (b"Content-Encoding", encoding)]
    assert server.raw(raw_request(INTAKE_PATH, headers, body)) == 400
