"""Pairing PCD-10's DELIVERY STOP with the START that follows it (DOMAIN.md §3).

A rate change while running arrives as two messages: STOP with delivery status
``transitioning`` (and the old rate), then START (the new rate). A pause is STOP with
``pump-status-not-infusing``; the START after it is a resumption. The gateway remembers, per
infusion, the last STOP it acknowledged, so the START maps to one ``rate_changed`` (with the
previous rate) or to ``resumed``. The memory is an optimisation of the *kind*, never of the
facts: a START whose STOP it does not remember (a restarted gateway, a STOP sent to another
gateway) still becomes ``rate_changed`` with the new rate, which the clinical stage applies the
same way (the pump runs at that rate from then on); only the previous rate is then unknown.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

#: Infusions remembered at most (the oldest is forgotten first): a few bytes each.
MAX_INFUSIONS = 20_000


class StopKind(StrEnum):
    TRANSITIONING = "transitioning"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class LastStop:
    kind: StopKind
    rate_ml_h: float | None = None


#: (patient_ref, infusion_id)
InfusionKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class StopUpdate:
    """What to remember once the message's events are durable: ``stop`` None forgets."""

    key: InfusionKey
    stop: LastStop | None


class DeliveryStops:
    """The last acknowledged STOP per infusion (bounded; in memory, per gateway process)."""

    def __init__(self, max_infusions: int = MAX_INFUSIONS) -> None:
        self._max = max_infusions
        self._stops: OrderedDict[InfusionKey, LastStop] = OrderedDict()

    def __len__(self) -> int:
        return len(self._stops)

    def get(self, key: InfusionKey) -> LastStop | None:
        return self._stops.get(key)

    def apply(self, update: StopUpdate) -> None:
        if update.stop is None:
            self._stops.pop(update.key, None)
            return
        self._stops[update.key] = update.stop
        self._stops.move_to_end(update.key)
        while len(self._stops) > self._max:
            self._stops.popitem(last=False)
