"""Write the dashboards' JSON (``python -m grafana.generate [--check]``).

``--check`` writes nothing and exits 1 when a committed file differs from what the code builds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana import alarm_fatigue, back_pain_dose_rate, pipeline_health, ward_overview

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "ward-overview.json": ward_overview.build,
    "back-pain-dose-rate.json": back_pain_dose_rate.build,
    "alarm-fatigue.json": alarm_fatigue.build,
    "pipeline-health.json": pipeline_health.build,
}


def render(dashboard: Dashboard) -> str:
    """Stable JSON: panels numbered from 1 in layout order, sorted keys, two-space indent."""
    for number, panel in enumerate(dashboard.panels or [], start=1):
        panel.id_val = number
    text = json.dumps(dashboard, cls=JSONEncoder, sort_keys=True, indent=2)
    return text + "\n"


def rendered() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def stale_files(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Dashboard files that are missing or differ from what the code builds."""
    return [
        name
        for name, text in rendered().items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]


def write_all(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"{DASHBOARD_DIR / name} is out of date: run python -m grafana.generate")
        return 1 if stale else 0
    for path in write_all():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
