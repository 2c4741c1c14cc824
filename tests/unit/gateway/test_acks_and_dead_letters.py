"""What leaves the gateway besides events: ACKs (read back with the ``hl7`` package), dead
letters without the patient's identifiers, the keyed hash, and the metric vocabularies."""

from __future__ import annotations

import hl7
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from schemas.dead_letters import HEADER_DETAIL, HEADER_REASON
from schemas.topics import SYMPTOMS_RAW
from streams.exceptions import SettingsError
from streams.gateway.acks import AckCode, ack_message
from streams.gateway.codes import CodeKind
from streams.gateway.hl7_reading import read_header
from streams.gateway.intake import Outcome
from streams.gateway.kafka_records import HEADER_SOURCE, dead_letter, redacted
from streams.gateway.pseudonym import Pseudonymiser
from streams.gateway.receiver import message_type_label
from streams.gateway.rejections import HL7_ERROR_CODES, Rejection, RejectReason
from streams.metrics.families import (
    GATEWAY_REJECT_REASONS,
    INTAKE_STATUSES,
    UNKNOWN_CODE_KINDS,
    GatewayMetrics,
)
from tests.support.hl7_messages import PSEUDONYM_KEY, patient_ref_of, vitals_message
from tests.support.metrics_scrape import samples

PSEUDONYMISER = Pseudonymiser(PSEUDONYM_KEY)


def test_an_ack_echoes_the_control_id_and_names_the_error() -> None:
    header = read_header(vitals_message("MRN0001"))
    ack = hl7.parse(
        ack_message(
            AckCode.REJECT,
            header,
            error=HL7_ERROR_CODES[RejectReason.UNKNOWN_CODE],
            text="unknown observation 999^X|Y^MDC",
            location="OBX^2^3",
        ).decode()
    )
    msh, msa, err = ack.segment("MSH"), ack.segment("MSA"), ack.segment("ERR")
    assert str(msh(9)) == "ACK^R01^ACK"
    assert str(msh(5)) == "PUMPSTREAM_SIM^0050C20000000000^EUI-64"
    assert (str(msa(1)), str(msa(2))) == ("AR", "MRN0001-vitals-0")
    assert str(err(2)) == "OBX^2^3"
    assert str(err(3)) == "103^Table value not found^HL70357"
    assert ack["ERR.F8"] == "unknown observation 999^X|Y^MDC", "delimiters in the text escaped"
    accepted = hl7.parse(ack_message(AckCode.ACCEPT, header).decode())
    assert str(accepted.segment("MSA")(1)) == "AA"
    with pytest.raises(KeyError):
        accepted.segment("ERR")


def test_a_dead_letter_keeps_the_message_but_not_the_patients_identifiers() -> None:
    message = vitals_message("MRN0001").replace(
        b"PID|||MRN0001^^^PUMPSTREAM^PI",
        b"PID|||MRN0001^^^PUMPSTREAM^PI||Doe^Jane||19550303|F\rNK1|1|Doe^John|SPO",
    )
    rejection = Rejection(RejectReason.UNKNOWN_CODE, "unknown observation", feed=SYMPTOMS_RAW)
    record = dead_letter(message, rejection, PSEUDONYMISER)
    assert record.topic == "symptoms.raw.dlq"
    assert record.key == patient_ref_of("MRN0001").encode()
    for identifier in (b"Doe", b"Jane", b"19550303", b"MRN0001^^^"):
        assert identifier not in record.value
    assert f"PID|||{patient_ref_of('MRN0001')}\rNK1\rPV1".encode() in record.value
    before, after = message.split(b"\rPID", 1)[0], message.split(b"\rPV1", 1)[1]
    assert record.value.startswith(before), "the rest unchanged"
    assert record.value.endswith(after), "the rest unchanged"
    assert dict(record.headers) == {
        HEADER_REASON: b"hl7_unknown_code",
        HEADER_DETAIL: b"unknown observation",
        HEADER_SOURCE: b"hl7-mllp",
    }


def test_a_message_too_broken_to_read_loses_its_pid_whole() -> None:
    value, ref = redacted(b"garbage\rPID|||MRN0001\rOBX|1", PSEUDONYMISER)
    assert (value, ref) == (b"garbage\rPID\rOBX|1", None)


def test_the_pseudonym_is_keyed_stable_and_fits_patient_ref() -> None:
    ref = PSEUDONYMISER.patient_ref("MRN0001", "GENERAL")
    assert ref == PSEUDONYMISER.patient_ref("MRN0001", "GENERAL")
    assert ref.startswith("ps-")
    assert len(ref) == 29
    assert ref == ref.lower()
    assert ref != Pseudonymiser(SecretStr("another-key-of-enough-length")).patient_ref(
        "MRN0001", "GENERAL"
    )
    assert ref != PSEUDONYMISER.patient_ref("MRN0001", "OTHER")
    assert "MRN0001" not in repr(PSEUDONYMISER)
    assert PSEUDONYM_KEY.get_secret_value() not in repr(PSEUDONYMISER)


@pytest.mark.parametrize("key", [None, SecretStr(""), SecretStr("short")])
def test_a_missing_or_short_key_is_a_settings_error(key: SecretStr | None) -> None:
    with pytest.raises(SettingsError, match="PUMPSTREAM_PSEUDONYM_KEY"):
        Pseudonymiser(key)


def test_metric_vocabularies_are_the_gateways_own() -> None:
    assert {r.value for r in RejectReason} == set(GATEWAY_REJECT_REASONS)
    assert {k.value for k in CodeKind} == set(UNKNOWN_CODE_KINDS)
    assert set(Outcome.__args__) == set(INTAKE_STATUSES)  # type: ignore[attr-defined]
    assert message_type_label(read_header(b"MSH|^~\\&|A||||x||ADT^A01|1|P|2.6")) == "other"


def test_gateway_series_start_at_zero_with_bounded_labels() -> None:
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    exported = samples(generate_latest(registry).decode())
    labels = {name for (_, pairs), _ in exported.items() for name, _ in pairs}
    assert labels == {
        "framing_error",
        "message_type",
        "ack",
        "reason",
        "code_kind",
        "topic",
        "status",
        "le",
    }
    assert all(v == 0 for (name, _), v in exported.items() if not name.endswith("_created"))
