"""Clinical scenarios, one per situation, shared by the pure rule tests (tests/unit) and the same
rows run through the real Faust agents on the embedded broker (tests/integration).

Each row builds its events for a given patient (``tests/support/events.py``), in arrival order,
and states per rule what the alerts must show; a rule not named must not fire. One Octagam 10 %
infusion in a 70 kg patient by default: 42 mL/h = 1 mg/kg/min, 84 = 2, 168 = 4, 525 = 12.5 (above
the 12 label maximum).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.alerts import AckResponse, ActionTaken, Alert, AlertPhase, AlertType
from schemas.events import RiskFactor, SymptomKind, Validity
from schemas.ivig_products import Indication
from streams.clinical.finding import PRIORITY_RANK
from streams.clinical.rules_file import RulesConfig, load_rules
from streams.clinical.state import ClinicalEventModel, PatientState
from streams.clinical.step import clinical_step
from tests.support.events import Patient

#: The wall-clock time unit tests run the clinical step at (it stamps ``created_at``).
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
RULES = load_rules()


def run_steps(
    ref: str,
    events: Iterable[ClinicalEventModel],
    rules: RulesConfig = RULES,
    now: datetime = NOW,
    *,
    technical: bool = False,
) -> tuple[list[Alert], PatientState]:
    """Every event through :func:`clinical_step` in the given (arrival) order, as the clinical
    agent does: every clinical alert (with ``technical``, the technical alerts about the feed
    too: tests/unit/clinical/test_blind_spots.py), and the patient's state at the end."""
    state = PatientState(patient_ref=ref)
    alerts: list[Alert] = []
    for event in events:
        alerts += clinical_step(state, event, rules, now).alerts
    if not technical:
        alerts = [a for a in alerts if a.type is not AlertType.TECHNICAL]
    return alerts, state


@dataclass(frozen=True)
class RuleExpect:
    """What one rule's alerts must show for a patient."""

    episodes: int = 1
    priority: str = "medium"
    ended: bool = False
    late: bool = False
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    build: Callable[[Patient], list[ClinicalEventModel]]
    rules: dict[str, RuleExpect] = field(default_factory=dict)
    #: Reaction records the ledger must hold for the patient at the end.
    reactions: int = 0


@dataclass(frozen=True)
class Outcome:
    """The per-rule summary of a patient's alerts, compared with the row's expectation."""

    rules: dict[str, RuleExpect]

    @classmethod
    def of(cls, alerts: Iterable[Alert]) -> Outcome:
        by_rule: dict[str, list[Alert]] = {}
        for alert in alerts:
            by_rule.setdefault(alert.rule, []).append(alert)
        summary = {}
        for rule, rule_alerts in by_rule.items():
            last_id = rule_alerts[-1].alert_id
            summary[rule] = RuleExpect(
                episodes=len({a.alert_id for a in rule_alerts}),
                priority=max((a.priority for a in rule_alerts), key=PRIORITY_RANK.__getitem__),
                ended=any(a.alert_id == last_id and a.phase is AlertPhase.END for a in rule_alerts),
                late=any(a.late_by_min is not None for a in rule_alerts),
                modifiers=tuple(sorted({m for a in rule_alerts for m in a.modifiers})),
            )
        return cls(summary)


def _titrated(p: Patient, **start: Any) -> list[ClinicalEventModel]:
    """Start at 1 mg/kg/min, step to 2 at 30 min and to 4 at 60 min."""
    return [p.start(**start), p.rate(30, 84.0), p.rate(60, 168.0)]


def R(**kw: Any) -> RuleExpect:
    return RuleExpect(**kw)


