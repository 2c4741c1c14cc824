"""What every mapped message carries (the patient's ``patient_ref``, the event time, the order
number, the ward, the deterministic event id) and what a mapping returns: the events, each for
its raw topic, or a :class:`~streams.gateway.rejections.Rejection`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.topics import TopicSpec
from streams.gateway.delivery_stops import StopUpdate
from streams.gateway.rejections import Rejection, RejectReason

#: The ward a message names in PV1-3.1 (point of care), as ``InfusionContext.ward`` spells it.
_NOT_WARD = re.compile(r"[^a-z0-9]+")


def ward_name(point_of_care: str) -> str | None:
    """``"Infusion Centre"`` -> ``infusion-centre``; None when nothing is left."""
    name = _NOT_WARD.sub("-", point_of_care.lower()).strip("-")[:32].rstrip("-")
    return name or None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """The message-level facts each event of the message shares."""

    #: ``hl7-`` + a hash of MSH-3, MSH-4 and MSH-10: a resent message gets the same ids.
    event_id: str
    patient_ref: str
    event_time: datetime
    #: The order number (OBR-3, ORC-3, OBR-2 or ORC-2): the infusion id.
    infusion_id: str | None
    #: PV1-3.1, as a ward name; None when absent.
    ward: str | None
    #: PID-7, the date of birth (read for an age, never forwarded).
    birth_date: str

    def common(self, suffix: str) -> dict[str, Any]:
        return {
            "event_id": f"{self.event_id}:{suffix}",
            "patient_ref": self.patient_ref,
            "event_time": self.event_time,
        }


@dataclass(frozen=True, slots=True)
class MappedEvent:
    """An event and the raw topic it goes to (keyed by its ``patient_ref``)."""

    topic: TopicSpec
    event: BaseModel

    @property
    def key(self) -> bytes:
        return str(getattr(self.event, "patient_ref", "")).encode()

    @property
    def value(self) -> bytes:
        """The event's JSON, as the ingest accepts it (the JSON path's shape)."""
        return self.event.model_dump_json().encode()


@dataclass(frozen=True, slots=True)
class Mapped:
    """What a message says: zero or more events, and the PCD-10 STOP to remember once they are
    durable."""

    #: For logs and tests: ``pcd10:start``, ``pcd01:vitals`` ...
    kind: str
    events: tuple[MappedEvent, ...] = ()
    stop_update: StopUpdate | None = None


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(event)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)[:500]


def build_event(model: type[BaseModel], location: str, **fields: Any) -> BaseModel | Rejection:
    """``model(**fields)``, or an ``invalid_value`` rejection naming the schema's complaint (a
    rate of 5000 mL/h, an infusion id with spaces)."""
    try:
        return model(**fields)
    except ValidationError as exc:
        return Rejection(RejectReason.INVALID_VALUE, describe_validation(exc), location)
