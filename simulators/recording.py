"""Recordings: the simulated feed as one NDJSON file per raw topic, which replay sends back.

Each line is one Kafka message: ``{"offset_s": ..., "key": ..., "value": {...}}``, where
``value`` is the event JSON exactly as the ingest accepts it (the same bytes are sent on replay).
A message that is not JSON (a malformed fault) keeps its bytes in ``value_text`` (UTF-8) or
``value_base64``. ``offset_s`` is when the message is sent, in simulated seconds from the start;
it differs from the event's ``event_time`` for late, skewed or burst-delayed messages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.topics import RAW_TOPICS, TopicSpec
from simulators.infusion_centre import Emitted
from simulators.sim_event import SimEvent

SUFFIX = ".ndjson"


def canonical_json(value: Any) -> bytes:
    """Compact JSON with keys in model order: the one serialisation the simulator emits, so a
    recorded ``value`` object re-serialises to the exact bytes that were sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def event_json(event: BaseModel) -> bytes:
    return canonical_json(event.model_dump(mode="json"))


def to_sim_events(emitted: Iterable[Emitted]) -> list[SimEvent]:
    return [
        SimEvent(
            e.offset_s,
            e.topic,
            str(getattr(e.event, "patient_ref", "")).encode(),
            event_json(e.event),
            e.note,
        )
        for e in emitted
    ]


def _line(event: SimEvent) -> str:
    record: dict[str, Any] = {"offset_s": round(event.offset_s, 3), "key": event.key.decode()}
    try:
        text = event.value.decode("utf-8")
    except UnicodeDecodeError:
        record["value_base64"] = base64.b64encode(event.value).decode()
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if parsed is not None and canonical_json(parsed) == event.value:
            record["value"] = parsed
        else:
            record["value_text"] = text
    if event.note:
        record["note"] = event.note
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def recording_path(directory: Path, topic: TopicSpec | str) -> Path:
    name = topic.name if isinstance(topic, TopicSpec) else topic
    return directory / f"{name}{SUFFIX}"


def write_recording(directory: Path, events: Sequence[SimEvent]) -> list[Path]:
    """One file per raw topic (empty when the topic had no messages), lines in send order."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in RAW_TOPICS:
        lines = [_line(e) for e in events if e.topic == spec.name]
        path = recording_path(directory, spec)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        paths.append(path)
    return paths


def message_kind(value: bytes) -> str:
    """The ``kind`` of a raw event message (``rate_changed``, ``vitals``, ``symptom``...), or
    ``malformed`` when it has none (a malformed fault)."""
    try:
        kind = json.loads(value).get("kind")
    except (ValueError, AttributeError):
        return "malformed"
    return kind if isinstance(kind, str) else "malformed"


def _value(record: dict[str, Any]) -> bytes:
    if "value" in record:
        return canonical_json(record["value"])
    if "value_text" in record:
        return str(record["value_text"]).encode("utf-8")
    return base64.b64decode(record["value_base64"])


def _problem(exc: Exception) -> str:
    """Why a line is not a recording line, in words (a bare ``KeyError`` says only ``'key'``)."""
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    return str(exc)


def read_recording(directory: Path) -> list[SimEvent]:
    """Every message of the recording's topic files, merged in send order.

    Raises ``FileNotFoundError`` when ``directory`` is missing or holds no topic file, and
    ``ValueError`` naming the file and line that is not a recording line."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    merged: list[tuple[float, int, int, SimEvent]] = []
    found = False
    for topic_index, spec in enumerate(RAW_TOPICS):
        path = recording_path(directory, spec)
        if not path.exists():
            continue
        found = True
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text, so not a recording file") from None
        for line_no, line in enumerate(text.split("\n")):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                offset_s = float(record["offset_s"])
                event = SimEvent(
                    offset_s, spec.name, str(record["key"]).encode(), _value(record),
                    str(record.get("note", "")),
                )  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{path}:{line_no + 1}: not a recording line ({_problem(exc)}): each line is "
                    'a JSON object {"offset_s": ..., "key": ..., "value": {...}}; fix or delete it'
                ) from None
            merged.append((offset_s, topic_index, line_no, event))
    if not found:
        raise FileNotFoundError(
            f"{directory}: no recording files ({', '.join(s.name + SUFFIX for s in RAW_TOPICS)})"
        )
    merged.sort(key=lambda item: item[:3])
    return [item[3] for item in merged]
