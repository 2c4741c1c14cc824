"""Reading OBX rows against the code tables: which term a row carries, its number in an expected
unit, its text, its result status. Every problem is a :class:`Rejection` naming the field."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.events import Validity
from streams.gateway.codes import (
    DEG_F,
    LOINC,
    MDC,
    SNOMED_CT,
    CodeKind,
    Term,
)
from streams.gateway.hl7_reading import Coded, Segment
from streams.gateway.rejections import Rejection, RejectReason, unknown_code

#: Spellings of the coding systems seen in the field (HL7 table 0396 and older names).
_SYSTEMS = {
    MDC: {MDC, "MDC_IEEE", "ISO11073"},
    LOINC: {LOINC, "LOINC"},
    SNOMED_CT: {SNOMED_CT, "SNM", "SNOMED-CT", "SNOMED CT", "SNOMEDCT"},
}
#: HL7 NM: an optional sign, digits, an optional decimal part (no exponent, no NaN).
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
#: OBX-11 result status -> measurement validity (HL7 table 0085); X: "results cannot be obtained".
VALIDITY_BY_STATUS = {
    "": Validity.VALID,
    "F": Validity.VALID,
    "R": Validity.VALID,
    "C": Validity.VALID,
    "P": Validity.QUESTIONABLE,
    "X": Validity.INVALID,
}


def same_system(given: str, expected: str) -> bool:
    return given.upper() in _SYSTEMS.get(expected, {expected})


@functools.cache
def _index(terms: tuple[Term, ...]) -> tuple[dict[tuple[str, str], Term], dict[str, Term]]:
    """(coding system spelling, code) -> term, and MDC reference id -> term."""
    by_code = {
        (spelling, term.code): term
        for term in terms
        if term.code and term.code != "0"
        for spelling in _SYSTEMS.get(term.system, {term.system})
    }
    by_name = {term.name: term for term in terms if term.system == MDC}
    return by_code, by_name


def match_term(coded: Coded, terms: Iterable[Term]) -> Term | None:
    """The term ``coded`` names: by code in the term's coding system, or for MDC by the reference
    id (``MDC_...``) when the number is 0, empty or not one the table knows (DOMAIN.md §3). A code
    without a coding system matches a term of any system."""
    listed = tuple(terms)
    by_code, by_name = _index(listed)
    system = coded.system.upper()
    if system:
        term = by_code.get((system, coded.code))
    else:
        term = next((t for t in listed if t.code == coded.code and t.code != "0"), None)
    if term is not None:
        return term
    named = by_name.get(coded.text)
    return named if named is not None and (not system or same_system(system, MDC)) else None


def number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


@dataclass(frozen=True, slots=True)
class Row:
    """One OBX segment and the term it was matched to."""

    segment: Segment
    term: Term

    @property
    def text(self) -> str:
        return self.segment.value(5)

    @property
    def location(self) -> str:
        return self.segment.location(5)

    def validity(self) -> Validity | Rejection:
        status = self.segment.value(11).upper()
        validity = VALIDITY_BY_STATUS.get(status)
        if validity is None:
            return unknown_code(
                CodeKind.RESULT_STATUS, f"{status!r} of {self.term.name}", self.segment.location(11)
            )
        return validity

    def measured(self, units: tuple[Term, ...]) -> tuple[float, Term] | Rejection:
        """OBX-5 as a number in one of ``units`` (OBX-6); an empty unit is refused, as a
        number without its unit is a guess."""
        unit_field = self.segment.coded(6)
        unit = match_term(unit_field, units)
        if unit is None:
            shown = str(unit_field) or "(none)"
            return unknown_code(
                CodeKind.UNIT, f"{shown} for {self.term.name}", self.segment.location(6)
            )
        value = number(self.text)
        if value is None:
            return Rejection(
                RejectReason.INVALID_VALUE,
                f"{self.term.name} {self.text!r} is not a number",
                self.location,
            )
        return value, unit

    def count(self, unit_codes: tuple[str, ...] = ("",)) -> float | Rejection:
        """OBX-5 as a number whose OBX-6 (a UCUM code, or empty) is one of ``unit_codes``."""
        unit = self.segment.value(6)
        if unit not in unit_codes:
            return unknown_code(
                CodeKind.UNIT, f"{unit!r} for {self.term.name}", self.segment.location(6)
            )
        value = number(self.text)
        if value is None:
            return Rejection(
                RejectReason.INVALID_VALUE,
                f"{self.term.name} {self.text!r} is not a number",
                self.location,
            )
        return value


def celsius(value: float, unit: Term) -> float:
    return round((value - 32) * 5 / 9, 2) if unit == DEG_F else value


def classify(
    segments: Iterable[Segment], terms: Iterable[Term]
) -> tuple[list[Row], Rejection | None]:
    """Each OBX matched to one of ``terms``; the first one no term matches is an unknown code."""
    known = tuple(terms)
    rows: list[Row] = []
    for obx in segments:
        coded = obx.coded(3)
        term = match_term(coded, known)
        if term is None:
            shown = str(coded) or "(empty)"
            return rows, unknown_code(CodeKind.OBSERVATION, shown, obx.location(3))
        rows.append(Row(obx, term))
    return rows, None


def rows_of(rows: Iterable[Row], *terms: Term) -> list[Row]:
    return [row for row in rows if row.term in terms]


def first_of(rows: Iterable[Row], *terms: Term) -> Row | None:
    """The first row of the first of ``terms`` present (a preference order)."""
    listed = list(rows)
    for term in terms:
        for row in listed:
            if row.term == term:
                return row
    return None
