"""Readable lines from a pydantic ``ValidationError``, each naming the field and the reason.

One reading of pydantic's error list for every place that reports bad input to a person:
settings, the rules file, the on-call roster, the nurse station's API and simulator scenarios.
Each caller keeps its own prefix and wording around the lines.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

#: Errors that only repeat another one: a default computed from a field that failed validation.
_CONSEQUENTIAL = frozenset({"default_factory_not_called"})


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One validation error: where (``loc``, pydantic's location), why, and the value given."""

    loc: tuple[int | str, ...]
    reason: str
    value: Any
    missing: bool

    def field(self, *, skip: Collection[str] = ()) -> str:
        """The dotted field path (``r2.heart_rate_above_bpm``, ``wards.a.chain.0.role``), without
        the location parts in ``skip`` (the tags pydantic adds for a discriminated union); empty
        for the input as a whole."""
        return ".".join(str(part) for part in self.loc if part not in skip)

    def line(
        self, *, top_level: str = "(top level)", skip: Collection[str] = (), value: bool = False
    ) -> str:
        """``field: reason``, with `` (got value)`` when ``value`` and the field was not missing;
        ``top_level`` names the input as a whole."""
        got = f" (got {self.value!r})" if value and not self.missing else ""
        return f"{self.field(skip=skip) or top_level}: {self.reason}{got}"


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """The errors of ``exc`` in pydantic's order, without those that only repeat another."""
    return [
        FieldProblem(
            loc=tuple(error["loc"]),
            reason=error["msg"],
            value=error.get("input"),
            missing=error["type"] == "missing",
        )
        for error in exc.errors()
        if error["type"] not in _CONSEQUENTIAL
    ]


def problem_lines(
    exc: ValidationError,
    *,
    top_level: str = "(top level)",
    skip: Collection[str] = (),
    value: bool = False,
) -> list[str]:
    """One ``field: reason`` line per error of ``exc`` (see :meth:`FieldProblem.line`)."""
    return [p.line(top_level=top_level, skip=skip, value=value) for p in field_problems(exc)]
