"""IHE PCD-04 (Report Alert, ``ORU^R40``, HL7 v2.6) messages for alert notifications: written
as ER7 by ``schemas.hl7_er7``, ACKs read with the ``hl7`` package.

The ACM profile's message has the ``ORU_R01`` segment structure (MSH, PID, PV1, OBR, OBX...),
typed ``ORU^R40^ORU_R40`` in MSH-9. One OBR per alert, stable across phases: OBR-2 (placer
number) is the ``alert_id``; MSH-10 (message control id) is the notification id, so a retried
message can be recognised.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import hl7

from schemas.alerts import AlertPriority, AlertType
from schemas.hl7_er7 import components, escape, message, repetitions, segment
from schemas.notifications import AlertNotification, NotificationKind
from streams.alerting.channel_config import MllpChannel
from streams.alerting.channels.delivery import DeliveryRejected, TransientDeliveryError
from streams.alerting.channels.mllp import exchange

VERSION = "2.6"
ACM_PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4.4^ISO"
PRIORITY_CODE = {AlertPriority.LOW: "PL", AlertPriority.MEDIUM: "PM", AlertPriority.HIGH: "PH"}
TYPE_CODE = {AlertType.PHYSIOLOGICAL: "SP", AlertType.TECHNICAL: "ST", AlertType.ADVISORY: "SA"}
#: Alert phases of PCD-04 (MDC_ATTR_EVENT_PHASE).
PHASE = {
    NotificationKind.START: "start",
    NotificationKind.NOTICE: "start",
    NotificationKind.UPDATE: "update",
    NotificationKind.ESCALATE: "escalate",
    NotificationKind.END: "end",
}
MDC_EVT_ALARM = "196616^MDC_EVT_ALARM^MDC"
#: ACM alert attributes (IEEE 11073 MDC, DOMAIN.md §3).
MDC_ATTR_ALERT_SOURCE = "68480^MDC_ATTR_ALERT_SOURCE^MDC"
MDC_ATTR_EVENT_PHASE = "68481^MDC_ATTR_EVENT_PHASE^MDC"
MDC_ATTR_ALARM_STATE = "68482^MDC_ATTR_ALARM_STATE^MDC"
MDC_ATTR_ALARM_PRIORITY = "68484^MDC_ATTR_ALARM_PRIORITY^MDC"
MDC_ATTR_ALERT_TYPE = "68485^MDC_ATTR_ALERT_TYPE^MDC"
LOINC_PAIN_SEVERITY = "72514-3^Pain severity - 0-10 verbal numeric rating [Score] - Reported^LN"
#: Local code for the person this phase pages (the escalation target).
PAGE_RECIPIENT = "PAGE_RECIPIENT^Page recipient^99PUMPSTREAM"


class Pcd04Error(Exception):
    """A peer's answer is not a readable HL7 ACK."""


def _hl7_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def _application(value: str) -> str:
    """MSH-3/MSH-5 (HD) from the channel settings, whose components may be given in ER7
    (``PUMPSTREAM^1.2.3.4^ISO``): each component is escaped."""
    return components(*value.split("^"))


