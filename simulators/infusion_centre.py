"""The infusion centre on simulated time: chairs, patients, pumps, monitors and reactions.

A discrete-event simulation: callbacks on a heap ordered by (simulated second, sequence number),
so the same scenario and seed always give the same day. Each chair and each visit draws from its
own random stream (``derive_rng``). Nurses (``simulators.nurse``) act through :meth:`slow` and
:meth:`pause`; the pump then reports the change like any other, which closes the loop.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas.events import (
    InfusionCompleted,
    InfusionContext,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    Measurement,
    NeurologicalSigns,
    PumpStatus,
    RateChanged,
    SymptomKind,
    SymptomReport,
    VitalSigns,
)
from schemas.ivig_products import PRODUCT_LABELS, TITRATION_PROTOCOLS
from schemas.topics import PUMP_EVENTS_RAW, SYMPTOMS_RAW, VITALS_RAW
from simulators.clock import SimClock, derive_rng
from simulators.cohort import draw_patient
from simulators.infusion_visit import RateStepUp, Visit
from simulators.reaction_model import (
    NeuroKind,
    ReactionCourse,
    Severity,
    VitalsShift,
    draw,
    draw_baseline,
    plan_reaction,
    step_reaction_probability,
    tolerance_mg_kg_min,
)
from simulators.scenario import Scenario

MIN = 60.0


@dataclass(frozen=True, slots=True)
class Emitted:
    """One message the simulated devices (or nurses) send, as a validated event."""

    offset_s: float
    topic: str
    event: BaseModel
    note: str = ""


def device_eui64(chair: int, device: int) -> str:
    """A chair's pump (1) or monitor (2) as an EUI-64; tied to the chair, never to a patient."""
    return f"{(0x0050C2 << 40) | (chair << 8) | device:016X}"


