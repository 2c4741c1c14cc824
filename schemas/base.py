"""Shared field types, the base class of every event on a clinical topic, and the mixin the
models of a patient's state share pydantic's fields-set record by."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    Strict,
    model_serializer,
)

#: Pseudonymous patient reference: never a name, MRN or date of birth (DOMAIN.md §5).
PatientRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Pseudonymous patient reference (no PHI); the Kafka key of clinical topics.",
    ),
]
EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Unique id of this event; re-delivery of the same id changes nothing.",
    ),
]
InfusionId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
#: Numbers in events are strict: ``true`` is not 1 (pydantic's lax mode would read it as a 1.0 mL/h
#: rate), ``"6"`` is not 6, and 6.5 is not a pain score; JSON integers are accepted as floats.
StrictFloat = Annotated[float, Strict()]
StrictInt = Annotated[int, Strict()]
#: NRS-11 pain score, 0-10.
PainScore = Annotated[StrictInt, Field(ge=0, le=10, description="NRS-11 pain score, 0-10")]
EventTime = Annotated[
    AwareDatetime,
    Field(description="When it happened, from the device or reporter (timezone-aware)."),
]
#: Pump rates above this are not IVIG infusions but keying errors (or mL/min vs mL/h mix-ups).
MAX_PUMP_RATE_ML_H = 1000.0
RateMlH = Annotated[
    StrictFloat, Field(ge=0, le=MAX_PUMP_RATE_ML_H, description="Pump rate in mL/h")
]


#: One ``__pydantic_fields_set__`` for every instance that has the same (``SharesFieldsSet``).
_SHARED_FIELDS_SETS: dict[Any, set[str]] = {}


class SharesFieldsSet(BaseModel):
    """A model whose instances share pydantic's record of the fields set at instantiation
    (``__pydantic_fields_set__``) rather than hold a set each: 216 bytes a set, 728 from six
    names, the largest part of a small model (a patient's state, its infusion, each pump fact:
    ~2.4 kB a patient, docs/benchmarks.md). Frozen models share one set per content, as it
    never changes; a mutable model's instances all share one holding every field's name, so
    that an assignment (which adds the name) changes nothing: to such a model every field
    counts as set (no code dumps these with ``exclude_unset``). ``model_copy`` shares it too
    (``copy.copy`` gives a set of its own: pydantic adds an update's names to it).

    A model lists it before ``BaseModel`` (``class PatientState(SharesFieldsSet, BaseModel)``):
    ruff tells a pydantic model, whose mutable defaults are copied per instance, by
    ``BaseModel`` among its bases (RUF012)."""

    def model_post_init(self, context: Any, /) -> None:
        _share_fields_set(self)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        return _share_fields_set(super().model_copy(update=update, deep=deep))


_Model = TypeVar("_Model", bound=BaseModel)


def _share_fields_set(model: _Model) -> _Model:
    cls = type(model)
    if cls.model_config.get("frozen"):
        key: Any = frozenset(model.__pydantic_fields_set__)
        shared = _SHARED_FIELDS_SETS.get(key) or _SHARED_FIELDS_SETS.setdefault(key, set(key))
    else:
        shared = _SHARED_FIELDS_SETS.get(cls) or _SHARED_FIELDS_SETS.setdefault(
            cls, set(cls.model_fields)
        )
    object.__setattr__(model, "__pydantic_fields_set__", shared)
    return model


class FrozenModel(BaseModel):
    """Immutable, closed model: unknown fields are an error, not silently dropped; NaN and
    infinities are not numbers (JSON's ``NaN``/``Infinity`` would otherwise pass and turn into
    ``null`` downstream)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class AddsOptionalFields(FrozenModel):
    """A model that gained optional fields after its JSON was first stored or published: those
    fields (``ADDED_OPTIONAL``) are left out while ``None`` or empty, so stored table values and
    recorded messages stay byte for byte what they were, and a worker of the previous release
    (which forbids unknown fields) still reads everything that does not use them."""

    ADDED_OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_unset_additions(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self.ADDED_OPTIONAL:
                if name in data and data[name] in (None, [], ()):
                    del data[name]
        return data


class ClinicalEvent(FrozenModel):
    """Fields every event on a clinical topic carries."""

    event_id: EventId
    patient_ref: PatientRef
    event_time: EventTime


def event_time_sort_key(event_time: datetime, event_id: str) -> tuple[datetime, str]:
    """Deterministic ordering of events by event time, ties broken by id."""
    return (event_time, event_id)
