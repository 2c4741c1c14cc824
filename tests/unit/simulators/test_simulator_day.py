"""A simulated day: byte-identical per seed, accepted by ingest, HL7 per IHE PCD, truth labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hl7
import pytest

from schemas.events import InfusionStarted, RateChanged
from schemas.raw_validation import Accepted, validate_raw
from schemas.topics import RAW_TOPICS, topic_by_name
from simulators.hl7_feed import pcd10_messages, read_hl7_file
from simulators.infusion_centre import InfusionCentre
from simulators.recording import read_recording, to_sim_events, write_recording
from simulators.scenario import ScenarioError, load_scenario, scenario_from_toml
from simulators.sim_event import SimEvent
from simulators.simulated_day import simulate_day
from tests.support.simulator_scenarios import scenario_with


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_simulate_infusion_day_twice_is_byte_identical(tmp_path: Path) -> None:
    """`pumpstream simulate --scenario infusion-day --seed 7` in two processes (each with its own
    hash seed), plus seed 8 for contrast."""
    runs = {name: tmp_path / name for name in ("a", "b", "seed8")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "simulate", "--scenario", "infusion-day",
             "--seed", "8" if name == "seed8" else "7", "--out", str(out),
             *(["--no-hl7"] if name == "seed8" else [])],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        for name, out in runs.items()
    ]  # fmt: skip
    for process in processes:
        output, _ = process.communicate(timeout=170)
        assert process.returncode == 0, output.decode()
    a, b, other = (_files(runs[n]) for n in ("a", "b", "seed8"))
    assert set(a) == {
        "pump.events.raw.ndjson", "vitals.raw.ndjson", "symptoms.raw.ndjson",
        "hl7/pcd-01-vitals.hl7", "hl7/pcd-10-pump-events.hl7", "hl7/pain-observations.hl7",
        "truth.json", "faults.json", "manifest.json",
    }  # fmt: skip
    assert all(a[name] for name in a), "no empty file"
    assert a == b
    assert a["vitals.raw.ndjson"] != other["vitals.raw.ndjson"]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SimEvent]]:
    out = tmp_path_factory.mktemp("day")
    scenario = scenario_with(chairs=8)
    simulate_day(scenario, 3, out)
    return out, read_recording(out)


def test_every_message_of_a_clean_day_is_accepted_by_ingest(
    day: tuple[Path, list[SimEvent]],
) -> None:
    _, events = day
    assert {e.topic for e in events} == {t.name for t in RAW_TOPICS}
    for event in events:
        outcome = validate_raw(topic_by_name(event.topic), event.key, event.value)
        assert isinstance(outcome, Accepted), (event.note, outcome)
    offsets = [e.offset_s for e in events]
    assert offsets == sorted(offsets)


def test_recording_round_trip_keeps_every_byte(tmp_path: Path) -> None:
    events = [
        SimEvent(1.0, "pump.events.raw", b"pt-1", b'{"kind":"paused","x":1.5}', "ok"),
        SimEvent(2.0, "vitals.raw", b"pt-1", b'{"kind": "vitals"}'),  # not canonical spacing
        SimEvent(3.0, "symptoms.raw", b"pt-2", b'{"kind":"sym'),  # truncated
        SimEvent(4.0, "vitals.raw", b"pt-2", b"\xff\xfe\x00binary"),
    ]
    write_recording(tmp_path, events)
    assert read_recording(tmp_path) == events


def _obx_values(message: hl7.Message) -> dict[str, str]:
    """OBX-3's MDC name (or LOINC code) -> OBX-5."""
    return {str(o(3)(1)(2)): str(o(5)) for o in message.segments("OBX")}


def _segment_ids(message: hl7.Message) -> list[str]:
    return [str(segment[0][0]) for segment in message]


