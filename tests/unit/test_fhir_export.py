"""The FHIR export's bundle builder (``streams/cli/fhir_bundle.py``): a pure function from the
reaction ledger's ``ReactionHistory`` to a FHIR R4 Bundle, checked by building and re-parsing the
fhir.resources models and against the codes those models list for each required binding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from schemas.alerts import AckResponse, ActionTaken, VitalsEvidence
from schemas.ivig_products import IvigProduct
from schemas.reactions import ReactionHistory, ReactionRecord
from streams.cli.fhir_bundle import (
    ALERT_ID_SYSTEM,
    CAUTION_TEXT,
    FLAG_DETAIL,
    PATIENT_REF_SYSTEM,
    pain_severity,
    reactions_bundle,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GENERATED_AT = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def reaction(
    alert_id: str = "al-r1",
    *,
    patient_ref: str = "pt-1",
    rule: str = "R1",
    pain: int | None = 6,
    response: AckResponse | None = AckResponse.TRUE_POSITIVE,
    minute: float = 78,
    vitals: VitalsEvidence | None = None,
) -> ReactionRecord:
    """A documented reaction: Octagam 10 %, 70 kg, onset at 168 mL/h = 4 mg/kg/min, 18 min after
    the step from 84 mL/h, slowed, resolved."""
    onset = T0 + timedelta(minutes=minute)
    return ReactionRecord(
        patient_ref=patient_ref,
        infusion_id=f"inf-{patient_ref}-a",
        alert_id=alert_id,
        rule=rule,
        product=IvigProduct.OCTAGAM_10,
        concentration_mg_ml=100,
        rate_at_onset_ml_h=168,
        dose_rate_at_onset_mg_kg_min=4,
        minutes_since_rate_step=18,
        peak_pain_score=pain,
        vitals=vitals,
        actions_taken=(ActionTaken.SLOWED,),
        outcome="pain resolved (0/10)",
        nurse_response=response,
        last_tolerated_rate_ml_h=84,
        last_tolerated_dose_rate_mg_kg_min=2,
        onset_time=onset,
        ended_time=onset + timedelta(minutes=25),
    )


def history(*reactions: ReactionRecord, patient_ref: str = "pt-1") -> ReactionHistory:
    return ReactionHistory(patient_ref=patient_ref, reactions=reactions)


def resources(bundle: Bundle) -> list[Any]:
    return [entry.resource for entry in bundle.entry or []]


def binding_violations(model: FHIRAbstractModel, path: str = "") -> list[str]:
    """Codes outside the values fhir.resources lists for a required binding (``enum_values``):
    the library checks structure, cardinality and primitive formats when a model is built, but
    leaves these to its caller."""
    found: list[str] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        allowed = extra.get("enum_values")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if allowed and item is not None and item not in allowed:
                found.append(f"{path}{name}={item!r} not in {allowed}")
            if isinstance(item, FHIRAbstractModel):
                found += binding_violations(item, f"{path}{name}.")
    return found


def test_one_allergy_intolerance_per_reaction_and_a_caution_flag() -> None:
    r2_vitals = VitalsEvidence(heart_rate_bpm=128, systolic_mmhg=86, temperature_c=38.2)
    bundle = reactions_bundle(
        history(reaction("al-1"), reaction("al-2", rule="R2", pain=8, vitals=r2_vitals)),
        GENERATED_AT,
    )

    assert bundle.type == "collection"
    assert bundle.timestamp == GENERATED_AT
    first, second, flag = resources(bundle)
    assert isinstance(first, AllergyIntolerance)
    assert isinstance(second, AllergyIntolerance)
    assert isinstance(flag, Flag)
    assert [i.value for r in (first, second) for i in r.identifier] == ["al-1", "al-2"]
    assert {i.system for r in (first, second) for i in r.identifier} == {ALERT_ID_SYSTEM}
    assert (first.type, first.category) == ("intolerance", ["medication"])
    assert first.code.coding[0].code == "J06BA02"
    assert first.clinicalStatus.coding[0].code == "active"
    assert first.verificationStatus.coding[0].code == "confirmed"

    reacted = first.reaction[0]
    assert reacted.substance.text == "Octagam 10% (100 mg/mL)"
    assert [m.text for m in reacted.manifestation] == ["Back pain"]
    assert reacted.manifestation[0].coding[0].code == "161891005"
    assert reacted.onset == T0 + timedelta(minutes=78)
    assert reacted.severity == "moderate"
    onset_note, response_note = (n.text for n in reacted.note)
    assert onset_note.startswith(
        "Onset at 168 mL/h = 4 mg/kg/min (100 mg/mL), 18 min after a rate step; "
        "last tolerated rate 84 mL/h = 2 mg/kg/min; peak pain 6/10"
    )
    assert response_note.startswith(
        "Actions taken: slowed; outcome: pain resolved (0/10); nurse response: true positive."
    )
    assert "rule R1 (back pain after a rate increase)" in response_note

    r2 = second.reaction[0]
    assert [m.text for m in r2.manifestation] == ["Back pain", "Abnormal vital signs"]
    assert r2.severity == "severe"
    assert "vitals at onset: HR 128 bpm, SBP 86 mmHg, T 38.2 C." in r2.note[0].text

    assert flag.status == "active"
    assert flag.code.text == CAUTION_TEXT
    assert flag.category[0].coding[0].code == "drug"
    assert flag.period.start == T0 + timedelta(minutes=78)
    urls = [e.fullUrl for e in (bundle.entry or [])]
    assert [x.url for x in flag.extension] == [FLAG_DETAIL, FLAG_DETAIL]
    assert [x.valueReference.reference for x in flag.extension] == urls[:2]


def test_the_patient_is_referenced_only_by_its_pseudonymous_identifier() -> None:
    bundle = reactions_bundle(history(reaction()), GENERATED_AT)
    document = json.loads(bundle.model_dump_json())
    references = [
        entry["resource"].get("patient") or entry["resource"].get("subject")
        for entry in document["entry"]
    ]
    only_identifier = {"identifier": {"system": PATIENT_REF_SYSTEM, "value": "pt-1"}}
    assert references == [only_identifier, only_identifier]
    assert "Patient/" not in json.dumps(document), "no literal reference to a Patient resource"


@pytest.mark.parametrize(
    ("response", "verification", "clinical", "flagged"),
    [
        pytest.param(
            AckResponse.TRUE_POSITIVE, "confirmed", "active", True, id="true-positive-confirmed"
        ),
        pytest.param(
            AckResponse.ACCEPTED, "unconfirmed", "active", True, id="accepted-unconfirmed"
        ),
        pytest.param(None, "unconfirmed", "active", True, id="no-response-unconfirmed"),
        pytest.param(
            AckResponse.FALSE_POSITIVE,
            "refuted",
            "inactive",
            False,
            id="false-positive-refuted-no-flag",
        ),
        pytest.param(
            AckResponse.NOT_CLINICALLY_RELEVANT,
            "refuted",
            "inactive",
            False,
            id="not-relevant-refuted-no-flag",
        ),
    ],
)
def test_the_nurse_response_sets_verification_and_whether_it_counts_for_the_flag(
    response: AckResponse | None, verification: str, clinical: str, flagged: bool
) -> None:
    found = resources(reactions_bundle(history(reaction(response=response)), GENERATED_AT))
    allergy = found[0]
    assert allergy.verificationStatus.coding[0].code == verification
    assert allergy.clinicalStatus.coding[0].code == clinical
    assert any(isinstance(r, Flag) for r in found) is flagged


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (None, None), (0, None), (1, "mild"), (3, "mild"),
        (4, "moderate"), (6, "moderate"), (7, "severe"), (10, "severe"),
    ],
)  # fmt: skip
def test_severity_follows_the_nrs_bands(score: int | None, severity: str | None) -> None:
    assert pain_severity(score) == severity


def test_neurological_reaction_without_pain_has_no_severity() -> None:
    bundle = reactions_bundle(history(reaction(rule="R3", pain=None)), GENERATED_AT)
    allergy = resources(bundle)[0]
    assert [m.text for m in allergy.reaction[0].manifestation] == [
        "Progressive neurological symptoms"
    ]
    assert allergy.reaction[0].severity is None
    assert "peak pain" not in allergy.reaction[0].note[0].text


def test_the_printed_json_parses_back_into_the_same_r4_models() -> None:
    built = reactions_bundle(
        history(reaction("al-1"), reaction("al-2", response=AckResponse.FALSE_POSITIVE)),
        GENERATED_AT,
    )
    printed = built.model_dump_json(indent=2)
    parsed = Bundle.model_validate_json(printed)
    assert parsed == built
    assert [type(r) for r in resources(parsed)] == [AllergyIntolerance, AllergyIntolerance, Flag]
    assert json.loads(printed)["resourceType"] == "Bundle"
    assert binding_violations(parsed) == []


def test_the_same_history_gives_the_same_entry_urls() -> None:
    one = reactions_bundle(history(reaction("al-1")), GENERATED_AT)
    two = reactions_bundle(history(reaction("al-1")), GENERATED_AT + timedelta(days=1))
    urls = [e.fullUrl for e in one.entry or []]
    assert urls == [e.fullUrl for e in two.entry or []]
    assert all(url.startswith("urn:uuid:") for url in urls)
    other_patient = reactions_bundle(
        history(reaction("al-1", patient_ref="pt-2"), patient_ref="pt-2"), GENERATED_AT
    )
    assert not {e.fullUrl for e in other_patient.entry or []} & set(urls)


def test_no_reactions_give_an_empty_collection() -> None:
    bundle = reactions_bundle(history(), GENERATED_AT)
    assert (bundle.type, bundle.entry) == ("collection", None)
    assert Bundle.model_validate_json(bundle.model_dump_json()) == bundle
