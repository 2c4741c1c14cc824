"""The mapping, HL7 -> events, against its oracle: the simulator writes JSON events as HL7 (IHE
PCD-01, PCD-10, pain scores); mapped back, they are the same events but for the ids the gateway
derives. Then every way a message is refused, one row each, and the pure parts around it."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.events import InfusionStarted, SymptomKind, Validity, VitalSigns
from schemas.ivig_products import Indication
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from streams.gateway.codes import CodeKind
from streams.gateway.delivery_stops import DeliveryStops, LastStop, StopKind, StopUpdate
from streams.gateway.hl7_reading import Message, read_message
from streams.gateway.message_facts import Mapped, ward_name
from streams.gateway.message_mapping import map_message
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.rejections import Rejection, RejectReason
from tests.support.events import Patient
from tests.support.hl7_messages import (
    PSEUDONYM_KEY,
    infusion_samples,
    pain_report,
    patient_ref_of,
    replaced,
    same_event,
    vitals_message,
)

PSEUDONYMISER = Pseudonymiser(PSEUDONYM_KEY)


def _map(message: bytes, stops: DeliveryStops | None = None) -> Mapped | Rejection:
    parsed = read_message(message)
    if isinstance(parsed, Rejection):
        return parsed
    stops = stops if stops is not None else DeliveryStops()
    outcome = map_message(parsed, PSEUDONYMISER, stops.get)
    if isinstance(outcome, Mapped) and outcome.stop_update is not None:
        stops.apply(outcome.stop_update)
    return outcome


def test_the_simulators_hl7_maps_back_to_its_json_events() -> None:
    stops = DeliveryStops()
    for sample in infusion_samples(Patient("MRN0001")):
        mapped = _map(sample.message, stops)
        assert isinstance(mapped, Mapped), (sample.name, mapped)
        if sample.event is None:  # the STOP before a new rate: remembered, not forwarded
            assert mapped.events == (), sample.name
            continue
        (event,) = mapped.events
        assert same_event(event.event, sample.event), (sample.name, event.event, sample.event)
    assert len(stops) == 0, "the completion forgets the infusion"


def test_events_go_to_their_raw_topic_keyed_by_the_pseudonym() -> None:
    topics = {}
    for sample in infusion_samples(Patient("MRN0001")):
        mapped = _map(sample.message)
        assert isinstance(mapped, Mapped)
        for event in mapped.events:
            topics[sample.name] = event.topic
            assert event.key == patient_ref_of("MRN0001").encode()
            # (The test's order numbers embed the MRN: inf-MRN0001-a. A hospital's do not.)
            forwarded = event.event.model_dump_json(exclude={"infusion_id"})
            assert "MRN0001" not in forwarded
    assert topics["vitals"] == VITALS_RAW
    assert topics["pain"] == SYMPTOMS_RAW
    assert {topics[n] for n in ("start", "pause", "resume", "complete")} == {PUMP_EVENTS_RAW}


def test_a_start_without_its_stop_is_a_rate_change_with_no_previous_rate() -> None:
    """A restarted gateway forgot the STOP: the new rate still reaches the clinical stage."""
    samples = {s.name: s for s in infusion_samples(Patient("MRN0001"))}
    mapped = _map(samples["start-new-rate"].message)
    assert isinstance(mapped, Mapped)
    (event,) = mapped.events
    assert event.event.model_dump()["kind"] == "rate_changed"
    assert event.event.model_dump()["previous_rate_ml_h"] is None
    assert event.event.model_dump()["rate_ml_h"] == 84.0


def test_ids_are_deterministic_per_message_and_distinct_across_messages() -> None:
    first = _map(vitals_message("MRN0001", 5))
    again = _map(vitals_message("MRN0001", 5))
    other = _map(vitals_message("MRN0001", 10))
    assert isinstance(first, Mapped)
    assert isinstance(again, Mapped)
    assert isinstance(other, Mapped)
    ids = [m.events[0].event.model_dump()["event_id"] for m in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("hl7-")


@pytest.mark.parametrize(
    ("site", "symptom"),
    [
        pytest.param(SymptomKind.BACK_PAIN, SymptomKind.BACK_PAIN, id="back"),
        pytest.param(SymptomKind.NECK_PAIN, SymptomKind.NECK_PAIN, id="neck"),
        pytest.param(SymptomKind.HEADACHE, SymptomKind.HEADACHE, id="head"),
        pytest.param(SymptomKind.OTHER, SymptomKind.OTHER, id="no-site-is-other"),
    ],
)
def test_the_body_site_names_the_symptom(site: SymptomKind, symptom: SymptomKind) -> None:
    mapped = _map(pain_report("MRN0002", 10, 4, site))
    assert isinstance(mapped, Mapped)
    assert mapped.events[0].event.model_dump()["symptom"] == symptom.value


def _vitals_of(message: bytes) -> dict[str, Any]:
    mapped = _map(message)
    assert isinstance(mapped, Mapped), mapped
    event = mapped.events[0].event
    assert isinstance(event, VitalSigns)
    return event.model_dump()


def test_fahrenheit_is_converted_and_result_status_is_validity() -> None:
    message = vitals_message("MRN0003", hr=88)
    fahrenheit = replaced(
        replaced(message, "|36.8|", "|98.6|"), "268192^MDC_DIM_DEGC", "266560^MDC_DIM_FAHR"
    )
    assert _vitals_of(fahrenheit)["temperature_c"]["value"] == 37.0
    beat = "|88|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||"
    questionable = replaced(message, f"{beat}R|", f"{beat}P|")
    assert _vitals_of(questionable)["heart_rate_bpm"]["validity"] == Validity.QUESTIONABLE


def test_a_code_known_by_name_with_number_zero_is_accepted() -> None:
    """DOMAIN.md §3: MDC_EVT_PUMP_DELIV_STOP has no public number; the name is enough."""
    samples = {s.name: s for s in infusion_samples(Patient("MRN0001"))}
    assert b"0^MDC_EVT_PUMP_DELIV_STOP^MDC" in samples["pause"].message
    renamed = replaced(
        samples["pause"].message, "0^MDC_EVT_PUMP_DELIV_STOP", "^MDC_EVT_PUMP_DELIV_STOP"
    )
    assert isinstance(_map(renamed), Mapped)


def _sample(name: str) -> bytes:
    return next(s.message for s in infusion_samples(Patient("MRN0001")) if s.name == name)


UNSUPPORTED = RejectReason.UNSUPPORTED_MESSAGE
UNKNOWN = RejectReason.UNKNOWN_CODE
MISSING = RejectReason.MISSING_FIELD
INVALID = RejectReason.INVALID_VALUE


def _with(name: str, old: bytes, new: bytes, count: int = -1) -> bytes:
    message = _sample(name)
    assert old in message, (name, old)
    return message.replace(old, new, count)


REFUSALS = [
    pytest.param(b"not hl7 at all", RejectReason.NOT_HL7, None, id="not-hl7"),
    pytest.param(
        _with("vitals", b"ORU^R01^ORU_R01", b"ADT^A01^ADT_A01"), UNSUPPORTED, None, id="adt-message"
    ),
    pytest.param(_with("vitals", b"|P|2.6|", b"|T|2.6|"), UNSUPPORTED, None, id="training-message"),
    pytest.param(
        _with("vitals", b"147842^MDC_ECG_HEART_RATE", b"999999^MDC_MADE_UP"),
        UNKNOWN,
        CodeKind.OBSERVATION,
        id="unknown-observation",
    ),
    pytest.param(
        _with("vitals", b"264864^MDC_DIM_BEAT_PER_MIN", b"264865^MDC_DIM_BEAT_PER_HOUR"),
        UNKNOWN,
        CodeKind.UNIT,
        id="unknown-unit",
    ),
    pytest.param(
        _with("pause", b"pump-status-not-infusing", b"napping"),
        UNKNOWN,
        CodeKind.DELIVERY_STATUS,
        id="unknown-delivery-status",
    ),
    pytest.param(
        _with("pause", b"0^MDC_EVT_PUMP_DELIV_STOP", b"196999^MDC_EVT_SOMETHING"),
        UNKNOWN,
        CodeKind.EVENT,
        id="unknown-pump-event",
    ),
    pytest.param(
        _with("start", b"|Octagam 10%|", b"|Generic IG|"),
        UNKNOWN,
        CodeKind.PRODUCT,
        id="unknown-product",
    ),
    pytest.param(
        _with("start", b"|hypertension^^", b"|grumpiness^^"),
        UNKNOWN,
        CodeKind.RISK_FACTOR,
        id="unknown-risk-factor",
    ),
    pytest.param(
        _with("start", b"|dermatomyositis^^", b"|wanderlust^^"),
        UNKNOWN,
        CodeKind.INDICATION,
        id="unknown-indication",
    ),
    pytest.param(
        _with("pain", b"77568009^Back structure", b"12345^Elbow structure"),
        UNKNOWN,
        CodeKind.BODY_SITE,
        id="unknown-body-site",
    ),
    pytest.param(
        _with("vitals", b"|||||R|||", b"|||||Q|||", 1),
        UNKNOWN,
        CodeKind.RESULT_STATUS,
        id="unknown-result-status",
    ),
    pytest.param(_with("vitals", b"MRN0001^^^", b"^^^"), MISSING, None, id="no-mrn"),
    pytest.param(
        _with("pause", b"inf-MRN0001-a^PUMPSTREAM", b""), MISSING, None, id="no-order-number"
    ),
    pytest.param(_sample("start").split(b"\rOBX|8|")[0], MISSING, None, id="no-context"),
    pytest.param(_with("vitals", b"+0000", b""), INVALID, None, id="time-without-utc-offset"),
    pytest.param(_with("vitals", b"|91|", b"|fast|"), INVALID, None, id="heart-rate-not-a-number"),
    pytest.param(
        _with("start", b"|42|265266", b"|5000|265266"), INVALID, None, id="rate-out-of-range"
    ),
    pytest.param(
        _with("pain", b"|6|{score}", b"|6.5|{score}"), INVALID, None, id="half-a-pain-point"
    ),
    pytest.param(
        _with("vitals", b"\rPID|", b"\rPID|||MRN9^^^X^MR\rPID|"),
        UNSUPPORTED,
        None,
        id="two-patients",
    ),
    pytest.param(
        "MSH|^~\\&|A||||20260302||ORU^R01|c1|P|2.6|||||||\u00e9".encode("latin-1"),
        RejectReason.NOT_TEXT,
        None,
        id="not-utf8",
    ),
]


@pytest.mark.parametrize(("message", "reason", "code_kind"), REFUSALS)
def test_refused_messages_name_their_reason(
    message: bytes, reason: RejectReason, code_kind: CodeKind | None
) -> None:
    refused = _map(message)
    assert isinstance(refused, Rejection), refused
    assert refused.reason is reason, refused
    assert refused.code_kind is code_kind
    assert "MRN0001" not in refused.detail, "no patient identifier in a refusal's detail"


def test_refusals_go_to_their_feeds_dead_letter_topic() -> None:
    unknown = b"999999^MDC_MADE_UP"
    pump = _map(_sample("pause").replace(b"0^MDC_EVT_PUMP_DELIV_STOP", unknown))
    vitals = _map(_sample("vitals").replace(b"147842^MDC_ECG_HEART_RATE", unknown))
    pain = _map(_sample("pain").replace(b"77568009^Back structure", b"1^Elbow"))
    assert isinstance(pump, Rejection)
    assert isinstance(vitals, Rejection)
    assert isinstance(pain, Rejection)
    assert (pump.feed, vitals.feed, pain.feed) == (PUMP_EVENTS_RAW, VITALS_RAW, SYMPTOMS_RAW)


def test_the_indication_row_maps_to_the_context_and_is_optional() -> None:
    start = _sample("start")
    assert b"|ivig-indication^Indication for IVIG^99PUMPSTREAM||dermatomyositis^^" in start
    mapped = _map(start)
    assert isinstance(mapped, Mapped)
    (event,) = mapped.events
    assert isinstance(event.event, InfusionStarted)
    assert event.event.context.indication is Indication.DERMATOMYOSITIS
    without = b"\r".join(
        segment for segment in start.split(b"\r") if b"ivig-indication" not in segment
    )
    mapped = _map(without)
    assert isinstance(mapped, Mapped)
    (event,) = mapped.events
    assert isinstance(event.event, InfusionStarted)
    assert event.event.context.indication is None
    assert "indication" not in event.event.model_dump_json()


def test_age_from_the_date_of_birth_on_the_events_day() -> None:
    start = _sample("start")
    without_age = b"\r".join(line for line in start.split(b"\r") if b"30525-0" not in line)
    born = replaced(without_age, "MRN0001^^^PUMPSTREAM^PI", "MRN0001^^^PUMPSTREAM^PI||||19550303")
    mapped = _map(born)  # the infusion is on 2026-03-02: one day before the 71st birthday
    assert isinstance(mapped, Mapped), mapped
    assert mapped.events[0].event.model_dump()["context"]["age_years"] == 70
    assert b"1955" not in mapped.events[0].value, "the date of birth is not forwarded"


def test_the_patient_is_the_mr_identifier_with_its_authority() -> None:
    two_ids = "X1^^^OTHER^PN~MRN0001^^^PUMPSTREAM^MR"
    message = replaced(vitals_message("MRN0001"), "MRN0001^^^PUMPSTREAM^PI", two_ids)
    mapped = _map(message)
    assert isinstance(mapped, Mapped)
    assert mapped.events[0].event.model_dump()["patient_ref"] == patient_ref_of("MRN0001")
    elsewhere = _map(replaced(vitals_message("MRN0001"), "^^^PUMPSTREAM^", "^^^OTHER-HOSPITAL^"))
    assert isinstance(elsewhere, Mapped)
    assert elsewhere.events[0].key != patient_ref_of("MRN0001").encode(), (
        "same number, other authority"
    )


def test_segments_ending_in_line_feeds_are_read_too() -> None:
    assert isinstance(_map(vitals_message("MRN0001").replace(b"\r", b"\r\n")), Mapped)


def test_a_message_is_parsed_once_with_its_charset() -> None:
    latin = replaced(vitals_message("MRN0001"), "|P|2.6|||NE|AL|", "|P|2.6|||NE|AL||8859/1|")
    assert isinstance(
        read_message(latin.replace(b"MRN0001", "MRN\u00e9".encode("latin-1"))), Message
    )
    unknown = replaced(vitals_message("MRN0001"), "|P|2.6|||NE|AL|", "|P|2.6|||NE|AL||EBCDIC|")
    refused = read_message(unknown)
    assert isinstance(refused, Rejection)
    assert refused.reason is RejectReason.UNSUPPORTED_MESSAGE


def test_ward_names_follow_the_schema() -> None:
    assert ward_name("Infusion Centre") == "infusion-centre"
    assert ward_name("4 WEST / Day unit") == "4-west-day-unit"
    assert ward_name("  ") is None


def test_delivery_stops_are_bounded_and_forgotten_on_completion() -> None:
    stops = DeliveryStops(max_infusions=2)
    for n in range(3):
        stops.apply(StopUpdate(("p", f"i{n}"), LastStop(StopKind.PAUSED)))
    assert stops.get(("p", "i0")) is None
    assert stops.get(("p", "i2")) is not None
    stops.apply(StopUpdate(("p", "i2"), None))
    assert stops.get(("p", "i2")) is None


def test_a_pcd01_pump_status_forwards_the_rate_in_force_only() -> None:
    running = _with("start-new-rate", b"ORU^R42^ORU_R01", b"ORU^R01^ORU_R01")
    mapped = _map(running)
    assert isinstance(mapped, Mapped), mapped
    (event,) = mapped.events
    assert event.topic == PUMP_EVENTS_RAW
    assert event.event.model_dump()["kind"] == "rate_changed"
    assert event.event.model_dump()["rate_ml_h"] == 84.0
    paused = _map(_with("pause", b"ORU^R42^ORU_R01", b"ORU^R01^ORU_R01"))
    assert isinstance(paused, Mapped)
    assert paused.events == (), "not infusing: a pause or the end, PCD-01 cannot tell"


def test_an_occlusion_is_a_pump_alarm() -> None:
    occlusion = _with("pause", b"0^MDC_EVT_PUMP_DELIV_STOP", b"196940^MDC_EVT_FLUID_LINE_OCCL")
    mapped = _map(occlusion)
    assert isinstance(mapped, Mapped), mapped
    assert mapped.events[0].event.model_dump()["kind"] == "pump_alarm"
    assert mapped.events[0].event.model_dump()["alarm"] == "occlusion"
