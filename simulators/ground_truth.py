"""Ground truth of a simulated day: what really happened, for ``pumpstream evaluate``.

Each label names a situation the pipeline should flag, with the rules (DOMAIN.md §1) that apply:
a rate reaction episode (R1 back pain after a rate step within the look-back window; R2 with
abnormal vitals; R3 with progressive neurological signs; R4 when the patient has risk factors; R5
when it persists after slowing or pausing), a dose rate above the limit (R8), or renal risk with
repeated infusions (R6).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, Field

from schemas.base import FrozenModel, InfusionId, PatientRef

DetailValue = str | float | int | bool | None | list[str]


class LabelKind(StrEnum):
    RATE_REACTION = "rate_reaction"
    RATE_ABOVE_LIMIT = "rate_above_limit"
    RENAL_ADVISORY = "renal_advisory"


class TruthLabel(FrozenModel):
    label_id: Annotated[str, Field(min_length=1)]
    kind: LabelKind
    patient_ref: PatientRef
    infusion_id: InfusionId
    #: Rules that should flag this situation.
    rules: tuple[str, ...]
    #: Reaction: when the patient first feels it. Conditions: when they begin.
    onset_time: AwareDatetime
    end_time: AwareDatetime
    details: dict[str, DetailValue] = Field(default_factory=dict)

    def covers(self, when: datetime, *, slack_s: float = 300.0) -> bool:
        """``when`` falls within the label's time span (plus ``slack_s`` after it ends)."""
        return (
            self.onset_time.timestamp() - 60.0
            <= when.timestamp()
            <= self.end_time.timestamp() + slack_s
        )


class GroundTruth(FrozenModel):
    scenario: str
    seed: int
    start: AwareDatetime
    end: AwareDatetime
    infusions: int
    patients_with_chronic_back_pain: int
    labels: tuple[TruthLabel, ...]

    def with_patient_refs(self, patient_ref: Callable[[str], str]) -> GroundTruth:
        """The same truth with each label's patient renamed by ``patient_ref`` (the gateway's
        pseudonym of the simulator's MRN, for alerts that came through the HL7 gateway)."""
        labels = tuple(
            label.model_copy(update={"patient_ref": patient_ref(label.patient_ref)})
            for label in self.labels
        )
        return self.model_copy(update={"labels": labels})

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> GroundTruth:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
