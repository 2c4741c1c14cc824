"""Each fault appears as configured, and does to the feed what a real feed's fault does."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import datetime

import pytest

from schemas.dead_letters import DeadLetterReason
from schemas.raw_validation import Accepted, Rejected, validate_raw
from schemas.topics import topic_by_name
from simulators.clock import SimClock
from simulators.faults import FAULT_NAMES, FaultReport, apply_faults
from simulators.infusion_centre import InfusionCentre
from simulators.recording import to_sim_events
from simulators.scenario import FaultSpec, load_scenario
from simulators.sim_event import SimEvent

SCENARIO = load_scenario("infusion-day")
SEED = 11


@pytest.fixture(scope="module")
def clean() -> list[SimEvent]:
    centre = InfusionCentre(SCENARIO, SEED)
    centre.run()
    return to_sim_events(centre.emitted)


def _inject(clean: list[SimEvent], **faults: object) -> tuple[list[SimEvent], FaultReport]:
    return apply_faults(clean, FaultSpec.model_validate(faults), SEED)


def _event_id(event: SimEvent) -> str | None:
    try:
        return str(json.loads(event.value)["event_id"])
    except (ValueError, KeyError):
        return None


def _ingest(event: SimEvent) -> Accepted | Rejected:
    return validate_raw(topic_by_name(event.topic), event.key, event.value)


def test_no_faults_configured_changes_nothing(clean: list[SimEvent]) -> None:
    events, report = _inject(clean)
    assert events == clean
    assert report.counts == dict.fromkeys(FAULT_NAMES, 0)
    assert not report.records


@pytest.mark.parametrize(
    ("fault", "reasons"),
    [
        pytest.param(
            "malformed", {DeadLetterReason.NOT_JSON, DeadLetterReason.NOT_UTF8}, id="malformed"
        ),
        pytest.param("wrong_types", {DeadLetterReason.SCHEMA_VIOLATION}, id="wrong-types"),
        pytest.param("out_of_range", {DeadLetterReason.SCHEMA_VIOLATION}, id="out-of-range"),
    ],
)
def test_bad_messages_appear_at_the_configured_rate_and_are_dead_lettered(
    clean: list[SimEvent], fault: str, reasons: set[DeadLetterReason]
) -> None:
    events, report = _inject(clean, **{fault: 0.05})
    faulty = [e for e in events if "fault:" in e.note]
    # Binomial(n=~900, p=0.05): 45 +- 3 sigma (~20); out_of_range skips messages with no field.
    assert 15 <= report.counts[fault] <= 70
    assert len(faulty) == report.counts[fault]
    assert {r.fault for r in report.records} == {fault}
    outcomes = [_ingest(e) for e in faulty]
    assert all(isinstance(o, Rejected) for o in outcomes)
    assert {o.reason for o in outcomes if isinstance(o, Rejected)} == reasons
    untouched = [e for e in events if "fault:" not in e.note]
    assert all(isinstance(_ingest(e), Accepted) for e in untouched)


def test_unit_errors_send_ml_per_min_as_ml_per_h_and_fahrenheit(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, unit_errors=0.1)
    assert report.counts["unit_errors"] > 30
    originals = {(_event_id(e), e.topic): e for e in clean}
    details = Counter(r.detail for r in report.records)
    assert details.keys() == {"rate_ml_h in mL/min", "temperature_c in Fahrenheit"}
    for event in (e for e in events if "fault:" in e.note):
        before = json.loads(originals[(_event_id(event), event.topic)].value)
        after = json.loads(event.value)
        if "rate_ml_h" in after:
            assert after["rate_ml_h"] == pytest.approx(before["rate_ml_h"] / 60, abs=0.01)
            assert isinstance(_ingest(event), Accepted), "plausible but wrong: passes validation"
        else:
            c = before["temperature_c"]["value"]
            assert after["temperature_c"]["value"] == pytest.approx(c * 9 / 5 + 32, abs=0.05)
            assert isinstance(_ingest(event), Rejected), "98.6 is outside 25-45 C"


def test_duplicates_repeat_the_same_bytes_a_little_later(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, duplicates=0.05)
    assert 20 <= report.counts["duplicates"] <= 75
    assert len(events) == len(clean) + report.counts["duplicates"]
    copies = [e for e in events if e.note == "fault: duplicate"]
    by_value = {e.value: e for e in clean}
    for copy in copies:
        original = by_value[copy.value]
        assert 0.5 <= copy.offset_s - original.offset_s <= 30


def test_late_events_arrive_out_of_order(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, late=0.05, late_by_s={"low": 300, "high": 600})
    clock = SimClock(SCENARIO.start)
    late = [e for e in events if "fault: late" in e.note]
    assert len(late) == report.counts["late"] > 15
    for event in late:
        event_offset = clock.offset_of(
            datetime.fromisoformat(json.loads(event.value)["event_time"])
        )
        assert 300 <= event.offset_s - event_offset <= 600
    position = {id(e): i for i, e in enumerate(events)}
    overtaken = sum(
        1 for e in late for other in events
        if position[id(other)] < position[id(e)] and other.topic == e.topic
        and other.key == e.key and json.loads(other.value)["event_time"] > json.loads(e.value)["event_time"]
    )  # fmt: skip
    assert overtaken > 0, "a later event of the same patient is sent before the late one"


def test_clock_skew_shifts_every_event_of_one_device(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, clock_skew=0.2, clock_skew_s={"low": 120, "high": 240})
    skewed = {(r.patient_ref, r.topic) for r in report.records}
    assert 2 <= len({p for p, _ in skewed}) <= 10
    for patient, topic in skewed:
        before = [e for e in clean if e.key.decode() == patient and e.topic == topic]
        after = [e for e in events if e.key.decode() == patient and e.topic == topic]
        shifts = {
            (datetime.fromisoformat(json.loads(a.value)["event_time"])
             - datetime.fromisoformat(json.loads(b.value)["event_time"])).total_seconds()
            for a, b in zip(after, before, strict=True)
        }  # fmt: skip
        assert len(shifts) == 1
        assert 120 <= shifts.pop() <= 240
        assert [a.offset_s for a in after] == [b.offset_s for b in before], "sent on time"


def test_a_silent_monitor_leaves_a_gap(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, silent=0.2, silent_min={"low": 30, "high": 30})
    silent_patients = {r.patient_ref for r in report.records}
    assert silent_patients
    assert report.counts["silent"] >= 5 * len(silent_patients) - 5
    for patient in silent_patients:
        offsets = [
            e.offset_s for e in events if e.key.decode() == patient and e.topic == "vitals.raw"
        ]
        gaps = [b - a for a, b in itertools.pairwise(offsets)]
        assert max(gaps) >= 30 * 60 - 5 * 60, "a 30-min hole in a 5-min stream"
    assert len(events) == len(clean) - report.counts["silent"]


def test_lost_starts_drop_only_the_picked_patients_infusion_starts(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, lost_starts=0.3)
    lost = {r.patient_ref for r in report.records}
    assert lost
    assert {r.fault for r in report.records} == {"lost_starts"}

    def starts(feed: list[SimEvent]) -> set[str]:
        return {
            e.key.decode() for e in feed if json.loads(e.value).get("kind") == "infusion_started"
        }

    assert starts(events) == starts(clean) - lost
    assert len(events) == len(clean) - report.counts["lost_starts"]
    # Their pumps' other events still arrive.
    for patient in lost:
        assert any(e.key.decode() == patient and e.topic == "pump.events.raw" for e in events)


def test_bursts_flush_held_messages_at_once(clean: list[SimEvent]) -> None:
    events, report = _inject(clean, bursts=2, burst_min={"low": 5, "high": 5})
    assert report.counts["bursts"] >= 10
    flushed = Counter(e.offset_s for e in events if "fault: burst" in e.note)
    assert len(flushed) == 2
    assert all(n >= 5 for n in flushed.values())
    offsets = [e.offset_s for e in events]
    assert offsets == sorted(offsets)


def test_faults_are_deterministic_per_seed(clean: list[SimEvent]) -> None:
    spec = {"malformed": 0.02, "duplicates": 0.02, "late": 0.02, "bursts": 1, "clock_skew": 0.1}
    assert _inject(clean, **spec) == _inject(clean, **spec)
    other, _ = apply_faults(clean, FaultSpec.model_validate(spec), SEED + 1)
    assert other != _inject(clean, **spec)[0]
