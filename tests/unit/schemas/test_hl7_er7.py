"""ER7 writing (``schemas.hl7_er7``): HL7 v2.6 escaping (2.7.4, 2.7.5), read back with ``hl7``."""

from __future__ import annotations

import hl7
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.hl7_er7 import components, escape, message, repetitions, segment


@pytest.mark.parametrize(
    ("text", "er7"),
    [
        pytest.param("Pain 8/10 | rate", "Pain 8/10 \\F\\ rate", id="field-separator"),
        pytest.param("rate ^ 4", "rate \\S\\ 4", id="component-separator"),
        pytest.param("a & b", "a \\T\\ b", id="subcomponent-separator"),
        pytest.param("a ~ b", "a \\R\\ b", id="repetition-separator"),
        pytest.param("C:\\pumps", "C:\\E\\pumps", id="escape-character"),
        pytest.param("\\F\\", "\\E\\F\\E\\", id="text-that-looks-like-an-escape-sequence"),
        pytest.param("line 1\r\nline 2", "line 1\\X0D\\\\X0A\\line 2", id="line-breaks"),
        pytest.param("\x0b\x1c\t", "\\X0B\\\\X1C\\\\X09\\", id="mllp-block-characters"),
        pytest.param("Douleur — après", "Douleur — après", id="utf-8-passes-through"),
        pytest.param("inf-20260302-c019-1", "inf-20260302-c019-1", id="plain-id-unchanged"),
        pytest.param("", "", id="empty"),
    ],
)
def test_escape_follows_the_hl7_rules(text: str, er7: str) -> None:
    assert escape(text) == er7


def _obx_with_value(value: str) -> hl7.Message:
    return hl7.parse(
        message(
            [
                segment("MSH", {3: "PUMPSTREAM", 9: "ORU^R01^ORU_R01", 10: "1", 12: "2.6"}),
                segment("OBX", {1: "1", 2: "ST", 5: value, 11: "F"}),
            ]
        )
    )


@given(st.text())
def test_any_escaped_text_stays_one_field_and_reads_back(text: str) -> None:
    parsed = _obx_with_value(escape(text))
    obx = parsed.segment("OBX")
    assert len(obx) == 12, "OBX-1 to OBX-11: the text opened no field"
    assert len(obx(5)) == 1, "nor a repetition"
    assert parsed.unescape(str(obx(5))) == text


def test_segment_places_fields_by_position_and_leaves_out_trailing_empty_ones() -> None:
    assert segment("OBX", {1: "1", 3: "code", 5: "", 6: ""}) == "OBX|1||code"
    assert segment("PV1", {}) == "PV1"
    assert segment("MSH", {3: "APP", 7: "20260302"}) == "MSH|^~\\&|APP||||20260302"
    assert segment("MSH", {}) == "MSH|^~\\&"
    with pytest.raises(ValueError, match="MSH fields start at MSH-3"):
        segment("MSH", {2: "^~\\&"})
    with pytest.raises(ValueError, match="OBX fields start at OBX-1"):
        segment("OBX", {0: "OBX"})


def test_components_and_repetitions_escape_each_part() -> None:
    pid3 = components("pt|1", "", "", "PUMPSTREAM", "PI")
    assert pid3 == "pt\\F\\1^^^PUMPSTREAM^PI"
    assert repetitions("PH", "S~P") == "PH~S\\R\\P"
    parsed = hl7.parse(message(["MSH|^~\\&|A", segment("PID", {3: pid3})]))
    assert parsed.unescape(str(parsed["PID.F3.R1.C1"])) == "pt|1"
    assert str(parsed["PID.F3.R1.C5"]) == "PI"


def test_message_separates_segments_with_cr_and_ends_without_one() -> None:
    assert message(["MSH|^~\\&|A", "PID|||x"]) == "MSH|^~\\&|A\rPID|||x"
