"""The simulated feed as HL7 v2.6 messages (IHE PCD), written as ER7 by ``schemas.hl7_er7``.

- PCD-01 ``ORU^R01`` (DEC): one message per vital-signs set, OBX per measurement, MDC codes.
- PCD-10 ``ORU^R42`` (IPEC): one pump event per message; a rate change while running is a
  DELIVERY STOP (status ``transitioning``, old rate) followed by a DELIVERY START (new rate);
  a pause is a STOP with ``pump-status-not-infusing``.
- ``ORU^R01`` pain observations: LOINC 72514-3 (pain severity 0-10, reported).

Segments are separated by CR (HL7's separator); each message is followed by a newline in the files.
OBX-4 is the containment path ``MDS.VMD.CHANNEL.METRIC``; OBX-18 the device EUI-64.
Only the pseudonymous ``patient_ref`` identifies the patient (PID-3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    Measurement,
    RateChanged,
    SymptomKind,
    SymptomReport,
    VitalSigns,
)
from schemas.hl7_er7 import components, escape, message, segment
from schemas.ivig_products import PRODUCT_LABELS
from simulators.infusion_centre import Emitted

PCD01_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
PCD10_PROFILE = "IHE_PCD_IPEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.10.1^ISO"
SENDING_APP = "PUMPSTREAM_SIM^0050C20000000000^EUI-64"

EVT_DELIV_START = "197288^MDC_EVT_PUMP_DELIV_START^MDC"
#: No public MDC number: DOMAIN.md §3 says to accept the name with 0.
EVT_DELIV_STOP = "0^MDC_EVT_PUMP_DELIV_STOP^MDC"
EVT_DELIV_COMP = "197292^MDC_EVT_PUMP_DELIV_COMP^MDC"
ML_PER_H = "265266^MDC_DIM_MILLI_L_PER_HR^MDC"
#: The coding system of pumpstream's local codes (HL7's 99zzz convention).
LOCAL = "99PUMPSTREAM"

#: Vital sign -> (OBX-3 MDC code, OBX-6 unit).
VITAL_CODES: dict[str, tuple[str, str]] = {
    "heart_rate_bpm": ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "systolic_mmhg": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "diastolic_mmhg": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "temperature_c": ("150364^MDC_TEMP_BODY^MDC", "268192^MDC_DIM_DEGC^MDC"),
    "spo2_percent": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    "respiratory_rate_per_min": ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
}
PAIN_LOINC = "72514-3^Pain severity - 0-10 verbal numeric rating [Score] - Reported^LN"
#: OBX-20 observation site (SNOMED CT body structures).
PAIN_SITE = {
    SymptomKind.BACK_PAIN: "77568009^Back structure^SCT",
    SymptomKind.NECK_PAIN: "45048000^Neck structure^SCT",
    SymptomKind.HEADACHE: "69536005^Head structure^SCT",
}
_VALIDITY_STATUS = {"valid": "R", "questionable": "R", "invalid": "X"}


def hl7_time(when: datetime) -> str:
    """HL7 DTM with milliseconds and offset: 20260302080000.000+0000."""
    return when.strftime("%Y%m%d%H%M%S.") + f"{when.microsecond // 1000:03d}" + when.strftime("%z")


@dataclass(frozen=True, slots=True)
class _Obx:
    """One OBX: ``value`` and ``path`` are text (escaped when written) unless ``coded_value``
    (a CWE value already in ER7); ``code``, ``unit`` and ``site`` are coded elements already in
    ER7 (``code^text^system``)."""

    value_type: str
    code: str
    path: str
    value: str
    unit: str = ""
    status: str = "R"
    site: str = ""
    device: str = ""
    coded_value: bool = False


def _build(
    trigger: str, control_id: str, when: datetime, profile: str, patient_ref: str,
    location: str, obr_code: str, order_id: str | None, observations: Iterable[_Obx],
) -> str:  # fmt: skip
    """One ``ORU^R01``-structured message; ``location`` (PV1-3) is ER7, the rest text."""
    time = hl7_time(when)
    order = components(order_id, "PUMPSTREAM") if order_id is not None else ""
    segments = [
        segment("MSH", {3: SENDING_APP, 7: time, 9: f"ORU^{trigger}^ORU_R01",
                        10: escape(control_id), 11: "P", 12: "2.6", 15: "NE", 16: "AL",
                        21: profile}),
        segment("PID", {3: components(patient_ref, "", "", "PUMPSTREAM", "PI")}),
        segment("PV1", {2: "O", 3: location}),
    ]  # fmt: skip
    if order_id is not None:
        segments.append(segment("ORC", {1: "RE", 3: order}))
    segments.append(segment("OBR", {1: "1", 3: order, 4: obr_code, 7: time}))
    for n, obs in enumerate(observations, start=1):
        device = components(obs.device, "", obs.device, "EUI-64") if obs.device else ""
        segments.append(
            segment("OBX", {1: str(n), 2: obs.value_type, 3: obs.code, 4: escape(obs.path),
                            5: obs.value if obs.coded_value else escape(obs.value), 6: obs.unit,
                            11: obs.status, 14: time, 18: device, 20: obs.site})
        )  # fmt: skip
    return message(segments)


def _chair(device_id: str | None) -> str:
    """PV1-3 of a device's chair: point of care ``infusion-centre``, room ``cNNN``."""
    chair = int(device_id[-10:-2], 16) if device_id else 0
    return components("infusion-centre", f"c{chair:03d}")


