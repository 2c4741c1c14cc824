"""Batched telemetry: many vital-sign sets in one Kafka message.

A monitor's PCD-01 ``ORU^R01`` already carries many OBX rows; at a hospital's scale one Kafka
message per reading makes Faust's fixed per-message cost (~200-300 us) the whole budget
(docs/benchmarks.md). A :class:`TelemetryBatch` carries the readings of many patients over a
short interval, all of whose ``patient_ref`` hash to the partition it is produced to, so the
clinical agent that owns those patients pays that cost once per batch.

Clinical events (pump events, symptom reports) stay one per message and are never held back.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.base import EventId, FrozenModel
from schemas.events import VitalSigns

#: Readings one batch may carry (a 10-50 ms window of a large hospital's monitors is far less).
MAX_BATCH_VITALS = 5000


class TelemetryBatch(FrozenModel):
    """Vital-sign sets of the patients of one partition over a short interval."""

    batch_id: EventId
    vitals: Annotated[
        list[VitalSigns],
        Field(
            min_length=1,
            max_length=MAX_BATCH_VITALS,
            description="Vital-sign sets, each with its own patient_ref, event_id and time.",
        ),
    ]
