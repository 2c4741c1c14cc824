"""Ingest validation (accept or dead-letter with a reason), the topic registry, schema export."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.dead_letters import DeadLetterReason
from schemas.events import SymptomReport
from schemas.json_schema_export import export_json_schemas
from schemas.raw_validation import Accepted, Rejected, validate_raw
from schemas.topics import (
    ALL_TOPICS,
    CLINICAL_TOPICS,
    DEAD_LETTER_TOPICS,
    PROCESSING_DLQ,
    RAW_TOPICS,
    SYMPTOMS_RAW,
    TELEMETRY_RAW,
    VALIDATED_TOPIC,
    VITALS_RAW,
    topic_by_name,
)
from simulators.scripted_sessions import MALFORMED_PUMP_MESSAGE, demo_script, expected_r1_patients

PAIN = SymptomReport(
    event_id="s-1", patient_ref="pt-9", event_time=datetime(2026, 1, 1, 9, tzinfo=UTC),
    symptom="back_pain", pain_score=5,  # type: ignore[arg-type]
)  # fmt: skip


def test_valid_event_is_accepted_keyed_by_patient_ref_as_canonical_json() -> None:
    raw = json.dumps(json.loads(PAIN.model_dump_json()), indent=4).encode()
    outcome = validate_raw(SYMPTOMS_RAW, b"pt-9", raw)
    assert isinstance(outcome, Accepted)
    assert outcome.key == b"pt-9"
    assert outcome.event == PAIN
    assert SymptomReport.model_validate_json(outcome.value) == PAIN
    assert b"\n" not in outcome.value


def test_event_without_a_key_is_accepted_and_keyed() -> None:
    outcome = validate_raw(SYMPTOMS_RAW, None, PAIN.model_dump_json().encode())
    assert isinstance(outcome, Accepted)
    assert outcome.key == b"pt-9"


@pytest.mark.parametrize(
    ("key", "value", "reason", "detail"),
    [
        pytest.param(b"pt-9", b"\xff\xfe\x00", DeadLetterReason.NOT_UTF8, "byte 0", id="not-utf8"),
        pytest.param(b"pt-9", b"{not json", DeadLetterReason.NOT_JSON, "JSON", id="not-json"),
        pytest.param(b"pt-9", None, DeadLetterReason.NOT_JSON, "empty", id="no-value"),
        pytest.param(b"pt-9", b'{"symptom": "back_pain"}', DeadLetterReason.SCHEMA_VIOLATION, "event_id", id="missing-fields"),
        pytest.param(b"pt-9", PAIN.model_dump_json().replace('"pain_score":5', '"pain_score":12').encode(), DeadLetterReason.SCHEMA_VIOLATION, "pain_score", id="nrs-12"),
        pytest.param(b"pt-other", PAIN.model_dump_json().encode(), DeadLetterReason.KEY_MISMATCH, "patient_ref", id="key-mismatch"),
    ],
)  # fmt: skip
def test_bad_input_is_rejected_with_a_reason(
    key: bytes, value: bytes | None, reason: DeadLetterReason, detail: str
) -> None:
    outcome = validate_raw(SYMPTOMS_RAW, key, value)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is reason
    assert detail in outcome.detail


def test_detail_is_bounded() -> None:
    huge = json.dumps({"event_id": "x" * 5000, "heart_rate_bpm": "y" * 5000}).encode()
    outcome = validate_raw(VITALS_RAW, None, huge)
    assert isinstance(outcome, Rejected)
    assert len(outcome.detail) <= 1000


def test_topic_names_follow_the_convention() -> None:
    for spec in ALL_TOPICS:
        assert re.fullmatch(r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*", spec.name), spec.name
    assert len({s.name for s in ALL_TOPICS}) == len(ALL_TOPICS)


def test_every_raw_topic_has_a_dlq_and_a_validated_topic() -> None:
    """Telemetry batches have a dead-letter topic but no validated topic: the clinical agent
    reads them itself (one hop per batch)."""
    assert {s.dlq for s in (*RAW_TOPICS, TELEMETRY_RAW)} | {PROCESSING_DLQ.name} == {
        s.name for s in DEAD_LETTER_TOPICS
    }
    assert all(s.name.endswith(".dlq") for s in DEAD_LETTER_TOPICS)
    assert {VALIDATED_TOPIC[s.name] for s in RAW_TOPICS} == set(CLINICAL_TOPICS)


def test_clinical_topics_are_keyed_by_patient_ref() -> None:
    assert all(s.key == "patient_ref" for s in (*RAW_TOPICS, *CLINICAL_TOPICS))


def test_unknown_topic_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"pump\.events\.raw"):
        topic_by_name("pumps")


def test_json_schema_export_writes_one_valid_schema_per_typed_topic(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    typed = [s for s in ALL_TOPICS if s.value_adapter is not None]
    assert sorted(p.name for p in written) == sorted(f"{s.name}.schema.json" for s in typed)
    alerts = json.loads((tmp_path / "alerts.schema.json").read_text())
    assert alerts["x-kafka-key"] == "patient_ref"
    for field in ("alert_id", "phase", "rule", "priority", "recommendations", "evidence"):
        assert field in alerts["properties"]


def test_demo_script_validates_except_the_deliberate_malformed_message() -> None:
    script = demo_script(datetime(2026, 1, 1, 8, tzinfo=UTC))
    rejected = []
    for event in script:
        outcome = validate_raw(topic_by_name(event.topic), event.key, event.value)
        if isinstance(outcome, Rejected):
            rejected.append(event.value)
    assert rejected == [MALFORMED_PUMP_MESSAGE]
    assert [e.offset_s for e in script] == sorted(e.offset_s for e in script)
    assert expected_r1_patients() == {"pt-reacts-01"}
