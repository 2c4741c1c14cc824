"""``replay --hl7`` offline: the simulator's three HL7 files merged in time order, each infusion
start completed with the context the recording holds, and the truth's patients renamed as the
gateway names them (``evaluate --pseudonymised``)."""

from __future__ import annotations

import json
from pathlib import Path

import hl7
import pytest

from schemas.events import InfusionStarted
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from simulators.ground_truth import GroundTruth
from simulators.simulated_day import simulate_day
from streams.cli.hl7_replay import (
    SIMULATED_MRN_AUTHORITY,
    hl7_kind,
    read_hl7_feed,
)
from streams.exceptions import InputFileError
from streams.gateway.delivery_stops import DeliveryStops
from streams.gateway.hl7_reading import read_message
from streams.gateway.message_facts import Mapped
from streams.gateway.message_mapping import map_message
from streams.gateway.pseudonym import Pseudonymiser
from tests.support.hl7_messages import PSEUDONYM_KEY
from tests.support.simulator_scenarios import scenario_with


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("day")
    reacting = {"tolerance_median_mg_kg_min": 3.0, "hazard_base": 1.0}
    simulate_day(scenario_with(chairs=3, duration_h=3.0, reaction=reacting), 11, directory)
    return directory


def test_the_three_files_merge_in_time_order(day: Path) -> None:
    events = read_hl7_feed(day)
    assert [e.offset_s for e in events] == sorted(e.offset_s for e in events)
    assert events[0].offset_s == 0.0
    assert {e.topic for e in events} <= {PUMP_EVENTS_RAW.name, VITALS_RAW.name, SYMPTOMS_RAW.name}
    files = [day / "hl7" / name for name in ("pcd-10-pump-events.hl7", "pcd-01-vitals.hl7")]
    assert len(events) >= sum(path.read_bytes().count(b"\n") for path in files)
    assert hl7_kind(events[0].value) == "ORU^R42 MDC_EVT_PUMP_DELIV_START"


def test_every_message_of_the_simulated_day_maps(day: Path) -> None:
    """The simulator's HL7 files carry everything the gateway needs (the infusion context rows
    on each start included): replay sends them as they are."""
    events = read_hl7_feed(day)
    starts = [
        line
        for line in (day / "pump.events.raw.ndjson").read_text().splitlines()
        if json.loads(line)["value"]["kind"] == "infusion_started"
    ]
    pseudonymiser, stops = Pseudonymiser(PSEUDONYM_KEY), DeliveryStops()
    mapped_starts = 0
    for event in events:
        message = read_message(event.value)
        assert not isinstance(message, Exception)
        mapped = map_message(message, pseudonymiser, stops.get)  # type: ignore[arg-type]
        assert isinstance(mapped, Mapped), (mapped, event.value[:80])
        if mapped.stop_update is not None:
            stops.apply(mapped.stop_update)
        mapped_starts += sum(1 for e in mapped.events if isinstance(e.event, InfusionStarted))
    assert mapped_starts == len(starts) > 0


def test_the_truths_patients_are_the_mrns_of_the_hl7_files(day: Path) -> None:
    """``evaluate --pseudonymised`` hashes each truth patient as the gateway hashes PID-3."""
    identifiers = set()
    for event in read_hl7_feed(day):
        pid = hl7.parse(event.value.decode()).segment("PID")
        assert str(pid(3)(1)(4)) == SIMULATED_MRN_AUTHORITY
        identifiers.add(str(pid(3)(1)(1)))
    truth = GroundTruth.read(day / "truth.json")
    assert truth.labels, "the scenario labels something"
    assert {label.patient_ref for label in truth.labels} <= identifiers
    pseudonymiser = Pseudonymiser(PSEUDONYM_KEY)

    def gateway_ref(mrn: str) -> str:
        return pseudonymiser.patient_ref(mrn, SIMULATED_MRN_AUTHORITY)

    renamed = truth.with_patient_refs(gateway_ref)
    assert [lb.label_id for lb in renamed.labels] == [lb.label_id for lb in truth.labels]
    assert [lb.patient_ref for lb in renamed.labels] == [
        gateway_ref(lb.patient_ref) for lb in truth.labels
    ]


def test_a_directory_without_hl7_files_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such directory"):
        read_hl7_feed(tmp_path)
