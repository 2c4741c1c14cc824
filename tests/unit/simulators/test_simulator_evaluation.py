"""Scoring alerts against ground truth, per rule, and the simulated nurse's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.alerts import (
    AckResponse,
    ActionTaken,
    Alert,
    AlertPhase,
    AlertPriority,
    AlertType,
    Evidence,
    Recommendation,
    RecommendationCode,
)
from simulators.evaluation import ANY_REACTION, format_scores, score_alerts
from simulators.ground_truth import GroundTruth, LabelKind, TruthLabel
from simulators.infusion_centre import InfusionCentre
from simulators.nurse import Nurse
from simulators.scenario import NurseSpec
from tests.support.simulator_scenarios import one_reacting_patient

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def _label(ref: str, onset_min: float, end_min: float, rules: tuple[str, ...],
           kind: LabelKind = LabelKind.RATE_REACTION) -> TruthLabel:  # fmt: skip
    return TruthLabel(label_id=f"inf-{ref}:{kind.value}", kind=kind, patient_ref=ref,
                      infusion_id=f"inf-{ref}", rules=rules,
                      onset_time=T0 + timedelta(minutes=onset_min),
                      end_time=T0 + timedelta(minutes=end_min))  # fmt: skip


def _alert(alert_id: str, ref: str, rule: str, at_min: float, phase: AlertPhase = AlertPhase.START,
           kind: AlertType = AlertType.PHYSIOLOGICAL) -> Alert:  # fmt: skip
    return Alert(alert_id=alert_id, phase=phase, patient_ref=ref, infusion_id=f"inf-{ref}",
                 rule=rule, priority=AlertPriority.MEDIUM, type=kind, title="t",
                 recommendations=(), evidence=Evidence(),
                 event_time=T0 + timedelta(minutes=at_min), created_at=T0)  # fmt: skip


TRUTH = GroundTruth(
    scenario="t", seed=1, start=T0, end=T0 + timedelta(hours=4), infusions=4,
    patients_with_chronic_back_pain=1,
    labels=(
        _label("pt-a", 60, 90, ("R1",)),
        _label("pt-b", 70, 100, ("R1", "R2", "R4")),
        _label("pt-c", 80, 120, ("R1",)),
        _label("pt-d", 0, 200, ("R6",), LabelKind.RENAL_ADVISORY),
    ),
)  # fmt: skip


def test_scores_per_rule_from_the_alerts_rule_field() -> None:
    alerts = [
        _alert("a1", "pt-a", "R1", 62), _alert("a1", "pt-a", "R1", 70, AlertPhase.UPDATE),
        _alert("b1", "pt-b", "R1", 75), _alert("b2", "pt-b", "R2", 80),
        _alert("x1", "pt-x", "R1", 100),  # chronic back pain: no reaction
        _alert("c1", "pt-c", "R1", 200),  # after the episode ended
        _alert("r7", "pt-a", "R7", 10, kind=AlertType.ADVISORY),  # a rule truth knows nothing of
    ]  # fmt: skip
    scores = {s.rule: s for s in score_alerts(alerts, TRUTH)}
    r1 = scores["R1"]
    assert (r1.alerts, r1.true_positives, r1.labels, r1.detected) == (4, 2, 3, 2)
    assert r1.precision == 0.5
    assert r1.recall == pytest.approx(2 / 3)
    assert r1.onset_to_alert_min == [2.0, 5.0]
    assert (scores["R2"].precision, scores["R2"].recall) == (1.0, 1.0)
    assert (scores["R4"].alerts, scores["R4"].recall) == (0, 0.0)
    assert scores["R4"].precision is None
    assert (scores["R6"].labels, scores["R6"].detected) == (1, 0)
    assert (scores["R7"].precision, scores["R7"].recall) == (0.0, None)
    reactions = scores[ANY_REACTION]
    assert (reactions.alerts, reactions.true_positives, reactions.detected) == (5, 3, 2)
    table = format_scores(list(scores.values()))
    assert "R7" in table
    assert "n/a" in table
    assert table.splitlines()[0].startswith("rule")


def _slow_alert(ref: str, phase: AlertPhase = AlertPhase.START, first: RecommendationCode =
                RecommendationCode.SLOW_RATE) -> Alert:  # fmt: skip
    recs = [
        Recommendation(code=RecommendationCode.SLOW_RATE, text="slow",
                       params={"target_rate_ml_h": 40.0, "half_rate_ml_h": 42.0}),
        Recommendation(code=RecommendationCode.PAUSE, text="pause"),
    ]  # fmt: skip
    if first is RecommendationCode.PAUSE:
        recs.reverse()
    return _alert("al-1", ref, "R1", 40, phase).model_copy(update={"recommendations": tuple(recs)})


def test_nurse_follows_the_first_suggestion_once_per_episode() -> None:
    nurse = Nurse(NurseSpec(follow_probability=1.0), seed=1)
    decision = nurse.decide(_slow_alert("pt-a"))
    assert decision is not None
    assert (decision.response, decision.action, decision.target_rate_ml_h) == (
        AckResponse.ACCEPTED, ActionTaken.SLOWED, 40.0)  # fmt: skip
    assert 5 <= decision.ack_after_s <= 30
    assert decision.act_after_s > decision.ack_after_s
    assert nurse.decide(_slow_alert("pt-a", AlertPhase.UPDATE)) is None
    pause = Nurse(NurseSpec(follow_probability=1.0), 1).decide(
        _slow_alert("pt-a", first=RecommendationCode.PAUSE)
    )
    assert pause is not None
    assert pause.action is ActionTaken.PAUSED
    declined = Nurse(NurseSpec(follow_probability=0.0), 1).decide(_slow_alert("pt-a"))
    assert declined is not None
    assert (declined.response, declined.action) == (
        AckResponse.NOT_CLINICALLY_RELEVANT, ActionTaken.NONE)  # fmt: skip


def test_nurse_acks_then_the_pump_reports_the_slowing() -> None:
    centre = InfusionCentre(one_reacting_patient(), 7)
    centre.run_until(45 * 60)
    ref = centre.visits[0].profile.patient_ref
    nurse = Nurse(centre.scenario.nurse, 7)
    decision = nurse.decide(_slow_alert(ref))
    assert decision is not None
    nurse.schedule(centre, decision)
    centre.run()
    acks = [e for e in centre.emitted if e.topic == "alerts.acks"]
    assert [(a.event.response, a.event.action_taken) for a in acks] == [  # type: ignore[attr-defined]
        (AckResponse.READ, ActionTaken.NONE), (AckResponse.ACCEPTED, ActionTaken.SLOWED)]  # fmt: skip
    slowed = [e for e in centre.emitted if e.note == "slowed by nurse to 40 mL/h"]
    assert len(slowed) == 1
    assert slowed[0].offset_s == pytest.approx(acks[1].offset_s)
    assert centre.visits[0].resolved_s is not None


def test_page_figures_count_pages_per_true_episode_missed_and_technical() -> None:
    """Issue 12: pages (start, priority-raising update, escalate) per true episode; an end or a
    refresh is no page; a label no clinical alert fell on is missed."""
    from schemas.notifications import AlertNotification, NotificationKind, Recipient
    from simulators.evaluation import format_page_figures, page_figures

    alerts = [
        _alert("b1", "pt-b", "R1", 75), _alert("b2", "pt-b", "R2", 75),
        _alert("a1", "pt-a", "R1", 62),
        _alert("t1", "pt-c", "T1", 85, kind=AlertType.TECHNICAL),  # pt-c's reaction: no clinical alert
    ]  # fmt: skip
    nurse = Recipient(role="bedside_nurse", name="n", contact="c")

    def note(kind: NotificationKind, alert: Alert) -> AlertNotification:
        return AlertNotification(notification_id=f"{alert.alert_id}-{kind}", kind=kind,
                                 alert=alert, step=0, recipient=nurse, triggered_at=T0,
                                 produced_at=T0)  # fmt: skip

    kinds = [NotificationKind.START, NotificationKind.REFRESH, NotificationKind.START,
             NotificationKind.ESCALATE, NotificationKind.END, NotificationKind.START]  # fmt: skip
    notes = [note(k, alerts[i % len(alerts)]) for i, k in enumerate(kinds)]
    figures = page_figures(alerts, notes, TRUTH)
    assert (figures.pages, figures.escalations, figures.ends) == (4, 1, 1)
    assert figures.pages_per_true_episode == 1.0
    assert figures.missed == ("inf-pt-c:rate_reaction", "inf-pt-d:renal_advisory")
    assert figures.technical_alerts == 1
    text = format_page_figures(figures)
    assert "pages per true episode: 1.00" in text
    assert "missed: 2" in text
    assert "technical alerts: 1" in text
    assert "n/a" in format_page_figures(page_figures(alerts, [], TRUTH))
