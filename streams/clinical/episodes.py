"""Clinical alert episodes: one open episode per rule and patient, with one stable alert id from
its start to its end (docs/clinical-rules.md, "Episodes"). The correlator opens, updates and
closes them; they live in the ``patient-state`` table, so their JSON is a stored format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer, model_validator

from schemas.alerts import AckResponse, ActionTaken, AlertPriority, AlertType, Rule
from schemas.base import SharesFieldsSet
from streams.clinical.reaction_facts import ReactionFacts

_FACT_FIELDS = tuple(ReactionFacts.model_fields)


class ClinicalEpisode(SharesFieldsSet, BaseModel):
    """An open alert episode of a clinical rule (not the alerting stage's paging episode)."""

    alert_id: str
    rule: Rule
    infusion_id: str
    #: Event time of the event that opened the episode.
    onset_time: datetime
    #: The event that opened it (a report, a pump event, the infusion start).
    trigger_event_id: str
    #: What the episode is attributed to (R1: the rate step's ``RateStep.key``).
    anchor: str
    priority: AlertPriority
    #: The rule's measure of how bad it is (R1-R3: pain score, R8: dose rate); updates follow it.
    severity: float = 0.0
    #: The last alert sent for the episode (JSON): the end phase repeats it.
    last_alert: dict[str, Any]
    #: Facts for the reaction ledger (R1-R3). Stored as the episode's own flat fields, as
    #: before they were one value, so the table's JSON is unchanged.
    facts: ReactionFacts = ReactionFacts()
    #: R5: when the nurse slowed or paused (pump or acknowledgement) and the pain then.
    action_time: datetime | None = None
    pain_at_action: int | None = None
    actions: list[ActionTaken] = []
    persistence_checked: bool = False

    @model_validator(mode="before")
    @classmethod
    def _nest_facts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "facts" in data:
            return data
        nested = {k: v for k, v in data.items() if k not in _FACT_FIELDS}
        nested["facts"] = {k: data[k] for k in _FACT_FIELDS if k in data}
        return nested

    @model_serializer(mode="wrap")
    def _flatten_facts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in handler(self).items():
            if key == "facts":
                flat.update(value)
            else:
                flat[key] = value
        return flat


@dataclass(frozen=True, slots=True)
class EpisodeEnding:
    """Why and when an episode ends, and whether the ledger documents it (R1-R3)."""

    outcome: str
    time: datetime
    documented: bool
    nurse_response: AckResponse | None = None


class EndedEpisode(SharesFieldsSet, BaseModel):
    """What the correlator remembers of an episode it ended: enough to recognise its triggers
    when they are evaluated again (so they do not open it twice), and to correct its end when a
    later-arriving event shows it ended otherwise, or in another priority band, or not at all
    (docs/clinical-rules.md, "Arrival order"). Not the whole alert: a corrected end is built from
    the findings, a withdrawal from the title and priority kept here."""

    alert_id: str
    rule: Rule
    infusion_id: str
    #: The event that opened it; "" marks a floor: every trigger of the rule and infusion up to
    #: ``ended_time`` belongs to an episode ended before this memory was kept.
    trigger_event_id: str
    onset_time: datetime
    ended_time: datetime
    outcome: str
    #: Late events withdrew its support: its triggers are free to open another episode.
    withdrawn: bool = False
    #: What its end showed: a corrected end or a withdrawal repeats or corrects them.
    priority: AlertPriority | None = None
    type: AlertType | None = None
    title: str = ""
