"""HL7 PCD-04 (ORU^R40) messages: built with hl7apy, read back field by field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.alerts import AlertPhase, AlertPriority
from streams.alerting.channel_config import MllpChannel
from streams.alerting.channels.pcd04 import Pcd04Error, ack_code, ack_for, parse_hl7, pcd04_message
from streams.alerting.lifecycle import on_alert, on_tick
from streams.alerting.roster import parse_roster
from tests.support.alerting import T0, make_alert, roster_toml

ROSTER = parse_roster(roster_toml())
CHANNEL = MllpChannel(type="hl7-mllp", host="127.0.0.1", port=2575)


def _observations(text: str) -> dict[str, str]:
    return {obx.obx_3.to_er7().split("^")[1]: obx.obx_5.to_er7() for obx in parse_hl7(text).obx}


def test_start_and_escalate_share_the_alert_id_and_carry_phase_priority_type() -> None:
    start = on_alert(None, make_alert(priority=AlertPriority.HIGH), ROSTER, T0, partition=0)
    assert start.episode is not None
    escalate = on_tick(start.episode, ROSTER, T0 + timedelta(seconds=20))
    messages = [pcd04_message(n, CHANNEL) for n in (*start.notifications, *escalate.notifications)]

    parsed = [parse_hl7(m) for m in messages]
    assert [p.msh.msh_9.to_er7() for p in parsed] == ["ORU^R40^ORU_R40"] * 2
    assert {p.obr.obr_2.to_er7() for p in parsed} == {"alert-1^PUMPSTREAM"}
    assert len({p.msh.msh_10.to_er7() for p in parsed}) == 2, "one control id per message"
    first, second = (_observations(m) for m in messages)
    assert first["MDC_ATTR_EVENT_PHASE"] == "start"
    assert second["MDC_ATTR_EVENT_PHASE"] == "escalate"
    assert second["Page recipient"] == "charge_nurse^dect-4100"
    assert (first["MDC_ATTR_ALARM_PRIORITY"], first["MDC_ATTR_ALERT_TYPE"]) == ("PH", "SP")
    assert first["MDC_ATTR_ALARM_STATE"] == "active"
    assert first["MDC_ATTR_ALERT_SOURCE"] == "R1"
    event_obx = next(line for line in messages[0].split("\r") if line.startswith("OBX|1|"))
    assert event_obx.split("|")[8] == "PH~SP", "ACM: priority and type repeat in OBX-8"
    assert parsed[0].pid.pid_3.to_er7() == "pt-1^^^PUMPSTREAM^PI"


def test_end_is_inactive_and_free_text_is_escaped() -> None:
    opened = on_alert(None, make_alert(), ROSTER, T0, partition=0).episode
    title = "Pain 8/10 | rate ^ 4 & more ~ \\ end"
    ended = on_alert(opened, make_alert(phase=AlertPhase.END, title=title), ROSTER, T0, partition=0)
    text = pcd04_message(ended.notifications[0], CHANNEL)
    observations = _observations(text)
    assert observations["MDC_ATTR_EVENT_PHASE"] == "end"
    assert observations["MDC_ATTR_ALARM_STATE"] == "inactive"
    assert len(text.split("\r")[4].split("|")) == 12, "the title stays inside OBX-5"
    assert (
        observations["MDC_EVT_ALARM"] == "Pain 8/10 \\F\\ rate \\S\\ 4 \\T\\ more \\R\\ \\E\\ end"
    )


@pytest.mark.parametrize("code", ["AA", "AE", "AR", "CA"])
def test_ack_code_reads_msa(code: str) -> None:
    message = pcd04_message(on_alert(None, make_alert(), ROSTER, T0, 0).notifications[0], CHANNEL)
    control_id = str(parse_hl7(message).msh.msh_10.to_er7())
    assert ack_code(ack_for(message, code), control_id) == code


def test_an_ack_for_another_message_is_an_error() -> None:
    message = pcd04_message(on_alert(None, make_alert(), ROSTER, T0, 0).notifications[0], CHANNEL)
    with pytest.raises(Pcd04Error, match="not 'other'"):
        ack_code(ack_for(message), "other")
