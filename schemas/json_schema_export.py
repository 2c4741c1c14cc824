"""Write a JSON Schema file for the value of every topic (``pumpstream schemas export``)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.topics import ALL_TOPICS


def export_json_schemas(directory: Path) -> list[Path]:
    """Write ``<topic>.schema.json`` for each topic with a typed value; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec in ALL_TOPICS:
        if spec.value_adapter is None:
            continue
        schema = spec.value_adapter.json_schema()
        schema["$id"] = f"pumpstream:{spec.name}"
        schema.setdefault("description", spec.description)
        schema["x-kafka-key"] = spec.key
        path = directory / f"{spec.name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