FP = AckResponse.FALSE_POSITIVE
#: Rows with no pre-move recording (tests/support/data): their events use fields added after it
#: (the code of that time refused them), or that code's outcome was wrong (issue 12's "late").
ROWS_AFTER_THE_RECORDING = frozenset(
    {
        "r3-signs-marked-progressive",
        "r3-signs-not-progressive-no-alert",
        "r8-above-the-dermatomyositis-label-maximum",
        "r8-within-the-itp-label-maximum",
        "r8-off-label-indication-uses-the-highest-maximum",
        # Issue 12's honest "late": the pre-move code titled this update late (its recording
        # would hold that), so it has none.
        "late-step-corrects-an-on-time-report-not-called-late",
    }
)
SCENARIOS: dict[str, Scenario] = {
    # R1 and its priority bands
    "r1-pain-18min-after-increase": Scenario(lambda p: [*_titrated(p), p.pain(78, 6)], {"R1": R()}),
    "r1-mild-pain-is-low": Scenario(lambda p: [*_titrated(p), p.pain(70, 2)], {"R1": R(priority="low")}),
    "r1-severe-pain-is-high": Scenario(lambda p: [*_titrated(p), p.pain(70, 8)], {"R1": R(priority="high")}),
    "r1-worse-report-updates-same-episode": Scenario(lambda p: [*_titrated(p), p.pain(70, 4), p.pain(75, 8)], {"R1": R(priority="high")}),
    "r1-resume-above-pre-pause-rate-is-an-increase": Scenario(lambda p: [p.start(rate=84.0), p.pause(10), p.resume(20, 168.0), p.pain(30, 6)], {"R1": R()}),
    "r1-pain-while-paused-after-increase": Scenario(lambda p: [*_titrated(p), p.pause(65), p.pain(70, 6)], {"R1": R(ended=False)}),
    # R4: risk factors raise priority one step
    "r4-renal-disease-raises-medium-to-high": Scenario(lambda p: [p.start(risk=(RiskFactor.RENAL_DISEASE,)), p.rate(30, 84.0), p.pain(40, 5)], {"R1": R(priority="high", modifiers=("R4",))}),
    "r4-age-70-raises-low-to-medium": Scenario(lambda p: [*_titrated(p, age=70), p.pain(70, 2)], {"R1": R(priority="medium", modifiers=("R4",)), "R8": R(priority="high", modifiers=("R4",))}),
    "r4-high-dose-is-a-risk-factor": Scenario(lambda p: [p.start(dose_g_kg=2.0), p.rate(30, 84.0), p.pain(40, 2)], {"R1": R(priority="medium", modifiers=("R4",))}),
    # R2: back pain with abnormal vitals
    "r2-tachycardia-over-120": Scenario(lambda p: [p.start(), p.vitals(20, hr=128), p.pain(22, 5)], {"R2": R(priority="high")}),
    "r2-heart-rate-20-over-baseline": Scenario(lambda p: [p.vitals(-10, hr=70), p.start(), p.vitals(40, hr=95), p.pain(41, 4)], {"R2": R(priority="high")}),
    "r2-fever": Scenario(lambda p: [p.start(), p.pain(30, 4), p.vitals(35, temp=38.3)], {"R2": R(priority="high")}),
    "r2-hypotension": Scenario(lambda p: [p.start(), p.vitals(30, sbp=85), p.pain(31, 4)], {"R2": R(priority="high")}),
    "r2-systolic-drop-from-baseline": Scenario(lambda p: [p.vitals(-5, sbp=135), p.start(), p.vitals(30, sbp=110), p.pain(31, 4)], {"R2": R(priority="high")}),
    "r2-low-spo2": Scenario(lambda p: [p.start(), p.vitals(30, spo2=90), p.pain(31, 4)], {"R2": R(priority="high")}),
    "r2-with-rate-step-fires-r1-and-r2": Scenario(lambda p: [*_titrated(p), p.vitals(75, hr=130), p.pain(78, 6)], {"R1": R(), "R2": R(priority="high")}),
    "r2-normal-vitals-no-alert": Scenario(lambda p: [p.start(), p.vitals(30, hr=95, temp=37.4), p.pain(31, 4)]),
    "r2-questionable-heart-rate-not-acted-on": Scenario(lambda p: [p.start(), p.vitals(30, hr=150, hr_validity=Validity.QUESTIONABLE), p.pain(31, 4)]),
    # R3: progressive neurological symptoms
    "r3-weakness-spreading-during-infusion": Scenario(lambda p: [p.start(), p.symptom(40, SymptomKind.OTHER, weakness=True, spreading=True)], {"R3": R(priority="high")}),
    "r3-neck-stiffness-with-severe-headache": Scenario(lambda p: [p.start(), p.symptom(90, SymptomKind.HEADACHE, neck_stiffness=True, severe_headache=True)], {"R3": R(priority="high")}),
    "r3-neck-stiffness-alone-no-alert": Scenario(lambda p: [p.start(), p.symptom(90, SymptomKind.NECK_PAIN, neck_stiffness=True)]),
    "r3-signs-marked-progressive": Scenario(lambda p: [p.start(), p.symptom(40, SymptomKind.OTHER, weakness=True, spreading=True, progressive=True)], {"R3": R(priority="high")}),
    "r3-signs-not-progressive-no-alert": Scenario(lambda p: [p.start(), p.symptom(40, SymptomKind.OTHER, weakness=True, spreading=True, progressive=False)]),
    "r3-hours-after-infusion-completed": Scenario(lambda p: [p.start(), p.done(180), p.symptom(900, SymptomKind.HEADACHE, neck_stiffness=True, severe_headache=True)], {"R3": R(priority="high")}),
    # R5: persistent pain after slowing
    "r5-pain-persists-30min-after-slowing": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.rate(85, 84.0), p.pain(100, 6), p.vitals(120)], {"R1": R(), "R5": R()}),
    "r5-pain-eases-by-2-no-r5": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.rate(85, 84.0), p.pain(100, 3), p.vitals(120)], {"R1": R()}),
    "r5-nurse-ack-of-pausing-starts-the-clock": Scenario(lambda p: [*_titrated(p), p.pain(78, 7), p.ack(80, "R1", f"{p.ref}-pain-78", AckResponse.TRUE_POSITIVE, ActionTaken.PAUSED), p.pain(105, 7), p.vitals(115)], {"R1": R(priority="high"), "R5": R()}),
    "r5-with-neurological-signs-is-high": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.rate(85, 84.0), p.pain(100, 6, tingling=True), p.vitals(120)], {"R1": R(), "R3": R(priority="high"), "R5": R(priority="high")}),
    # Episode ends and the reaction ledger; R7 reads it
    "episode-ends-when-pain-resolves": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.rate(85, 84.0), p.pain(105, 0)], {"R1": R(ended=True)}, reactions=1),
    "episode-ends-when-infusion-stopped": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.stop(90)], {"R1": R(ended=True)}, reactions=1),
    "r7-next-infusion-after-documented-reaction": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.stop(90), p.start(2000, infusion="b")], {"R1": R(ended=True), "R7": R(priority="low")}, reactions=1),
    "r7-not-after-reaction-marked-false-positive": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.ack(82, "R1", f"{p.ref}-pain-78", FP), p.done(200), p.start(2000, infusion="b")], {"R1": R(ended=True)}, reactions=1),
    # R6 and R8
    "r6-renal-risk-with-repeated-infusions": Scenario(lambda p: [p.start(risk=(RiskFactor.RENAL_DISEASE,)), p.done(200), p.start(2000, infusion="b", risk=(RiskFactor.RENAL_DISEASE,))], {"R6": R(priority="low")}),
    "r8-above-label-maximum": Scenario(lambda p: [p.start(), p.rate(30, 525.0)], {"R8": R()}),
    "r8-above-the-dermatomyositis-label-maximum": Scenario(lambda p: [p.start(indication=Indication.DERMATOMYOSITIS), p.rate(30, 210.0)], {"R8": R()}),
    "r8-within-the-itp-label-maximum": Scenario(lambda p: [p.start(indication=Indication.ITP), p.rate(30, 210.0)]),
    "r8-off-label-indication-uses-the-highest-maximum": Scenario(lambda p: [p.start(indication=Indication.GBS), p.rate(30, 210.0), p.rate(60, 525.0)], {"R8": R()}),
    "r8-above-3.3-with-risk-factors": Scenario(lambda p: [p.start(risk=(RiskFactor.HYPERTENSION,)), p.rate(30, 168.0)], {"R8": R(priority="high", modifiers=("R4",))}),
    "r8-ends-when-slowed-within-limits": Scenario(lambda p: [p.start(), p.rate(30, 525.0), p.rate(40, 400.0)], {"R8": R(ended=True)}),
    # Negatives
    "no-alert-pain-before-any-rate-change": Scenario(lambda p: [p.start(), p.pain(20, 6)]),
    "no-alert-pain-long-after-the-window": Scenario(lambda p: [p.start(), p.rate(30, 84.0), p.pain(95, 6)]),
    "no-alert-pain-after-a-rate-decrease": Scenario(lambda p: [p.start(rate=168.0), p.rate(30, 84.0), p.pain(40, 6)]),
    "no-alert-pain-with-no-running-infusion": Scenario(lambda p: [*_titrated(p), p.done(70), p.pain(75, 6)]),
    "no-alert-pain-with-no-infusion-at-all": Scenario(lambda p: [p.pain(20, 6)]),
    "no-alert-resumed-after-pause-at-the-same-rate": Scenario(lambda p: [p.start(rate=84.0), p.pause(10), p.resume(20, 84.0), p.pain(30, 6)]),
    # Delivery: duplicates, out of order, late
    "duplicate-events-change-nothing": Scenario(lambda p: [*_titrated(p), p.pain(78, 6), p.pain(78, 6), p.rate(60, 168.0)], {"R1": R()}),
    "pain-arrives-before-the-step-it-follows": Scenario(lambda p: [p.start(), p.pain(40, 6), p.rate(30, 84.0)], {"R1": R()}),
    "rate-change-arrives-before-the-infusion-start": Scenario(lambda p: [p.rate(30, 84.0), p.pain(40, 6), p.start()], {"R1": R()}),
    "late-step-corrects-an-on-time-report-not-called-late": Scenario(lambda p: [p.start(), p.rate(30, 84.0), p.pain(78, 4), p.vitals(100), p.rate(60, 168.0)], {"R1": R(late=False)}),
    "late-report-is-evaluated-and-says-late": Scenario(lambda p: [p.start(), p.rate(30, 84.0), p.vitals(120), p.pain(40, 6)], {"R1": R(late=True)}),
}  # fmt: skip


def scenario_params() -> list[Any]:
    return [pytest.param(name, scenario, id=name) for name, scenario in SCENARIOS.items()]
