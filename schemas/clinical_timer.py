"""Internal control messages of the clinical agent (topic ``clinical.timer``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from schemas.base import FrozenModel, PatientRef


class QuietStreamCheck(FrozenModel):
    """Asks the worker that owns ``patient_ref`` to run the time-driven rules (R5) up to
    ``horizon``: sent by the timer when the patient's streams have gone quiet. Faust tables are
    written only from inside a stream, so the timer speaks to the agent through this topic."""

    kind: Literal["quiet_stream_check"] = "quiet_stream_check"
    patient_ref: PatientRef
    horizon: AwareDatetime