def test_hl7_rate_change_is_a_stop_transitioning_then_a_start(
    day: tuple[Path, list[SimEvent]],
) -> None:
    out, _ = day
    pump = read_hl7_file(out / "hl7" / "pcd-10-pump-events.hl7")
    parsed = [hl7.parse(m) for m in pump]
    kinds = [str(m.segment("MSH")(9)) for m in parsed]
    assert set(kinds) == {"ORU^R42^ORU_R01"}
    for m in parsed:
        ids = _segment_ids(m)
        assert ids[:5] == ["MSH", "PID", "PV1", "ORC", "OBR"]
        assert set(ids[5:]) == {"OBX"}
    stops = [
        i
        for i, m in enumerate(parsed)
        if str(m.segment("OBR")(4)(1)(2)) == "MDC_EVT_PUMP_DELIV_STOP"
    ]
    assert stops
    for i in stops:
        stop, start = parsed[i], parsed[i + 1]
        status = _obx_values(stop)
        if status["MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS"] == "transitioning":
            assert str(start.segment("OBR")(4)(1)(2)) == "MDC_EVT_PUMP_DELIV_START"
            assert str(start["MSH.F10"]) == str(stop["MSH.F10"])[:-2] + ".2"
            assert "MDC_FLOW_FLUID_PUMP" in status
        else:
            assert status["MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS"] == "pump-status-not-infusing"


def test_rate_change_pair_carries_old_then_new_rate() -> None:
    from datetime import UTC, datetime

    event = RateChanged(event_id="e1", patient_ref="pt-1", infusion_id="inf-1",
                        event_time=datetime(2026, 3, 2, 9, tzinfo=UTC),
                        device_id="0050C20000000101", rate_ml_h=168.0, previous_rate_ml_h=84.0)  # fmt: skip
    stop, start = (hl7.parse(m) for m in pcd10_messages(event))

    assert (
        _obx_values(stop)["MDC_FLOW_FLUID_PUMP"],
        _obx_values(start)["MDC_FLOW_FLUID_PUMP"],
    ) == ("84", "168")
    assert str(stop.segment("OBR")(4)) == "0^MDC_EVT_PUMP_DELIV_STOP^MDC"
    assert str(start.segment("OBR")(4)) == "197288^MDC_EVT_PUMP_DELIV_START^MDC"
    assert str(stop.segment("PID")(3)) == "pt-1^^^PUMPSTREAM^PI"
    assert str(stop.segment("PV1")(3)) == "infusion-centre^c001"
    assert str(stop.segment("MSH")(10)) == "e1.1"
    obx18 = [str(o(18)) for o in stop.segments("OBX") if len(o) > 18]
    assert obx18 == ["0050C20000000101^^0050C20000000101^EUI-64"], "the MDS row names the device"


#: A rate change's STOP exactly as hl7apy wrote it before ER7 was written directly (issue 11):
#: the gateway and any reader of the simulator's files see the same bytes.
RATE_CHANGE_STOP_ER7 = "\r".join(
    [
        "MSH|^~\\&|PUMPSTREAM_SIM^0050C20000000000^EUI-64||||20260302090000.123+0000||ORU^R42^ORU_R01|r1.1|P|2.6|||NE|AL|||||IHE_PCD_IPEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.10.1^ISO",
        "PID|||pt-1^^^PUMPSTREAM^PI",
        "PV1||O|infusion-centre^c001",
        "ORC|RE||inf-1^PUMPSTREAM",
        "OBR|1||inf-1^PUMPSTREAM|0^MDC_EVT_PUMP_DELIV_STOP^MDC|||20260302090000.123+0000",
        "OBX|1||69985^MDC_DEV_PUMP_INFUS_MDS^MDC|1.0.0.0|||||||X|||20260302090000.123+0000||||0050C20000000101^^0050C20000000101^EUI-64",
        "OBX|2||69986^MDC_DEV_PUMP_INFUS_VMD^MDC|1.1.0.0|||||||X|||20260302090000.123+0000",
        "OBX|3|ST|158005^MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS^MDC|1.1.1.158005|transitioning||||||R|||20260302090000.123+0000",
        "OBX|4|NM|157784^MDC_FLOW_FLUID_PUMP^MDC|1.1.1.157784|84|265266^MDC_DIM_MILLI_L_PER_HR^MDC|||||R|||20260302090000.123+0000",
    ]
)


