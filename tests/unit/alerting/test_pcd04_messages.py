"""HL7 PCD-04 (ORU^R40) messages: written as ER7, read back field by field with ``hl7``."""

from __future__ import annotations

from datetime import timedelta

import hl7
import pytest

from schemas.alerts import AlertPhase, AlertPriority
from streams.alerting.channel_config import MllpChannel
from streams.alerting.channels.pcd04 import (
    Pcd04Error,
    ack_code,
    ack_for,
    field_er7,
    parse_hl7,
    pcd04_message,
)
from streams.alerting.lifecycle import on_alert, on_tick
from streams.alerting.roster import parse_roster
from tests.support.alerting import T0, make_alert, roster_toml

ROSTER = parse_roster(roster_toml())
CHANNEL = MllpChannel(type="hl7-mllp", host="127.0.0.1", port=2575)


def _observations(text: str) -> dict[str, str]:
    """OBX-3's text -> OBX-5, unescaped."""
    parsed = hl7.parse(text)
    return {str(obx(3)(1)(2)): parsed.unescape(str(obx(5))) for obx in parsed.segments("OBX")}


def test_start_and_escalate_share_the_alert_id_and_carry_phase_priority_type() -> None:
    start = on_alert(None, make_alert(priority=AlertPriority.HIGH), ROSTER, T0, partition=0)
    assert start.episode is not None
    escalate = on_tick(start.episode, ROSTER, T0 + timedelta(seconds=20))
    messages = [pcd04_message(n, CHANNEL) for n in (*start.notifications, *escalate.notifications)]

    parsed = [hl7.parse(m) for m in messages]
    assert [[s[0][0] for s in p] for p in parsed] == [
        ["MSH", "PID", "PV1", "OBR"] + ["OBX"] * 8
    ] * 2
    assert [str(p.segment("MSH")(9)) for p in parsed] == ["ORU^R40^ORU_R40"] * 2
    assert {str(p.segment("OBR")(2)) for p in parsed} == {"alert-1^PUMPSTREAM"}
    assert len({str(p.segment("MSH")(10)) for p in parsed}) == 2, "one control id per message"
    assert [str(p.segment("MSH")(12)) for p in parsed] == ["2.6"] * 2
    first, second = (_observations(m) for m in messages)
    assert first["MDC_ATTR_EVENT_PHASE"] == "start"
    assert second["MDC_ATTR_EVENT_PHASE"] == "escalate"
    assert second["Page recipient"] == "charge_nurse^dect-4100"
    assert (first["MDC_ATTR_ALARM_PRIORITY"], first["MDC_ATTR_ALERT_TYPE"]) == ("PH", "SP")
    assert first["MDC_ATTR_ALARM_STATE"] == "active"
    assert first["MDC_ATTR_ALERT_SOURCE"] == "R1"
    event_obx = parsed[0].segments("OBX")(1)
    assert [str(r) for r in event_obx(8)] == ["PH", "SP"], "ACM: priority, type repeat in OBX-8"
    assert str(parsed[0].segment("PID")(3)) == "pt-1^^^PUMPSTREAM^PI"


def test_end_is_inactive_and_free_text_is_escaped() -> None:
    opened = on_alert(None, make_alert(), ROSTER, T0, partition=0).episode
    title = "Pain 8/10 | rate ^ 4 & more ~ \\ end"
    ended = on_alert(opened, make_alert(phase=AlertPhase.END, title=title), ROSTER, T0, partition=0)
    text = pcd04_message(ended.notifications[0], CHANNEL)
    observations = _observations(text)
    assert observations["MDC_ATTR_EVENT_PHASE"] == "end"
    assert observations["MDC_ATTR_ALARM_STATE"] == "inactive"
    event_obx = hl7.parse(text).segments("OBX")(1)
    assert len(event_obx) == 12, "the title stays inside OBX-5"
    assert str(event_obx(5)) == "Pain 8/10 \\F\\ rate \\S\\ 4 \\T\\ more \\R\\ \\E\\ end"
    assert observations["MDC_EVT_ALARM"] == title


@pytest.mark.parametrize("code", ["AA", "AE", "AR", "CA"])
def test_ack_code_reads_msa(code: str) -> None:
    message = pcd04_message(on_alert(None, make_alert(), ROSTER, T0, 0).notifications[0], CHANNEL)
    control_id = field_er7(parse_hl7(message).segment("MSH"), 10)
    ack = ack_for(message, code)
    assert [segment[0][0] for segment in hl7.parse(ack)] == ["MSH", "MSA"]
    assert ack_code(ack, control_id) == code


def test_an_ack_for_another_message_is_an_error() -> None:
    message = pcd04_message(on_alert(None, make_alert(), ROSTER, T0, 0).notifications[0], CHANNEL)
    with pytest.raises(Pcd04Error, match="not 'other'"):
        ack_code(ack_for(message), "other")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param("", "not an HL7 message", id="empty"),
        pytest.param("HTTP/1.1 400 Bad Request", "not an HL7 message", id="not-hl7"),
        pytest.param("MSH|^~\\&|ACM||PUMPSTREAM||20260302||ACK|1|P|2.6", "no MSA", id="no-msa"),
        pytest.param("MSH|^~\\&|ACM\nMSA|AA", "not 'x'", id="msa-without-control-id"),
    ],
)
def test_an_unreadable_answer_is_an_error(answer: str, reason: str) -> None:
    with pytest.raises(Pcd04Error, match=reason):
        ack_code(answer, "x")


def test_non_ascii_and_line_breaks_in_free_text_read_back() -> None:
    title = "Douleur lombaire 7/10 — après hausse\nsecond line"
    alert = make_alert(title=title, ward="ward A&B")
    text = pcd04_message(on_alert(None, alert, ROSTER, T0, 0).notifications[0], CHANNEL)
    parsed = hl7.parse(text)
    assert len(parsed) == 12, "no segment added by the line break"
    assert _observations(text)["MDC_EVT_ALARM"] == title
    assert parsed.unescape(str(parsed.segment("PV1")(3))) == "ward A&B"