def _pump_obx(device: str, status: str, rate_ml_h: float | None) -> list[_Obx]:
    rows = [
        _Obx("", "69985^MDC_DEV_PUMP_INFUS_MDS^MDC", "1.0.0.0", "", status="X", device=device),
        _Obx("", "69986^MDC_DEV_PUMP_INFUS_VMD^MDC", "1.1.0.0", "", status="X"),
        _Obx("ST", "158005^MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS^MDC", "1.1.1.158005", status),
    ]
    if rate_ml_h is not None:
        rows.append(
            _Obx("NM", "157784^MDC_FLOW_FLUID_PUMP^MDC", "1.1.1.157784", f"{rate_ml_h:g}", ML_PER_H)
        )
    return rows


def _context_obx(context: InfusionContext) -> list[_Obx]:
    """What a start needs beyond the pump's rows, as an interface engine adds it from the order
    and the record (docs/integration.md, "The infusion context"): age (LOINC 30525-0), the
    prescribed dose, risk factors, prior infusions and the indication (local codes, system
    ``99PUMPSTREAM``)."""
    rows = [
        _Obx("NM", "30525-0^Age^LN", "", f"{context.age_years}", "a^^UCUM"),
        _Obx("NM", f"ivig-dose-g-kg^Prescribed IVIG dose per kg body weight^{LOCAL}", "",
             f"{context.dose_g_kg:g}", "g/kg^^UCUM"),
    ]  # fmt: skip
    rows += [
        _Obx("CWE", f"risk-factor^Risk factor for an infusion reaction^{LOCAL}", "",
             f"{escape(factor.value)}^^{LOCAL}", coded_value=True)
        for factor in context.risk_factors
    ]  # fmt: skip
    if context.prior_infusions is not None:
        rows.append(
            _Obx("NM", f"prior-ivig-infusions^IVIG infusions before this one^{LOCAL}", "",
                 str(context.prior_infusions))
        )  # fmt: skip
    if context.indication is not None:
        rows.append(
            _Obx("CWE", f"ivig-indication^Indication for IVIG^{LOCAL}", "",
                 f"{escape(context.indication.value)}^^{LOCAL}", coded_value=True)
        )  # fmt: skip
    return rows


