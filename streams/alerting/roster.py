"""The on-call roster: per ward, who is paged in which order, how soon to escalate, and through
which delivery channels. Read from a TOML file, validated once at start-up.

A bad file stops the worker with the file and the field named, e.g.
``roster.toml: wards.day-unit.chain.1.role: String should match pattern ...``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.alerts import Alert, AlertPriority, AlertType
from schemas.notifications import Recipient
from schemas.validation_errors import problem_lines
from streams.alerting.channel_config import ChannelConfig
from streams.exceptions import PumpstreamError

WardName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class RosterError(PumpstreamError):
    """The roster file is missing, not TOML, or fails validation."""


class EscalationTimeouts(BaseModel):
    """Seconds an unacknowledged alert waits before the next person is paged; 0 = never."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    high: Annotated[float, Field(ge=0, le=24 * 3600)] = 20.0
    medium: Annotated[float, Field(ge=0, le=24 * 3600)] = 60.0
    low: Annotated[float, Field(ge=0, le=24 * 3600)] = 0.0

    def for_priority(self, priority: AlertPriority) -> float | None:
        seconds: float = getattr(self, priority.value)
        return seconds or None


StaffId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class StaffMember(BaseModel):
    """A nurse (or other responder) who may answer pages at the nurse station (issue 12): each
    answer names its responder by this id, not by a shared role. Staff, not patient, data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: StaffId
    name: Annotated[str, Field(min_length=1, max_length=80)]
    role: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")] = "nurse"
    #: Wards this person works on; empty: every ward.
    wards: tuple[str, ...] = ()


class Ward(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Ordered escalation chain: bedside nurse, then charge nurse, then prescriber (typically).
    chain: Annotated[tuple[Recipient, ...], Field(min_length=1, max_length=10)]
    #: Names of ``[channels.*]`` entries this ward's notifications go to.
    channels: tuple[str, ...] = ()
    #: Overrides the roster-wide timeouts for this ward.
    escalation_timeouts_s: EscalationTimeouts | None = None


class Roster(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Alerts naming a ward the roster does not know are routed to this ward's chain.
    default_ward: WardName
    escalation_timeouts_s: EscalationTimeouts = EscalationTimeouts()
    wards: Annotated[dict[WardName, Ward], Field(min_length=1)]
    channels: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")], ChannelConfig] = {}
    #: Ended episodes are remembered this long (re-delivered phases stay silent); episodes with
    #: no phase for this long are dropped.
    episode_retention_s: Annotated[float, Field(ge=60, le=30 * 24 * 3600)] = 24 * 3600.0
    #: Advisories (IHE type SA: R6's renal check, R7's premedication, R8's dose rate) page a
    #: person only at this priority or above. Below it they are information, not alarms
    #: (DOMAIN.md §4): the nurse station and the alert managers show them, no pager rings.
    #: Default ``medium``: R8 pages, the low R6 and R7 advisories do not.
    advisories_page_from: AlertPriority = AlertPriority.MEDIUM
    #: Who may answer pages at the nurse station. When listed, every answer must name one of
    #: them (``responder_id``); when empty, answers may name nobody (as before issue 12).
    staff: tuple[StaffMember, ...] = ()

    @model_validator(mode="after")
    def _references_exist(self) -> Roster:
        if self.default_ward not in self.wards:
            raise ValueError(
                f"default_ward {self.default_ward!r} is not one of the wards: "
                f"{', '.join(sorted(self.wards))}"
            )
        ids = [member.id for member in self.staff]
        if len(ids) != len(set(ids)):
            raise ValueError(f"staff ids must be unique: {', '.join(sorted(ids))}")
        for member in self.staff:
            strangers = [w for w in member.wards if w not in self.wards]
            if strangers:
                raise ValueError(
                    f"staff {member.id!r} names unknown ward(s) {', '.join(strangers)}"
                )
        for name, ward in self.wards.items():
            unknown = [c for c in ward.channels if c not in self.channels]
            if unknown:
                raise ValueError(
                    f"wards.{name}.channels names unknown channel(s) {', '.join(unknown)}; "
                    f"defined: {', '.join(sorted(self.channels)) or 'none'}"
                )
        return self

    @property
    def channel_types(self) -> dict[str, str]:
        """Channel name -> its ``type``: the ``channel`` and ``channel_type`` metric labels."""
        return {name: config.type for name, config in self.channels.items()}

    def staff_member(self, staff_id: str) -> StaffMember | None:
        return next((m for m in self.staff if m.id == staff_id), None)

    def pages_for(self, alert: Alert) -> bool:
        """Whether ``alert`` alone would page a person (see ``advisories_page_from``)."""
        if alert.type is not AlertType.ADVISORY:
            return True
        order = (AlertPriority.LOW, AlertPriority.MEDIUM, AlertPriority.HIGH)
        return order.index(alert.priority) >= order.index(self.advisories_page_from)

    def ward_for(self, alert: Alert) -> str:
        """The roster ward an alert routes to (its own ward, else the default ward)."""
        return alert.ward if alert.ward in self.wards else self.default_ward

    def chain_for(self, alert: Alert) -> tuple[Recipient, ...]:
        return self.wards[self.ward_for(alert)].chain

    def escalation_timeout_s(self, alert: Alert) -> float | None:
        ward = self.wards[self.ward_for(alert)]
        timeouts = ward.escalation_timeouts_s or self.escalation_timeouts_s
        return timeouts.for_priority(alert.priority)

    def routes_to(self, channel: str, alert: Alert) -> bool:
        """Whether ``channel`` carries this alert: the ward lists it and the priority matches."""
        config = self.channels.get(channel)
        ward = self.wards[self.ward_for(alert)]
        return (
            config is not None and channel in ward.channels and alert.priority in config.priorities
        )


#: Discriminated unions add the tag ("webhook") to an error's location: keep the field names only.
_CHANNEL_TAGS = ("webhook", "alertmanager", "hl7-mllp")


def parse_roster(text: str, source: str = "roster") -> Roster:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RosterError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise RosterError(f"{source}: not valid TOML: nested too deeply") from None
    try:
        return Roster.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{source}: {line}" for line in problem_lines(exc, skip=_CHANNEL_TAGS)]
        raise RosterError("invalid on-call roster:\n  " + "\n  ".join(problems)) from None


def load_roster(path: Path) -> Roster:
    """Read and validate the roster file; :class:`RosterError` names the file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RosterError(f"cannot read the on-call roster {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RosterError(
            f"the on-call roster {path} is not UTF-8 text (byte {exc.start})"
        ) from None
    return parse_roster(text, str(path))
