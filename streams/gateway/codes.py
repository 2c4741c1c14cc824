"""The codes the gateway understands, and nothing else: IEEE 11073 MDC terms of IHE PCD-01 and
PCD-10 (DOMAIN.md §3), LOINC for a reported pain score and an age, SNOMED CT body sites, and the
infusion context a pump does not know, under pumpstream's local coding system.

A code outside these tables is never guessed at: the message is dead-lettered and the code
counted (``pumpstream_gateway_unknown_codes_total``). A code that is known but carries nothing an
event needs (the device hierarchy, VTBI, the NIBP mean) is passed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.events import RiskFactor, SymptomKind
from schemas.ivig_products import Indication

#: HL7 table 0396 coding systems.
MDC = "MDC"
LOINC = "LN"
SNOMED_CT = "SCT"
UCUM = "UCUM"
#: pumpstream's local coding system (HL7 table 0396: local codes are ``99zzz``) for the infusion
#: context the order and the patient record hold, which no pump reports (docs/integration.md).
LOCAL = "99PUMPSTREAM"


@dataclass(frozen=True, slots=True)
class Term:
    """A coded concept: its code in ``system`` and, for MDC, its reference id (``MDC_...``)."""

    code: str
    name: str
    system: str = MDC

    @property
    def er7(self) -> str:
        """``code^name^system``, as OBX-3 / OBR-4 / OBX-6 carry it."""
        return f"{self.code}^{self.name}^{self.system}"


# -- PCD-10 events (OBR-4 of ORU^R42) ---------------------------------------------------------
DELIVERY_START = Term("197288", "MDC_EVT_PUMP_DELIV_START")
DELIVERY_COMPLETE = Term("197292", "MDC_EVT_PUMP_DELIV_COMP")
#: No public MDC number (DOMAIN.md §3): matched by its reference id, with code 0 or any code.
DELIVERY_STOP = Term("0", "MDC_EVT_PUMP_DELIV_STOP")
ALARM = Term("196616", "MDC_EVT_ALARM")
OCCLUSION = Term("196940", "MDC_EVT_FLUID_LINE_OCCL")
PUMP_EVENTS = (DELIVERY_START, DELIVERY_COMPLETE, DELIVERY_STOP, ALARM, OCCLUSION)


class DeliveryStatus(StrEnum):
    """OBX-5 of MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS, as the IHE PCD-10 samples write it."""

    INFUSING = "infusing"
    TRANSITIONING = "transitioning"
    NOT_INFUSING = "pump-status-not-infusing"


# -- Pump observations (OBX-3) -----------------------------------------------------------------
DELIVERY_STATUS = Term("158005", "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS")
PROGRAMMED_RATE = Term("157784", "MDC_FLOW_FLUID_PUMP")
CURRENT_RATE = Term("158014", "MDC_FLOW_FLUID_PUMP_CURRENT")
DRUG_LABEL = Term("184514", "MDC_DRUG_NAME_LABEL")
CONCENTRATION = Term("157760", "MDC_CONC_DRUG")
PATIENT_WEIGHT = Term("68063", "MDC_ATTR_PT_WEIGHT")
VOLUME_DELIVERED = Term("157993", "MDC_VOL_FLUID_DELIV_TOTAL")
#: The device hierarchy (OBX-4 levels MDS and VMD): rows that carry the device id, no value.
DEVICE_ROWS = (
    Term("69985", "MDC_DEV_PUMP_INFUS_MDS"),
    Term("69986", "MDC_DEV_PUMP_INFUS_VMD"),
    Term("70049", "MDC_DEV_PUMP_INFUS_LVP_MDS"),
    Term("70050", "MDC_DEV_PUMP_INFUS_LVP_VMD"),
)
#: Known pump terms no event field takes.
PASSED_OVER = (
    Term("157924", "MDC_RATE_DOSE"),
    Term("157884", "MDC_VOL_FLUID_TBI"),
    Term("157872", "MDC_VOL_FLUID_TBI_REMAIN"),
    Term("184519", "MDC_PUMP_INFUSING_STATUS"),
    Term("158006", "MDC_DEV_PUMP_NOT_DELIVERING_REASON"),
    Term("68487", "MDC_ATTR_EVT_COND"),
    Term("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
)

# -- Units (OBX-6) -----------------------------------------------------------------------------
ML_PER_H = Term("265266", "MDC_DIM_MILLI_L_PER_HR")
ML = Term("263762", "MDC_DIM_MILLI_L")
MG_PER_ML = Term("264306", "MDC_DIM_MILLI_G_PER_ML")
KG = Term("263875", "MDC_DIM_KILO_G")
MMHG = Term("266016", "MDC_DIM_MMHG")
BEATS_PER_MIN = Term("264864", "MDC_DIM_BEAT_PER_MIN")
PERCENT = Term("262688", "MDC_DIM_PERCENT")
DEG_C = Term("268192", "MDC_DIM_DEGC")
DEG_F = Term("266560", "MDC_DIM_FAHR")
BREATHS_PER_MIN = Term("264928", "MDC_DIM_RESP_PER_MIN")


@dataclass(frozen=True, slots=True)
class VitalTerm:
    """A vital sign's MDC term, the ``VitalSigns`` field it fills and the units it comes in."""

    term: Term
    field: str
    units: tuple[Term, ...]


