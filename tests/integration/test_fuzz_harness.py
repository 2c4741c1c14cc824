"""``pumpstream fuzz``, short: 3,000 seeded hostile inputs of every kind through a live worker on
the embedded broker. Every input is accounted for on the topics and in /metrics, no agent
crashed or set a message aside, and the reacting patient sent after the burst still alerts.
Speed is the full run's business (docs/reliability.md, "Fuzz"), not this test's."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.topics import RAW_TOPICS
from streams.cli.fuzz import run_fuzz
from streams.cli.fuzz_inputs import KIND_NAMES
from streams.settings import load_settings

pytestmark = pytest.mark.integration

INPUTS = 3_000


async def test_every_hostile_input_is_accounted_for_and_a_valid_alert_still_fires(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path, topic_partitions=2)
    progress: list[str] = []
    report = await run_fuzz(
        settings, INPUTS, 7, progress.append, burst=1_000, run_dir=tmp_path / "fuzz"
    )

    # Every kind of hostility was sent (the 1-in-3,000 oversize one is the full run's).
    assert set(KIND_NAMES) - {"oversize"} <= set(report.kinds)
    assert sum(c.sent for c in report.topics.values()) == INPUTS + 4  # + the reacting patient
    for spec in RAW_TOPICS:
        count = report.topics[spec.name]
        # Valid events the burst put on another partition than their patient's are sent on
        # to it and read again (docs/architecture.md): on the topic once more each.
        assert count.sent + count.forwarded == count.on_topic == count.metric_in, spec.name
        assert count.forwarded == count.metric_forwarded, spec.name
        assert count.validated + count.dead_lettered + count.set_aside == count.sent, spec.name
        assert count.metric_validated + count.metric_dead_lettered == count.sent - count.set_aside
        assert count.validated > 0
        assert count.dead_lettered > 0
    assert sum(c.forwarded for c in report.topics.values()) > 0, "none was sent on: not tested"
    assert report.accounted
    assert report.worker_alive
    assert report.crash_lines == 0
    assert report.agent_failures == {"ingest": 0, "clinical": 0, "alerting": 0}
    assert not report.set_aside
    assert report.latency_s is not None, "\n".join(progress)
