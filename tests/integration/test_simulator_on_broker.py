"""The simulator against the real pipeline on the embedded broker: replay + evaluate, and the
closed loop in which the simulated nurse's slowing resolves the pain."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas.alerts import ActionTaken, AlertAck
from schemas.topics import ALERT_ACKS
from simulators.alert_feed import read_all_alerts
from simulators.closed_loop import run_live
from simulators.evaluation import score_alerts
from simulators.ground_truth import GroundTruth
from simulators.replay import replay
from simulators.simulated_day import simulate_day
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from streams.settings import consumed_topics
from tests.support.kafka_client import read_until
from tests.support.simulator_scenarios import one_reacting_patient, scenario_with

pytestmark = pytest.mark.integration


async def test_replayed_day_is_scored_against_its_truth(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    scenario = scenario_with(
        chairs=6, cohort={"chronic_back_pain_fraction": 0.0},
        reaction={"tolerance_median_mg_kg_min": 3.0, "hazard_base": 1.0},
    )  # fmt: skip
    result = simulate_day(scenario, 5, tmp_path / "day", hl7=False)
    truth = GroundTruth.read(tmp_path / "day" / "truth.json")
    assert any("R1" in label.rules for label in truth.labels)
    start_worker()
    sent = await replay(topics, tmp_path / "day", speed=0)
    assert sent == sum(result.messages.values())
    names = consumed_topics()
    assert await wait_until_caught_up(topics, "pumpstream", names, timeout_s=90)
    alerts = await read_all_alerts(topics)
    r1 = next(s for s in score_alerts(alerts, truth) if s.rule == "R1")
    # No chronic back pain and no faults: every R1 alert is a true reaction, and every
    # reaction the truth says R1 can see is seen.
    assert (r1.precision, r1.recall) == (1.0, 1.0), r1
    assert all(0 <= m <= 10 for m in r1.onset_to_alert_min), "alert at the first report"


async def test_closed_loop_nurse_slowing_resolves_the_pain(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    run = await run_live(topics, one_reacting_patient(), 7, speed=150)
    visit = run.centre.visits[0]
    ref = visit.profile.patient_ref

    r1 = [a for a in run.alerts if a.rule == "R1" and a.patient_ref == ref]
    assert r1, "the pipeline raised R1 on the reported back pain"
    alert_id = r1[0].alert_id
    acks = [
        AlertAck.model_validate_json(r.value or b"")
        for r in await read_until(topics, ALERT_ACKS.name, lambda rs: len(rs) >= 2)
    ]
    assert {a.alert_id for a in acks} == {alert_id}
    assert [a.action_taken for a in acks] == [ActionTaken.NONE, ActionTaken.SLOWED]

    pump = [json.loads(e.value) for e in run.sent if e.topic == "pump.events.raw"]
    slowed = [p for p in pump if p["kind"] == "rate_changed"
              and p["rate_ml_h"] < p["previous_rate_ml_h"]]  # fmt: skip
    assert len(slowed) == 1, "the simulated pump reported the nurse's slowing"
    assert slowed[0]["rate_ml_h"] == r1[0].evidence.rate_before_ml_h, "to the last tolerated rate"

    # Pain reported from the first report on; after the slowing it only falls, to 0. (Without
    # anyone acting it stays: tests/unit/simulators/test_simulator_reactions.py.)
    pain = [(e.offset_s, json.loads(e.value)["pain_score"]) for e in run.sent
            if e.topic == "symptoms.raw"]  # fmt: skip
    assert visit.action_s is not None
    after = [score for at_s, score in pain if at_s > visit.action_s]
    assert pain[0][1] >= 1, pain
    assert after, pain
    assert after[-1] == 0, pain
    assert after == sorted(after, reverse=True), pain
    assert visit.action_by == "nurse"
    assert visit.action_s is not None
    assert visit.resolved_s is not None
    assert 15 * 60 <= visit.resolved_s - visit.action_s <= 20 * 60, "settles 15-20 min later"


async def test_replay_keeps_the_recorded_pace_and_load_mode_sends_valid_events(
    topics: KafkaConnection, tmp_path: Path
) -> None:
    import time

    from schemas.raw_validation import Accepted, validate_raw
    from schemas.topics import VITALS_RAW, topic_by_name
    from simulators.load_generator import run_load
    from simulators.recording import read_recording, write_recording
    from simulators.sim_event import SimEvent

    day = tmp_path / "day"
    simulate_day(scenario_with(chairs=1), 1, day, hl7=False)
    first = read_recording(day)[:3]
    # Three messages 0, 10 and 20 simulated seconds apart, replayed at 10x: at least 2 s.
    paced = [SimEvent(10.0 * i, e.topic, e.key, e.value) for i, e in enumerate(first)]
    write_recording(tmp_path / "paced", paced)
    began = time.monotonic()
    assert await replay(topics, tmp_path / "paced", speed=10) == 3
    assert time.monotonic() - began >= 1.9

    result = await run_load(topics, pumps=4, monitors=6, interval_s=0.2, duration_s=1.0)
    assert result.sent == 5 * (4 + 6)

    def load_records(
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in records if (r.key or b"").startswith(b"load-")]

    vitals = await read_until(topics, VITALS_RAW.name, lambda rs: len(load_records(rs)) >= 30)
    loaded = load_records(vitals)
    assert len(loaded) == 30
    assert all(
        isinstance(validate_raw(topic_by_name(r.topic), r.key, r.value), Accepted) for r in loaded
    )