def pcd04_message(notification: AlertNotification, config: MllpChannel) -> str:
    """The ``ORU^R40`` message (ER7, segments separated by CR) for one delivered notification."""
    alert = notification.alert
    control_id = escape(notification.notification_id)
    state = "inactive" if notification.kind is NotificationKind.END else "active"
    recipient = notification.recipient
    # (OBX-2 value type, OBX-3 code, OBX-5 value in ER7)
    observations: list[tuple[str, str, str]] = [
        ("ST", MDC_EVT_ALARM, escape(alert.title)),
        ("ST", MDC_ATTR_ALERT_SOURCE, escape(alert.rule)),
        ("ST", MDC_ATTR_EVENT_PHASE, PHASE[notification.kind]),
        ("ST", MDC_ATTR_ALARM_STATE, state),
        ("ST", MDC_ATTR_ALARM_PRIORITY, PRIORITY_CODE[alert.priority]),
        ("ST", MDC_ATTR_ALERT_TYPE, TYPE_CODE[alert.type]),
        ("ST", PAGE_RECIPIENT, components(recipient.role, recipient.contact)),
    ]
    if alert.evidence.pain_score is not None:
        observations.append(("NM", LOINC_PAIN_SEVERITY, str(alert.evidence.pain_score)))
    segments = [
        segment("MSH", {3: _application(config.sending_application),
                        5: _application(config.receiving_application),
                        7: _hl7_time(notification.produced_at), 9: "ORU^R40^ORU_R40",
                        10: control_id, 11: "P", 12: VERSION, 15: "AL", 16: "NE",
                        18: "UNICODE UTF-8", 21: ACM_PROFILE}),
        segment("PID", {3: components(alert.patient_ref, "", "", "PUMPSTREAM", "PI")}),
        segment("PV1", {2: "O", 3: escape(alert.ward)}),
        segment("OBR", {1: "1", 2: components(alert.alert_id, "PUMPSTREAM"),
                        3: components(notification.notification_id, "PUMPSTREAM"),
                        4: MDC_EVT_ALARM, 7: _hl7_time(notification.triggered_at)}),
    ]  # fmt: skip
    for index, (value_type, code, value) in enumerate(observations, start=1):
        fields = {1: str(index), 2: value_type, 3: code, 4: f"1.0.0.{index}", 5: value, 11: "F"}
        if index == 1:
            # ACM: the event identification carries priority and type in OBX-8.
            fields[8] = repetitions(PRIORITY_CODE[alert.priority], TYPE_CODE[alert.type])
        segments.append(segment("OBX", fields))
    return message(segments)


def parse_hl7(text: str) -> hl7.Message:
    """An ER7 message parsed by ``hl7`` (segments separated by CR; LF and CRLF are accepted).

    Field values stay as sent, escape sequences included: ``str(msg.segment("MSH")(10))``."""
    lines = [line for line in text.replace("\n", "\r").split("\r") if line]
    try:
        return hl7.parse("\r".join(lines))
    except (hl7.HL7Exception, IndexError, ValueError) as exc:
        raise Pcd04Error(f"not an HL7 message: {type(exc).__name__}: {exc}") from exc


def field_er7(segment_: hl7.Segment, position: int) -> str:
    """The ER7 of field ``position`` of a parsed segment (MSH-3 is ``field_er7(msh, 3)``), ``""``
    when the segment is shorter."""
    return str(segment_(position)) if len(segment_) > position else ""


def ack_code(ack_text: str, control_id: str) -> str:
    """MSA-1 of the peer's ACK (AA, AE, AR, CA, CE, CR) after checking MSA-2 names our message."""
    ack = parse_hl7(ack_text)
    try:
        msa = ack.segment("MSA")
    except KeyError as exc:
        raise Pcd04Error("answer has no MSA segment") from exc
    code, acknowledged = field_er7(msa, 1), field_er7(msa, 2)
    if acknowledged != escape(control_id):
        raise Pcd04Error(f"ACK is for message {acknowledged!r}, not {control_id!r}")
    return code


def ack_for(message_text: str, code: str = "AA") -> str:
    """The ACK a receiver answers ``message_text`` with (used by test peers and tools)."""
    msh = parse_hl7(message_text).segment("MSH")
    received_id = field_er7(msh, 10)
    return message(
        [
            segment("MSH", {3: field_er7(msh, 5) or "ACM", 5: field_er7(msh, 3),
                            7: _hl7_time(datetime.now(UTC)), 9: "ACK^R40^ACK",
                            10: f"ACK{received_id}"[:199], 11: "P", 12: VERSION}),
            segment("MSA", {1: escape(code), 2: received_id}),
        ]
    )  # fmt: skip


async def deliver_pcd04(config: MllpChannel, notification: AlertNotification) -> None:
    """Send one PCD-04 message and wait for its ACK: AA/CA delivered, AR/CR rejected, anything
    else (no connection, timeout, AE/CE, unreadable answer) is retried."""
    control_id = notification.notification_id
    try:
        answer = await exchange(
            config.host, config.port, pcd04_message(notification, config), config.timeout_s
        )
        code = ack_code(answer, control_id)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, Pcd04Error) as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if code in ("AA", "CA"):
        return
    if code in ("AR", "CR"):
        raise DeliveryRejected(f"peer answered {code} to {control_id}")
    raise TransientDeliveryError(f"peer answered {code} to {control_id}")