def test_pcd10_bytes_are_those_hl7apy_wrote() -> None:
    from datetime import UTC, datetime

    event = RateChanged(event_id="r1", patient_ref="pt-1", infusion_id="inf-1",
                        event_time=datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC),
                        device_id="0050C20000000101", rate_ml_h=168.25, previous_rate_ml_h=84.0)  # fmt: skip
    stop, start = pcd10_messages(event)
    assert stop == RATE_CHANGE_STOP_ER7
    assert start.split("\r")[-1].split("|")[5] == "168.25"


def test_hl7_vitals_and_pain_observations(day: tuple[Path, list[SimEvent]]) -> None:
    out, events = day
    vitals = [hl7.parse(m) for m in read_hl7_file(out / "hl7" / "pcd-01-vitals.hl7")]
    assert len(vitals) == sum(e.topic == "vitals.raw" for e in events)
    first = vitals[0]
    assert _segment_ids(first)[:4] == ["MSH", "PID", "PV1", "OBR"], "no order: no ORC"
    assert str(first["MSH.F21.R1.C1"]) == "IHE_PCD_001"
    codes = {str(o(3)(1)(1)): (str(o(4)), str(o(6))) for o in first.segments("OBX")}
    assert codes["147842"] == ("1.1.1.147842", "264864^MDC_DIM_BEAT_PER_MIN^MDC")
    assert codes["150021"][1] == "266016^MDC_DIM_MMHG^MDC"
    pain = [hl7.parse(m) for m in read_hl7_file(out / "hl7" / "pain-observations.hl7")]
    scored = [
        e for e in events if e.topic == "symptoms.raw" and b'"pain_score":null' not in e.value
    ]
    assert len(pain) == len(scored) > 0
    obx = pain[0].segment("OBX")
    assert str(obx(3)).startswith("72514-3^")
    assert str(obx(3)).endswith("^LN")
    assert 0 <= int(str(obx(5))) <= 10


def test_truth_labels_agree_with_the_feed(day: tuple[Path, list[SimEvent]]) -> None:
    from simulators.ground_truth import GroundTruth, LabelKind

    out, events = day
    truth = GroundTruth.read(out / "truth.json")
    for label in truth.labels:
        own = [e for e in events if e.key.decode() == label.patient_ref]
        assert own, label.label_id
        if label.kind is LabelKind.RATE_REACTION and "R1" in label.rules:
            pain = [e for e in own if e.topic == "symptoms.raw" and b'"back_pain"' in e.value]
            assert pain, "an R1 label has back-pain reports"


def test_scenario_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'.*infusion-day"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match=r"chairs: Input should be greater than or equal to 1"):
        scenario_from_toml('name = "x"\nstart = 2026-03-02T08:00:00Z\nchairs = 0\n', "x.toml")
    with pytest.raises(ScenarioError, match="not TOML"):
        scenario_from_toml("name = ", "y.toml")
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nstart = 2026-03-02T08:00:00Z\nchairs = 2\n')
    assert load_scenario(str(path)).chairs == 2
    assert to_sim_events([]) == []


def test_the_cohorts_indication_is_on_every_start_in_json_and_hl7() -> None:
    centre = InfusionCentre(scenario_with(chairs=8), 3)
    centre.run()
    indications = {v.infusion_id: v.profile.indication for v in centre.visits}
    starts = [e.event for e in centre.emitted if isinstance(e.event, InfusionStarted)]
    assert len(starts) == len(indications) > 0
    for start in starts:
        assert start.context.indication is indications[start.infusion_id]
        (message,) = pcd10_messages(start)
        assert (
            f"ivig-indication^Indication for IVIG^99PUMPSTREAM||{start.context.indication.value}^^"
            in message
        )
    assert len(set(indications.values())) > 1, "the cohort draws several indications"
