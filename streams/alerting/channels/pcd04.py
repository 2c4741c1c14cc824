"""IHE PCD-04 (Report Alert, ``ORU^R40``, HL7 v2.6) messages for alert notifications, built and
read with hl7apy.

hl7apy has no ``ORU_R40`` structure: the ACM profile's message has the ``ORU_R01`` segment
structure (MSH, PID, PV1, OBR, OBX...), so it is built as that and typed ``ORU^R40^ORU_R40`` in
MSH-9. One OBR per alert, stable across phases: OBR-2 (placer number) is the ``alert_id``;
MSH-10 (message control id) is the notification id, so a retried message can be recognised.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message
from hl7apy.v2_6 import ST

from schemas.alerts import AlertPriority, AlertType
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


def _text(value: str) -> str:
    """HL7-escape free text (| ^ & ~ \\) so it stays one field."""
    return str(ST(value).to_er7())


def pcd04_message(notification: AlertNotification, config: MllpChannel) -> str:
    """The ``ORU^R40`` message (ER7, segments separated by CR) for one delivered notification."""
    alert = notification.alert
    message = Message("ORU_R01", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = message.msh
    msh.msh_3 = config.sending_application
    msh.msh_5 = config.receiving_application
    msh.msh_7 = _hl7_time(notification.produced_at)
    msh.msh_9 = "ORU^R40^ORU_R40"
    msh.msh_10 = notification.notification_id
    msh.msh_11 = "P"
    msh.msh_12 = VERSION
    msh.msh_15 = "AL"
    msh.msh_16 = "NE"
    msh.msh_18 = "UNICODE UTF-8"
    msh.msh_21 = ACM_PROFILE
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    patient = result.add_group("ORU_R01_PATIENT")
    patient.pid.pid_3 = f"{alert.patient_ref}^^^PUMPSTREAM^PI"
    patient.add_group("ORU_R01_VISIT").pv1.pv1_2 = "O"
    patient.ORU_R01_VISIT.pv1.pv1_3 = _text(alert.ward)
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    order.obr.obr_1 = "1"
    order.obr.obr_2 = f"{alert.alert_id}^PUMPSTREAM"
    order.obr.obr_3 = f"{notification.notification_id}^PUMPSTREAM"
    order.obr.obr_4 = MDC_EVT_ALARM
    order.obr.obr_7 = _hl7_time(notification.triggered_at)
    state = "inactive" if notification.kind is NotificationKind.END else "active"
    observations: list[tuple[str, str, str]] = [
        ("ST", MDC_EVT_ALARM, _text(alert.title)),
        ("ST", MDC_ATTR_ALERT_SOURCE, alert.rule),
        ("ST", MDC_ATTR_EVENT_PHASE, PHASE[notification.kind]),
        ("ST", MDC_ATTR_ALARM_STATE, state),
        ("ST", MDC_ATTR_ALARM_PRIORITY, PRIORITY_CODE[alert.priority]),
        ("ST", MDC_ATTR_ALERT_TYPE, TYPE_CODE[alert.type]),
        (
            "ST",
            PAGE_RECIPIENT,
            f"{_text(notification.recipient.role)}^{_text(notification.recipient.contact)}",
        ),
    ]
    if alert.evidence.pain_score is not None:
        observations.append(("NM", LOINC_PAIN_SEVERITY, str(alert.evidence.pain_score)))
    for index, (value_type, code, value) in enumerate(observations, start=1):
        obx = order.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(index)
        obx.obx_2 = value_type
        obx.obx_3 = code
        obx.obx_4 = f"1.0.0.{index}"
        obx.obx_5 = value
        if index == 1:
            # ACM: the event identification carries priority and type in OBX-8.
            obx.obx_8 = PRIORITY_CODE[alert.priority]
            obx.add_field("obx_8").value = TYPE_CODE[alert.type]
        obx.obx_11 = "F"
    return str(message.to_er7())


def parse_hl7(text: str) -> Message:
    try:
        return parse_message(
            text.replace("\n", "\r"),
            validation_level=VALIDATION_LEVEL.TOLERANT,
            find_groups=False,
        )
    except HL7apyException as exc:
        raise Pcd04Error(f"not an HL7 message: {exc}") from exc


def ack_code(ack_text: str, control_id: str) -> str:
    """MSA-1 of the peer's ACK (AA, AE, AR, CA, CE, CR) after checking MSA-2 names our message."""
    ack = parse_hl7(ack_text)
    try:
        code = str(ack.msa.msa_1.to_er7())
        acknowledged = str(ack.msa.msa_2.to_er7())
    except (HL7apyException, AttributeError, IndexError) as exc:
        raise Pcd04Error(f"answer has no MSA segment: {exc}") from exc
    if acknowledged != control_id:
        raise Pcd04Error(f"ACK is for message {acknowledged!r}, not {control_id!r}")
    return code


def ack_for(message_text: str, code: str = "AA") -> str:
    """The ACK a receiver answers ``message_text`` with (used by test peers and tools)."""
    received = parse_hl7(message_text)
    ack = Message("ACK", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    ack.msh.msh_3 = received.msh.msh_5.to_er7() or "ACM"
    ack.msh.msh_5 = received.msh.msh_3.to_er7()
    ack.msh.msh_7 = _hl7_time(datetime.now(UTC))
    ack.msh.msh_9 = "ACK^R40^ACK"
    ack.msh.msh_10 = f"ACK{received.msh.msh_10.to_er7()}"[:199]
    ack.msh.msh_11 = "P"
    ack.msh.msh_12 = VERSION
    ack.msa.msa_1 = code
    ack.msa.msa_2 = received.msh.msh_10.to_er7()
    return str(ack.to_er7())


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
