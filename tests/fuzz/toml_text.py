"""Writing TOML documents for the fuzz tests (tomllib only reads): tables, arrays, inline tables,
strings with any character, floats including ``nan`` and ``inf``, dates and times."""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _string(text: str) -> str:
    # JSON's escaping is TOML's basic-string escaping, once DEL (which TOML wants escaped and
    # JSON leaves alone) is escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        if math.isinf(item):
            return "inf" if item > 0 else "-inf"
        return repr(item)
    if isinstance(item, str):
        return _string(item)
    if isinstance(item, datetime | date | time):
        return item.isoformat()
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(i) for i in item) + "]"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + "}"
    raise TypeError(f"no TOML for {type(item).__name__}")


def dumps(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """``document`` as TOML text: scalars and arrays first, then one ``[table]`` per dict."""
    lines = [f"{key(k)} = {value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for name, table in document.items():
        if isinstance(table, dict):
            path = (*prefix, name)
            lines.append(f"\n[{'.'.join(key(p) for p in path)}]")
            lines.append(dumps(table, path))
    return "\n".join(lines) + "\n"