class InfusionCentre:
    def __init__(self, scenario: Scenario, seed: int, *, start: datetime | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.clock = SimClock(start or scenario.start)
        self.end_s = scenario.duration_h * 3600.0
        self.now_s = 0.0
        self.visits: list[Visit] = []
        self._current: dict[str, Visit] = {}
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._emitted: list[Emitted] = []
        self._drained = 0
        for chair in range(1, scenario.chairs + 1):
            rng = derive_rng(seed, "chair", chair)
            self.schedule(
                draw(rng, scenario.protocol.arrival_window_min) * MIN, self._arrive, chair, 1
            )

    # -- the event loop -------------------------------------------------------------------

    def schedule(self, at_s: float, action: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (max(at_s, self.now_s), self._seq, action, args))

    def run_until(self, t_s: float) -> None:
        """Run every callback due at or before ``t_s`` (never past the end of the day)."""
        limit = min(t_s, self.end_s)
        while self._heap and self._heap[0][0] <= limit:
            at_s, _, action, args = heapq.heappop(self._heap)
            self.now_s = at_s
            action(*args)
        self.now_s = max(self.now_s, limit)

    def run(self) -> None:
        self.run_until(self.end_s)

    @property
    def finished(self) -> bool:
        return self.now_s >= self.end_s

    def emit(self, topic: str, event: BaseModel, note: str = "") -> None:
        self._emitted.append(Emitted(self.now_s, topic, event, note))

    def drain(self) -> list[Emitted]:
        """Messages emitted since the last drain, in emission order."""
        fresh = self._emitted[self._drained :]
        self._drained = len(self._emitted)
        return fresh

    @property
    def emitted(self) -> list[Emitted]:
        return list(self._emitted)

    def visit_of(self, patient_ref: str) -> Visit | None:
        return self._current.get(patient_ref)

    # -- arrivals, titration, completion ---------------------------------------------------

    def _arrive(self, chair: int, number: int) -> None:
        spec = self.scenario
        if self.end_s - self.now_s < spec.protocol.min_remaining_min * MIN:
            return
        rng = derive_rng(self.seed, "visit", chair, number)
        profile = draw_patient(spec.cohort, rng, f"pt-{chair:03d}-{number}")
        protocol = TITRATION_PROTOCOLS[profile.product]
        capped = profile.has_risk_factors and rng.random() < spec.protocol.risk_cap_adherence
        cap = spec.protocol.risk_cap_mg_kg_min if capped else None
        schedule = list(protocol.schedule_mg_kg_min(profile.label_indication, cap))
        if rng.random() < spec.protocol.programming_error_probability:
            # A keying error on the last step: above the product's label maximum (R8 material).
            schedule.append(round(PRODUCT_LABELS[profile.product].max_mg_kg_min * 1.25, 2))
        visit = Visit(
            chair=chair, number=number, profile=profile,
            infusion_id=f"inf-{self.clock.start:%Y%m%d}-c{chair:03d}-{number}",
            pump_id=device_eui64(chair, 1), monitor_id=device_eui64(chair, 2), rng=rng,
            start_s=self.now_s, schedule=tuple(schedule),
            tolerance=tolerance_mg_kg_min(profile, spec.reaction, rng),
            baseline=draw_baseline(rng), accounted_s=self.now_s,
        )  # fmt: skip
        self.visits.append(visit)
        self._current[profile.patient_ref] = visit
        visit.rate_ml_h = visit.rate_for(schedule[0])
        visit.rate_history.append((self.now_s, visit.rate_ml_h, True))
        context = InfusionContext(
            product=profile.product, concentration_mg_ml=profile.concentration_mg_ml,
            weight_kg=profile.weight_kg, age_years=profile.age_years, dose_g_kg=profile.dose_g_kg,
            risk_factors=profile.risk_factors, ward=spec.ward, indication=profile.indication,
            # The cohort knows first versus repeat, not how many: a repeat counts as one prior.
            prior_infusions=0 if profile.first_infusion else 1,
        )  # fmt: skip
        self._pump(
            visit,
            InfusionStarted(
                event_id=visit.event_id("start"), patient_ref=profile.patient_ref,
                event_time=self.clock.at(self.now_s), infusion_id=visit.infusion_id,
                device_id=visit.pump_id, rate_ml_h=visit.rate_ml_h, context=context,
            ),
            f"start {profile.product.value} at {schedule[0]:g} mg/kg/min",
        )  # fmt: skip
        self._schedule_next_step(visit)
        self._schedule_completion(visit)
        self.schedule(self.now_s + 30.0, self._vitals, visit)
        if profile.chronic_back_pain:
            for _ in range(rng.randint(1, 2)):
                self.schedule(self.now_s + rng.uniform(20, 150) * MIN, self._chronic_pain, visit)

    def _schedule_next_step(self, visit: Visit) -> None:
        if visit.step + 1 >= len(visit.schedule):
            return
        low, high = TITRATION_PROTOCOLS[visit.profile.product].interval_min_range
        self.schedule(self.now_s + visit.rng.randint(low, high) * MIN, self._step_up, visit)

    def _step_up(self, visit: Visit) -> None:
        if visit.status is not PumpStatus.RUNNING or visit.held:
            return
        visit.step += 1
        dose = visit.schedule[visit.step]
        before = visit.rate_ml_h
        self._change_rate(visit, visit.rate_for(dose), f"rate step to {dose:g} mg/kg/min")
        step = RateStepUp(self.now_s, before, visit.rate_ml_h)
        visit.increases.append(step)
        p = step_reaction_probability(dose, visit.tolerance, self.scenario.reaction)
        if visit.planned_reaction is None and visit.rng.random() < p:
            plan = plan_reaction(
                self.scenario.reaction, visit.rng, dose, visit.tolerance, visit.baseline
            )
            visit.planned_reaction = plan
            visit.trigger = step
            self.schedule(self.now_s + plan.onset_delay_s, self._onset, visit)
        self._schedule_next_step(visit)

    def _schedule_completion(self, visit: Visit) -> None:
        visit.completion_token += 1
        remaining_s = visit.seconds_to_complete()
        if remaining_s is not None:
            self.schedule(self.now_s + remaining_s, self._complete, visit, visit.completion_token)

    def _complete(self, visit: Visit, token: int) -> None:
        if token != visit.completion_token or visit.status is not PumpStatus.RUNNING:
            return
        visit.account(self.now_s)
        visit.status = PumpStatus.COMPLETED
        visit.end_s = self.now_s
        visit.rate_history.append((self.now_s, 0.0, False))
        self._pump(
            visit,
            InfusionCompleted(
                event_id=visit.event_id("done"), patient_ref=visit.profile.patient_ref,
                event_time=self.clock.at(self.now_s), infusion_id=visit.infusion_id,
                device_id=visit.pump_id, volume_delivered_ml=round(visit.delivered_ml, 1),
            ),
            "infusion completed",
        )  # fmt: skip
        rng = derive_rng(self.seed, "chair", visit.chair, "changeover", visit.number)
        changeover_s = draw(rng, self.scenario.protocol.changeover_min) * MIN
        self.schedule(self.now_s + changeover_s, self._arrive, visit.chair, visit.number + 1)

    def _pump(self, visit: Visit, event: BaseModel, note: str) -> None:
        self.emit(PUMP_EVENTS_RAW.name, event, note)

    def _change_rate(self, visit: Visit, rate_ml_h: float, note: str) -> None:
        visit.account(self.now_s)
        previous = visit.rate_ml_h
        visit.rate_ml_h = rate_ml_h
        visit.rate_history.append((self.now_s, rate_ml_h, True))
        self._pump(
            visit,
            RateChanged(
                event_id=visit.event_id("rate"), patient_ref=visit.profile.patient_ref,
                event_time=self.clock.at(self.now_s), infusion_id=visit.infusion_id,
                device_id=visit.pump_id, rate_ml_h=rate_ml_h, previous_rate_ml_h=previous,
            ),
            note,
        )  # fmt: skip
        self._schedule_completion(visit)

    # -- what nurses do ---------------------------------------------------------------------

    def slow(self, patient_ref: str, rate_ml_h: float | None = None, *, by: str = "nurse") -> bool:
        """Reprogram the pump lower now: to ``rate_ml_h`` or, when None, to the last tolerated
        rate (before the step that set off a reaction) or by 50 %. False when not running."""
        visit = self._current.get(patient_ref)
        if visit is None or visit.status is not PumpStatus.RUNNING:
            return False
        if rate_ml_h is None:
            rate_ml_h = (
                visit.trigger.rate_before_ml_h
                if visit.trigger is not None
                else round(visit.rate_ml_h / 2, 1)
            )
        rate_ml_h = round(max(1.0, min(rate_ml_h, visit.rate_ml_h)), 1)
        if rate_ml_h >= visit.rate_ml_h:
            return False
        visit.held = True
        self._change_rate(visit, rate_ml_h, f"slowed by {by} to {rate_ml_h:g} mL/h")
        self._record_action(visit, "slowed", by)
        return True

    def pause(self, patient_ref: str, *, by: str = "nurse") -> bool:
        visit = self._current.get(patient_ref)
        if visit is None or visit.status is not PumpStatus.RUNNING:
            return False
        visit.account(self.now_s)
        visit.status = PumpStatus.PAUSED
        visit.held = True
        visit.completion_token += 1
        visit.rate_history.append((self.now_s, visit.rate_ml_h, False))
        self._pump(
            visit,
            InfusionPaused(
                event_id=visit.event_id("pause"), patient_ref=patient_ref,
                event_time=self.clock.at(self.now_s), infusion_id=visit.infusion_id,
                device_id=visit.pump_id,
            ),
            f"paused by {by}",
        )  # fmt: skip
        self._record_action(visit, "paused", by)
        return True

    def _record_action(self, visit: Visit, action: str, by: str) -> None:
        if visit.action is None:
            visit.action, visit.action_by, visit.action_s = action, by, self.now_s
        lowered_below_trigger = visit.trigger is not None and (
            visit.status is PumpStatus.PAUSED or visit.rate_ml_h < visit.trigger.rate_after_ml_h
        )
        if not lowered_below_trigger:
            return
        if visit.reaction is None:
            visit.reaction_cancelled = True  # slowed before it began: it never starts
            return
        resolved_at = visit.reaction.start_relief(self.now_s)
        if resolved_at is not None:
            self.schedule(resolved_at, self._resolved, visit)

    def _resume(self, visit: Visit) -> None:
        if visit.status is not PumpStatus.PAUSED:
            return
        visit.account(self.now_s)
        visit.status = PumpStatus.RUNNING
        lower = visit.trigger.rate_before_ml_h if visit.trigger else visit.rate_ml_h / 2
        visit.rate_ml_h = round(lower, 1)
        visit.rate_history.append((self.now_s, visit.rate_ml_h, True))
        self._pump(
            visit,
            InfusionResumed(
                event_id=visit.event_id("resume"), patient_ref=visit.profile.patient_ref,
                event_time=self.clock.at(self.now_s), infusion_id=visit.infusion_id,
                device_id=visit.pump_id, rate_ml_h=visit.rate_ml_h,
            ),
            f"resumed lower at {visit.rate_ml_h:g} mL/h",
        )  # fmt: skip
        self._schedule_completion(visit)

    def _bedside_notice(self, visit: Visit) -> None:
        """Without the pipeline, the nurse at the chair acts once they notice."""
        if visit.action is not None or visit.reaction is None:
            return
        plan = visit.reaction.plan
        if plan.severity is Severity.SEVERE or plan.peak_pain_score >= 7:
            self.pause(visit.profile.patient_ref, by="bedside")
        else:
            self.slow(visit.profile.patient_ref, by="bedside")

    # -- the patient ------------------------------------------------------------------------

    def _onset(self, visit: Visit) -> None:
        plan = visit.planned_reaction
        if plan is None or visit.reaction_cancelled or visit.status is PumpStatus.COMPLETED:
            return
        visit.reaction = ReactionCourse(plan, onset_s=self.now_s)
        delay_s = draw(visit.rng, self.scenario.reaction.report_delay_min) * MIN
        self.schedule(self.now_s + delay_s, self._report, visit)
        if plan.neuro is not None:
            self.schedule(self.now_s + plan.neuro_delay_s, self._neuro, visit, 1)

    def _symptom(
        self, visit: Visit, kind: SymptomKind, score: int | None, note: str, **extra: Any
    ) -> None:
        self.emit(
            SYMPTOMS_RAW.name,
            SymptomReport(
                event_id=visit.event_id("sym"), patient_ref=visit.profile.patient_ref,
                event_time=self.clock.at(self.now_s), symptom=kind, pain_score=score,
                infusion_id=visit.infusion_id, **extra,
            ),
            note,
        )  # fmt: skip

    def _report(self, visit: Visit) -> None:
        course = visit.reaction
        if course is None or visit.status is PumpStatus.COMPLETED or visit.resolved_s is not None:
            return
        first = visit.first_report_s is None
        if first:
            visit.first_report_s = self.now_s
            visit.held = True  # nobody steps the rate up on a patient who complains
            if self.scenario.nurse.unaided_response:
                notice_s = draw(visit.rng, self.scenario.nurse.unaided_notice_min) * MIN
                self.schedule(self.now_s + notice_s, self._bedside_notice, visit)
        for kind in course.plan.symptoms:
            if kind is SymptomKind.BACK_PAIN:
                score = max(1, course.pain_score_at(self.now_s))
                if visit.first_back_pain_report_s is None:
                    visit.first_back_pain_report_s = self.now_s
                self._symptom(visit, kind, score, f"back pain {score}/10")
            elif first:
                self._symptom(visit, kind, None, kind.value)
        interval_s = draw(visit.rng, self.scenario.reaction.report_interval_min) * MIN
        self.schedule(self.now_s + interval_s, self._report, visit)

    def _resolved(self, visit: Visit) -> None:
        if visit.status is PumpStatus.COMPLETED or visit.resolved_s is not None:
            return
        visit.resolved_s = self.now_s
        if visit.reaction is not None and visit.reaction.plan.back_pain:
            self._symptom(visit, SymptomKind.BACK_PAIN, 0, "back pain gone 0/10")
        if visit.status is PumpStatus.PAUSED:
            self.schedule(self.now_s + visit.rng.uniform(2, 5) * MIN, self._resume, visit)

    def _neuro(self, visit: Visit, stage: int) -> None:
        if visit.reaction is None or visit.status is PumpStatus.COMPLETED or stage > 3:
            return
        if visit.neuro_report_s is None:
            visit.neuro_report_s = self.now_s
        if visit.reaction.plan.neuro is NeuroKind.MENINGISM:
            signs = NeurologicalSigns(neck_stiffness=True, severe_headache=True)
            self._symptom(visit, SymptomKind.NECK_PAIN, 6 + stage, "neck stiffness, severe "
                          "headache", reporter="nurse", neurological=signs)  # fmt: skip
        else:
            signs = NeurologicalSigns(
                tingling=True, numbness=stage >= 2, spreading=stage >= 2, weakness=stage >= 3
            )
            self._symptom(visit, SymptomKind.OTHER, None, f"neurological signs, stage {stage}",
                          reporter="nurse", neurological=signs)  # fmt: skip
        self.schedule(self.now_s + 15 * MIN, self._neuro, visit, stage + 1)

    def _chronic_pain(self, visit: Visit) -> None:
        if visit.status is PumpStatus.COMPLETED:
            return
        visit.chronic_reports += 1
        score = visit.rng.randint(2, 4)
        self._symptom(visit, SymptomKind.BACK_PAIN, score, f"chronic back pain {score}/10")

    def _vitals(self, visit: Visit) -> None:
        if visit.status is PumpStatus.COMPLETED:
            return
        rng, base = visit.rng, visit.baseline
        level = visit.reaction.intensity_at(self.now_s) if visit.reaction else 0.0
        shift = visit.reaction.plan.vitals_shift if visit.reaction else VitalsShift()

        def value(baseline: float, delta: float, noise: float, digits: int) -> Measurement:
            return Measurement(value=round(baseline + delta * level + rng.gauss(0, noise), digits))

        spo2 = min(100.0, round(base.spo2_percent + shift.spo2_percent * level + rng.gauss(0, 0.3)))
        self.emit(
            VITALS_RAW.name,
            VitalSigns(
                event_id=visit.event_id("vit"),
                patient_ref=visit.profile.patient_ref,
                event_time=self.clock.at(self.now_s),
                heart_rate_bpm=value(base.heart_rate_bpm, shift.heart_rate_bpm, 1.5, 0),
                systolic_mmhg=value(base.systolic_mmhg, shift.systolic_mmhg, 2.0, 0),
                diastolic_mmhg=value(base.diastolic_mmhg, shift.systolic_mmhg * 0.6, 1.5, 0),
                temperature_c=value(base.temperature_c, shift.temperature_c, 0.05, 1),
                spo2_percent=Measurement(value=spo2),
                respiratory_rate_per_min=value(
                    base.respiratory_rate_per_min, shift.respiratory_rate_per_min, 0.7, 0
                ),
            ),
        )
        self.schedule(self.now_s + self.scenario.vitals.interval_min * MIN, self._vitals, visit)
