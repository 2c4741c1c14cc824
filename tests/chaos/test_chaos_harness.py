"""The chaos harness, short: a small simulated day through two workers, two SIGKILLs and a 5 s
broker outage, compared with a clean run of the same day (``pumpstream chaos`` runs the full
one: docs/reliability.md, "Harnesses"). Asserts the comparison, not speed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from simulators.ground_truth import GroundTruth
from simulators.recording import read_recording
from simulators.simulated_day import simulate_day
from streams.cli.chaos import ChaosPlan, chaos_scenario, compare_runs, report, run_day
from streams.settings import load_settings

pytestmark = pytest.mark.integration


async def test_kills_and_an_outage_lose_nothing_and_page_nothing_twice(tmp_path: Path) -> None:
    plan = ChaosPlan(
        seed=7, chairs=20, speed=1200, kills=2, outage_s=5, out=tmp_path, settled_after_s=5
    )
    day = simulate_day(chaos_scenario(plan.chairs), plan.seed, tmp_path / "day", hl7=False)
    events = read_recording(tmp_path / "day")
    lines: list[str] = []
    settings = load_settings()

    clean = await run_day(settings, plan, events, chaos=False, say=lines.append)
    chaos = await run_day(settings, plan, events, chaos=True, say=lines.append)

    assert chaos.kills == 2, lines
    assert chaos.outages == 1, lines
    comparison = compare_runs(clean.alerts, chaos.alerts)
    assert comparison.episodes >= 10, "a day with something to lose"
    assert comparison.missing == [], lines
    assert comparison.extra == [], lines
    assert comparison.left_open == [], lines
    assert clean.duplicate_pages == 0
    assert chaos.duplicate_pages == 0
    assert chaos.recovered_after_s is not None
    assert chaos.recovered_after_s <= 30
    assert len(GroundTruth.read(tmp_path / "day" / "truth.json").labels) == len(day.truth.labels)
    summary = io.StringIO()
    met = report(clean, chaos, tmp_path / "day" / "truth.json", Console(file=summary, width=200))
    assert met, summary.getvalue()  # evaluate's figures too: the same as the clean run's