def pcd10_messages(event: BaseModel) -> list[str]:
    """The PCD-10 ``ORU^R42`` message(s) for one pump event (two for a rate change)."""
    if not isinstance(
        event, InfusionStarted | RateChanged | InfusionPaused | InfusionResumed | InfusionCompleted
    ):
        return []
    device = event.device_id or "0000000000000000"
    common = (event.patient_ref, _chair(event.device_id))

    def one(suffix: str, code: str, rows: list[_Obx]) -> str:
        return _build("R42", f"{event.event_id}{suffix}", event.event_time, PCD10_PROFILE,
                      common[0], common[1], code, event.infusion_id, rows)  # fmt: skip

    if isinstance(event, InfusionStarted):
        rows = _pump_obx(device, "infusing", event.rate_ml_h)
        label = PRODUCT_LABELS[event.context.product]
        rows += [
            _Obx("ST", "184514^MDC_DRUG_NAME_LABEL^MDC", "1.1.1.184514", label.name),
            _Obx("NM", "157760^MDC_CONC_DRUG^MDC", "1.1.1.157760",
                 f"{event.context.concentration_mg_ml:g}", "264306^MDC_DIM_MILLI_G_PER_ML^MDC"),
            _Obx("NM", "68063^MDC_ATTR_PT_WEIGHT^MDC", "1.1.1.68063",
                 f"{event.context.weight_kg:g}", "263875^MDC_DIM_KILO_G^MDC"),
        ]  # fmt: skip
        return [one("", EVT_DELIV_START, rows + _context_obx(event.context))]
    if isinstance(event, RateChanged):
        old = event.previous_rate_ml_h
        return [
            one(".1", EVT_DELIV_STOP, _pump_obx(device, "transitioning", old)),
            one(".2", EVT_DELIV_START, _pump_obx(device, "infusing", event.rate_ml_h)),
        ]
    if isinstance(event, InfusionPaused):
        return [one("", EVT_DELIV_STOP, _pump_obx(device, "pump-status-not-infusing", None))]
    if isinstance(event, InfusionResumed):
        return [one("", EVT_DELIV_START, _pump_obx(device, "infusing", event.rate_ml_h))]
    rows = _pump_obx(device, "pump-status-not-infusing", None)
    if event.volume_delivered_ml is not None:
        rows.append(
            _Obx(
                "NM",
                "157993^MDC_VOL_FLUID_DELIV_TOTAL^MDC",
                "1.1.1.157993",
                f"{event.volume_delivered_ml:g}",
                "263762^MDC_DIM_MILLI_L^MDC",
            )
        )
    return [one("", EVT_DELIV_COMP, rows)]


def pcd01_message(event: VitalSigns, monitor_id: str) -> str:
    rows = []
    for name, (code, unit) in VITAL_CODES.items():
        m: Measurement | None = getattr(event, name)
        if m is None:
            continue
        metric = code.split("^", 1)[0]
        rows.append(
            _Obx(
                "NM",
                code,
                f"1.1.1.{metric}",
                f"{m.value:g}",
                unit,
                _VALIDITY_STATUS[m.validity.value],
                device=monitor_id,
            )
        )
    return _build(
        "R01",
        event.event_id,
        event.event_time,
        PCD01_PROFILE,
        event.patient_ref,
        _chair(monitor_id),
        "182777000^monitoring of patient^SCT",
        None,
        rows,
    )


def pain_message(event: SymptomReport) -> str | None:
    """ORU^R01 with the reported pain score (LOINC 72514-3); None for reports without one."""
    if event.pain_score is None:
        return None
    row = _Obx("NM", PAIN_LOINC, "", str(event.pain_score), "{score}^^UCUM",
               site=PAIN_SITE.get(event.symptom, ""))  # fmt: skip
    return _build(
        "R01",
        event.event_id,
        event.event_time,
        PCD01_PROFILE,
        event.patient_ref,
        "infusion-centre",
        "72514-3^Pain severity^LN",
        event.infusion_id,
        [row],
    )


HL7_FILES = ("pcd-01-vitals.hl7", "pcd-10-pump-events.hl7", "pain-observations.hl7")


def write_hl7(
    directory: Path,
    emitted: Sequence[Emitted],
    monitor_of: dict[str, str],
    *,
    on_message: Callable[[], None] = lambda: None,
) -> list[Path]:
    """The clean feed as three HL7 files (faults are injected into the JSON feed only);
    ``on_message`` is called once per emitted event, as it is converted."""
    vitals: list[str] = []
    pump: list[str] = []
    pain: list[str] = []
    for item in emitted:
        on_message()
        event = item.event
        if isinstance(event, VitalSigns):
            vitals.append(pcd01_message(event, monitor_of.get(event.patient_ref, "")))
        elif isinstance(event, SymptomReport):
            reported = pain_message(event)
            if reported is not None:
                pain.append(reported)
        else:
            pump.extend(pcd10_messages(event))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, messages in zip(HL7_FILES, (vitals, pump, pain), strict=True):
        path = directory / name
        path.write_text("".join(f"{m}\n" for m in messages), encoding="utf-8", newline="")
        paths.append(path)
    return paths


def read_hl7_file(path: Path) -> list[str]:
    """The messages of a file written by :func:`write_hl7` (segments end with CR, so read the
    bytes: text mode would turn every CR into a newline)."""
    return [m for m in path.read_bytes().decode("utf-8").split("\n") if m]
