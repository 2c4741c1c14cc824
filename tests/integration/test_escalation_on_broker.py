"""The alert lifecycle on the real broker: a page per episode, escalation when unanswered, an
ack that stops it, and escalation timers that survive a worker restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas.alerts import AckResponse, ActionTaken, AlertAck, AlertPriority, AlertType
from schemas.notifications import AlertNotification, NotificationKind
from schemas.topics import ALERT_ACKS, ALERT_NOTIFICATIONS, ALERTS
from streams.cli.local.worker_process import WorkerProcess
from streams.kafka.connection import KafkaConnection
from streams.kafka.lag import wait_until_caught_up
from tests.support.alerting import live_alert, write_roster
from tests.support.kafka_client import produce, read_until

pytestmark = pytest.mark.integration

#: Short enough for a test, longer than a worker restart (~5 s), so the escalation is due
#: while no worker runs and must come from the recovered table, not from a timer in memory.
HIGH_TIMEOUT_S = 9.0


def _notes(records: list[ConsumerRecord[bytes, bytes]]) -> list[AlertNotification]:
    return [AlertNotification.model_validate_json(r.value or b"") for r in records]


def _of(notes: list[AlertNotification], alert_id: str) -> list[AlertNotification]:
    return [n for n in notes if n.alert.alert_id == alert_id]


def _alerting_env(tmp_path: Path) -> dict[str, str]:
    roster = write_roster(tmp_path / "roster.toml", high=HIGH_TIMEOUT_S)
    return {
        "PUMPSTREAM_ALERTING_CONFIG": str(roster),
        "PUMPSTREAM_NURSE_STATION_PORT": "0",
        "PUMPSTREAM_ALERTING_TICK_S": "0.5",
    }


async def test_unanswered_alert_escalates_across_a_restart_and_an_ack_stops_another(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    env = _alerting_env(tmp_path)
    worker = start_worker("first", **env)
    # Same patient, so both episodes share a partition and every tick: when the later one
    # escalates, the earlier one would have too, had the ack not stopped it.
    # Two infusions, so that the two episodes are two pages (one infusion's episodes would go on
    # one page: issue 12).
    acked = live_alert("episode-acked", rule="R2")
    unanswered = live_alert("episode-unanswered").model_copy(update={"infusion_id": "inf-pt-1-b"})
    for alert in (acked, unanswered):
        await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"pt-1")
        await produce(topics, ALERTS.name, alert.model_dump_json().encode(), b"pt-1")  # again

    starts = _notes(await read_until(topics, ALERT_NOTIFICATIONS.name, lambda rs: len(rs) >= 2))
    assert {(n.alert.alert_id, n.kind, n.recipient.role) for n in starts} == {
        ("episode-acked", NotificationKind.START, "bedside_nurse"),
        ("episode-unanswered", NotificationKind.START, "bedside_nurse"),
    }
    ack = AlertAck(
        event_id="ack-1",
        alert_id="episode-acked",
        patient_ref="pt-1",
        response=AckResponse.ACCEPTED,
        action_taken=ActionTaken.SLOWED,
        event_time=acked.event_time,
    )
    await produce(topics, ALERT_ACKS.name, ack.model_dump_json().encode(), b"pt-1")
    await read_until(topics, ALERT_NOTIFICATIONS.name, lambda rs: len(rs) >= 3)

    worker.stop()
    start_worker("second", **env)

    def escalated(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        return any(n.kind is NotificationKind.ESCALATE for n in _notes(records))

    notes = _notes(await read_until(topics, ALERT_NOTIFICATIONS.name, escalated, timeout_s=40))
    consumed = [ALERTS.name, ALERT_ACKS.name]
    assert await wait_until_caught_up(topics, "pumpstream", consumed, timeout_s=20)

    unanswered_notes = _of(notes, "episode-unanswered")
    start, escalation = unanswered_notes[0], unanswered_notes[-1]
    assert [n.kind for n in unanswered_notes] == ["start", "escalate"], "paged once, not re-paged"
    assert (escalation.step, escalation.recipient.role) == (1, "charge_nurse")
    waited_s = (escalation.produced_at - start.produced_at).total_seconds()
    assert waited_s >= HIGH_TIMEOUT_S, f"escalated after {waited_s:.1f} s, before its timeout"
    assert escalation.triggered_at == start.escalation_due_at

    acked_notes = _of(notes, "episode-acked")
    assert [n.kind for n in acked_notes] == ["start", "response"], "the ack stopped escalation"
    assert acked_notes[-1].ack is not None
    assert acked_notes[-1].escalation_due_at is None


async def test_findings_within_the_hold_are_one_page_and_a_low_advisory_pages_nobody(
    topics: KafkaConnection, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    """Issue 12 on the real broker: a low R6 advisory, then an R1 finding of the same moment
    read a moment later, are one held page that goes out once at medium (no notice first, no
    priority-raising update); a low advisory alone for another patient is a notice only."""
    start_worker(**_alerting_env(tmp_path), PUMPSTREAM_PAGE_HOLD_S="2")
    advisory = live_alert("hold-r6", rule="R6", priority=AlertPriority.LOW).model_copy(
        update={"type": AlertType.ADVISORY, "title": "Assess renal function"}
    )
    finding = live_alert("hold-r1", rule="R1", priority=AlertPriority.MEDIUM)
    lone = live_alert("lone-r6", rule="R6", priority=AlertPriority.LOW, patient="pt-2").model_copy(
        update={"type": AlertType.ADVISORY, "title": "Assess renal function"}
    )
    await produce(topics, ALERTS.name, advisory.model_dump_json().encode(), b"pt-1")
    await produce(topics, ALERTS.name, finding.model_dump_json().encode(), b"pt-1")
    await produce(topics, ALERTS.name, lone.model_dump_json().encode(), b"pt-2")
    notes = _notes(await read_until(topics, ALERT_NOTIFICATIONS.name, lambda rs: len(rs) >= 2))
    page = [n for n in notes if n.alert.patient_ref == "pt-1"]
    assert [(n.kind, n.alert.priority) for n in page] == [
        (NotificationKind.START, AlertPriority.MEDIUM)
    ]
    assert {a.alert_id for a in page[0].page_alerts} == {"hold-r6", "hold-r1"}
    held_s = (page[0].produced_at - finding.created_at).total_seconds()
    assert 1.5 <= held_s <= 5.0, f"released after the 2 s hold, within DOMAIN.md's 5 s: {held_s}"
    assert [n.kind for n in notes if n.alert.patient_ref == "pt-2"] == [NotificationKind.NOTICE]
    assert not any(n.pages_a_person for n in notes if n.alert.patient_ref == "pt-2")
