"""A patient's documented infusion reactions (the reaction ledger that R7 reads) as a FHIR R4
Bundle of type ``collection``: a pure function, :func:`reactions_bundle`, that
``pumpstream fhir reactions`` prints (docs/intake-and-fhir.md has the mapping table).

One ``AllergyIntolerance`` (type ``intolerance``, category ``medication``) per reaction, and one
``Flag`` ("titrate slowly") while any reaction stands. AllergyIntolerance, not AdverseEvent: it is
what an EHR checks when the next IVIG order or administration is made (the guidance's "guide
management of future infusions"), its ``reaction`` carries substance, manifestation, onset,
severity and notes as standard elements, and R4's AdverseEvent has no note element and is at FHIR
maturity level 0. The models are ``fhir.resources.R4B`` (FHIR 4.3.0): fhir.resources 8 ships R5,
R4B and STU3 but no plain R4, and every element used here has the same name, type and cardinality
in R4 (4.0.1). The patient is referenced only by the pseudonymous ``patient_ref``, as an
identifier under :data:`PATIENT_REF_SYSTEM`; no MRN ever reaches pumpstream's topics.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance, AllergyIntoleranceReaction
from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference

from schemas.alerts import AckResponse
from schemas.ivig_products import PRODUCT_LABELS
from schemas.reactions import ReactionHistory, ReactionRecord

#: Identifier systems of pumpstream's own identifiers (URIs; not resolvable, only unique).
PATIENT_REF_SYSTEM = "urn:pumpstream:patient-ref"
ALERT_ID_SYSTEM = "urn:pumpstream:alert-id"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
#: Core extension pointing a Flag at the records behind it.
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
CAUTION_TEXT = "caution: prior infusion reaction to IVIG; titrate slowly"
#: Namespace of the entries' ``urn:uuid`` full URLs: the same history exports the same URLs.
_ENTRY_NAMESPACE = uuid.UUID("6f1d4c1e-9a52-5d0b-8a43-3c2f4e7b9d10")

_IVIG = CodeableConcept(
    coding=[
        Coding(
            system=ATC,
            code="J06BA02",
            display="immunoglobulins, normal human, for intravascular adm.",
        )
    ],
    text="Immune globulin intravenous (human), IVIG",
)
_BACK_PAIN = CodeableConcept(
    coding=[Coding(system=SNOMED, code="161891005", display="Backache")], text="Back pain"
)
_INTRAVENOUS = CodeableConcept(
    coding=[Coding(system=SNOMED, code="47625008", display="Intravenous route")]
)
#: What each back-pain rule found (docs/clinical-rules.md), as reaction manifestations.
_MANIFESTATIONS: dict[str, tuple[CodeableConcept, ...]] = {
    "R1": (_BACK_PAIN,),
    "R2": (_BACK_PAIN, CodeableConcept(text="Abnormal vital signs")),
    "R3": (CodeableConcept(text="Progressive neurological symptoms"),),
}
_RULE_FINDINGS = {
    "R1": "back pain after a rate increase",
    "R2": "back pain with abnormal vital signs",
    "R3": "progressive neurological symptoms",
}


def pain_severity(score: int | None) -> str | None:
    """FHIR reaction severity from the NRS-11 pain score: 1-3 mild, 4-6 moderate, 7-10 severe
    (DOMAIN.md §1); none for no pain or no score."""
    if not score:
        return None
    return "mild" if score <= 3 else "moderate" if score <= 6 else "severe"


def _code(system: str, code: str) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=code)])


def _patient(patient_ref: str) -> Reference:
    return Reference(identifier=Identifier(system=PATIENT_REF_SYSTEM, value=patient_ref))


def _full_url(patient_ref: str, name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ENTRY_NAMESPACE, f'{patient_ref}/{name}')}"


def _is_refuted(record: ReactionRecord) -> bool:
    """The nurse said it was no reaction (R7 ignores such records too)."""
    return record.nurse_response is not None and record.nurse_response.not_a_reaction


def _verification(record: ReactionRecord) -> str:
    if _is_refuted(record):
        return "refuted"
    return "confirmed" if record.nurse_response is AckResponse.TRUE_POSITIVE else "unconfirmed"


def _onset_note(r: ReactionRecord) -> str:
    parts = [
        f"Onset at {r.rate_at_onset_ml_h:g} mL/h = {r.dose_rate_at_onset_mg_kg_min:g} mg/kg/min "
        f"({r.concentration_mg_ml:g} mg/mL)"
        + (
            f", {r.minutes_since_rate_step:g} min after a rate step"
            if r.minutes_since_rate_step is not None
            else ""
        )
    ]
    if r.last_tolerated_rate_ml_h is not None:
        dose = r.last_tolerated_dose_rate_mg_kg_min
        parts.append(
            f"last tolerated rate {r.last_tolerated_rate_ml_h:g} mL/h"
            + (f" = {dose:g} mg/kg/min" if dose is not None else "")
        )
    if r.peak_pain_score is not None:
        parts.append(f"peak pain {r.peak_pain_score}/10 (NRS-11)")
    if r.vitals is not None:
        v = r.vitals
        shown = [
            (v.heart_rate_bpm, "HR {:g} bpm"),
            (v.systolic_mmhg, "SBP {:g} mmHg"),
            (v.temperature_c, "T {:g} C"),
            (v.spo2_percent, "SpO2 {:g} %"),
        ]
        vitals = ", ".join(fmt.format(value) for value, fmt in shown if value is not None)
        if vitals:
            parts.append(f"vitals at onset: {vitals}")
    return "; ".join(parts) + "."


def _response_note(r: ReactionRecord) -> str:
    actions = ", ".join(a.value for a in r.actions_taken) or "none recorded"
    response = r.nurse_response.value.replace("_", " ") if r.nurse_response else "none recorded"
    return (
        f"Actions taken: {actions}; outcome: {r.outcome}; nurse response: {response}. "
        f"pumpstream rule {r.rule} ({_RULE_FINDINGS.get(r.rule, 'reaction')}), "
        f"alert {r.alert_id}, infusion {r.infusion_id}."
    )


def allergy_intolerance(r: ReactionRecord) -> AllergyIntolerance:
    """One documented reaction as an AllergyIntolerance with one ``reaction``."""
    refuted = _is_refuted(r)
    label = PRODUCT_LABELS[r.product]
    reaction = AllergyIntoleranceReaction(
        substance=CodeableConcept(text=f"{label.name} ({r.concentration_mg_ml:g} mg/mL)"),
        manifestation=list(_MANIFESTATIONS.get(r.rule, (CodeableConcept(text="Reaction"),))),
        description=f"{_RULE_FINDINGS.get(r.rule, 'reaction')} during an IVIG infusion",
        onset=r.onset_time,
        severity=pain_severity(r.peak_pain_score),
        exposureRoute=_INTRAVENOUS,
        note=[Annotation(text=_onset_note(r)), Annotation(text=_response_note(r))],
    )
    return AllergyIntolerance(
        identifier=[Identifier(system=ALERT_ID_SYSTEM, value=r.alert_id)],
        # ait-1: a clinical status is required unless the record was entered in error.
        clinicalStatus=_code(CLINICAL_STATUS, "inactive" if refuted else "active"),
        verificationStatus=_code(VERIFICATION_STATUS, _verification(r)),
        type="intolerance",  # rate-related, not immune-mediated
        category=["medication"],
        code=_IVIG,
        patient=_patient(r.patient_ref),
        onsetDateTime=r.onset_time,
        recordedDate=r.ended_time,
        lastOccurrence=r.onset_time,
        reaction=[reaction],
    )


def caution_flag(patient_ref: str, standing: list[tuple[str, ReactionRecord]]) -> Flag:
    """The caution for future infusions, pointing at the reactions behind it (flag-detail)."""
    return Flag(
        extension=[
            Extension(url=FLAG_DETAIL, valueReference=Reference(reference=url))
            for url, _ in standing
        ],
        status="active",
        category=[_code(FLAG_CATEGORY, "drug")],
        code=CodeableConcept(text=CAUTION_TEXT),
        subject=_patient(patient_ref),
        period=Period(start=min(r.onset_time for _, r in standing)),
    )


def reactions_bundle(history: ReactionHistory, generated_at: datetime) -> Bundle:
    """The FHIR Bundle (type ``collection``) of ``history``: an AllergyIntolerance per reaction,
    in the ledger's order, then a Flag when any reaction was not refuted by the nurse (the ones
    R7 counts); no entries for an empty history."""
    ref = history.patient_ref
    entries = [
        (_full_url(ref, f"reaction/{r.alert_id}"), r, allergy_intolerance(r))
        for r in history.reactions
    ]
    bundle_entries = [BundleEntry(fullUrl=url, resource=resource) for url, _, resource in entries]
    standing = [(url, r) for url, r, _ in entries if not _is_refuted(r)]
    if standing:
        flag = caution_flag(ref, standing)
        bundle_entries.append(BundleEntry(fullUrl=_full_url(ref, "flag/caution"), resource=flag))
    return Bundle(type="collection", timestamp=generated_at, entry=bundle_entries or None)