VITALS = (
    VitalTerm(Term("147842", "MDC_ECG_HEART_RATE"), "heart_rate_bpm", (BEATS_PER_MIN,)),
    VitalTerm(Term("150021", "MDC_PRESS_BLD_NONINV_SYS"), "systolic_mmhg", (MMHG,)),
    VitalTerm(Term("150022", "MDC_PRESS_BLD_NONINV_DIA"), "diastolic_mmhg", (MMHG,)),
    VitalTerm(Term("150364", "MDC_TEMP_BODY"), "temperature_c", (DEG_C, DEG_F)),
    VitalTerm(Term("150456", "MDC_PULS_OXIM_SAT_O2"), "spo2_percent", (PERCENT,)),
    VitalTerm(Term("151562", "MDC_RESP_RATE"), "respiratory_rate_per_min", (BREATHS_PER_MIN,)),
)

# -- Patient-reported pain (ORU^R01 with LOINC 72514-3) ----------------------------------------
PAIN_SEVERITY = Term("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                     LOINC)  # fmt: skip
#: OBX-6 of a pain score (UCUM's annotation for a score); an empty unit is accepted too.
SCORE_UNIT = "{score}"
#: OBX-20 observation site -> the symptom (SNOMED CT body structures). No site: ``other``.
PAIN_SITES = {
    "77568009": SymptomKind.BACK_PAIN,  # Back structure
    "45048000": SymptomKind.NECK_PAIN,  # Neck structure
    "69536005": SymptomKind.HEADACHE,  # Head structure
}

# -- The infusion context (rows an interface engine adds to the PCD-10 start) ------------------
AGE = Term("30525-0", "Age", LOINC)
#: UCUM for years: ``a``.
YEARS = "a"
DOSE_G_KG = Term("ivig-dose-g-kg", "Prescribed IVIG dose per kg body weight", LOCAL)
DOSE_UNIT = "g/kg"
RISK_FACTOR = Term("risk-factor", "Risk factor for an infusion reaction", LOCAL)
PRIOR_INFUSIONS = Term("prior-ivig-infusions", "IVIG infusions before this one", LOCAL)
#: PCD-10 has no field for why the patient gets the drug: a local row, from the order.
INDICATION = Term("ivig-indication", "Indication for IVIG", LOCAL)
#: OBX-5 of a risk-factor row (CWE, system ``99PUMPSTREAM``): the ``RiskFactor`` values.
RISK_FACTOR_CODES = {factor.value: factor for factor in RiskFactor}
#: OBX-5 of an indication row (CWE, system ``99PUMPSTREAM``): the ``Indication`` values.
INDICATION_CODES = {indication.value: indication for indication in Indication}
CONTEXT_ROWS = (AGE, DOSE_G_KG, RISK_FACTOR, PRIOR_INFUSIONS, INDICATION)


class CodeKind(StrEnum):
    """Where an unknown code was found: the ``code_kind`` label (bounded; never the code)."""

    OBSERVATION = "observation"  # OBX-3
    UNIT = "unit"  # OBX-6
    EVENT = "event"  # OBR-4 of a PCD-10 message
    DELIVERY_STATUS = "delivery_status"  # OBX-5 of MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS
    PRODUCT = "product"  # OBX-5 of MDC_DRUG_NAME_LABEL
    BODY_SITE = "body_site"  # OBX-20 of a pain score
    RESULT_STATUS = "result_status"  # OBX-11
    RISK_FACTOR = "risk_factor"  # OBX-5 of a risk-factor row
    INDICATION = "indication"  # OBX-5 of an indication row
