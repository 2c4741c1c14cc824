"""``pumpstream evaluate``: alerts against ground truth, per rule.

An alert episode (all phases sharing one ``alert_id``) is a true positive for its rule when it
falls on a truth label that lists that rule: same patient and infusion, its first event time
within the label's span (from a minute before onset to five minutes after it ends). Recall per
rule is the share of labels listing the rule that got at least one such alert. Onset-to-alert is
simulated time from the label's onset to the event time of the first matching alert: how long
the patient had the reaction before the pipeline could say so (report delay included).
Rules are read from the alerts' ``rule`` field, so new rules are scored without code changes.
:func:`page_figures` adds the alarm-fatigue view (issue 12): pages per true episode, from
``alerts.notifications``, the true episodes no alert found, and the technical alerts.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from schemas.alerts import Alert, AlertType
from schemas.notifications import PAGING_KINDS, AlertNotification, NotificationKind
from simulators.ground_truth import GroundTruth, LabelKind, TruthLabel

ANY_REACTION = "reactions"


@dataclass(frozen=True, slots=True)
class AlertEpisode:
    alert_id: str
    rule: str
    type: AlertType
    patient_ref: str
    infusion_id: str | None
    first_event_time: datetime
    phases: int
    #: Rules that adjusted the alert (R4 raises priority for risk factors): scored as theirs too.
    modifiers: tuple[str, ...] = ()

    def counts_for(self, rule: str) -> bool:
        return self.rule == rule or rule in self.modifiers


def alert_episodes(alerts: Iterable[Alert]) -> list[AlertEpisode]:
    grouped: dict[str, list[Alert]] = {}
    for alert in alerts:
        grouped.setdefault(alert.alert_id, []).append(alert)
    episodes = []
    for alert_id, phases in grouped.items():
        first = min(phases, key=lambda a: a.event_time)
        episodes.append(
            AlertEpisode(
                alert_id, first.rule, first.type, first.patient_ref, first.infusion_id,
                first.event_time, len(phases),
                tuple(sorted({m for a in phases for m in a.modifiers})),
            )
        )  # fmt: skip
    return sorted(episodes, key=lambda e: (e.first_event_time, e.alert_id))


def matches(episode: AlertEpisode, label: TruthLabel) -> bool:
    return (
        episode.patient_ref == label.patient_ref
        and episode.infusion_id in (None, label.infusion_id)
        and label.covers(episode.first_event_time)
    )


@dataclass(slots=True)
class RuleScore:
    rule: str
    alerts: int = 0
    true_positives: int = 0
    labels: int = 0
    detected: int = 0
    onset_to_alert_min: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.labels if self.labels else None


def _score(rule: str, episodes: list[AlertEpisode], labels: list[TruthLabel]) -> RuleScore:
    score = RuleScore(rule, alerts=len(episodes), labels=len(labels))
    score.true_positives = sum(1 for e in episodes if any(matches(e, lb) for lb in labels))
    for label in labels:
        hits = [e for e in episodes if matches(e, label)]
        if hits:
            score.detected += 1
            first = min(e.first_event_time for e in hits)
            score.onset_to_alert_min.append((first - label.onset_time).total_seconds() / 60)
    return score


def score_alerts(alerts: Iterable[Alert], truth: GroundTruth) -> list[RuleScore]:
    """One row per rule seen in the alerts or the truth, then one for reactions by any
    physiological alert."""
    episodes = alert_episodes(alerts)
    rules = sorted(
        {e.rule for e in episodes}
        | {m for e in episodes for m in e.modifiers}
        | {r for lb in truth.labels for r in lb.rules}
    )
    rows = [
        _score(
            rule,
            [e for e in episodes if e.counts_for(rule)],
            [lb for lb in truth.labels if rule in lb.rules],
        )
        for rule in rules
    ]
    rows.append(
        _score(
            ANY_REACTION,
            [e for e in episodes if e.type is AlertType.PHYSIOLOGICAL],
            [lb for lb in truth.labels if lb.kind is LabelKind.RATE_REACTION],
        )
    )
    return rows


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _minutes(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered):5.1f} / {p90:5.1f} / {ordered[-1]:5.1f}"


def format_scores(scores: list[RuleScore]) -> str:
    lines = [
        f"{'rule':10} {'alerts':>6} {'TP':>4} {'FP':>4} {'precision':>9} "
        f"{'labels':>6} {'found':>5} {'recall':>6}  onset->alert min (median / p90 / max)"
    ]
    for s in scores:
        lines.append(
            f"{s.rule:10} {s.alerts:6d} {s.true_positives:4d} {s.alerts - s.true_positives:4d} "
            f"{_ratio(s.precision):>9} {s.labels:6d} {s.detected:5d} {_ratio(s.recall):>6}  "
            f"{_minutes(s.onset_to_alert_min)}"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PageFigures:
    """Alarm-fatigue figures of a run (issue 12): what reached a person's pager per true
    episode, which true episodes no alert found, and the technical alerts raised."""

    true_episodes: int
    missed: tuple[str, ...]
    #: Notifications that ring a pager: ``start``, ``update`` (priority rose), ``escalate``.
    pages: int
    escalations: int
    #: ``end`` notifications (they clear the board and alert managers; they never page).
    ends: int
    technical_alerts: int
    #: None when the run had no alerting stage (nothing on ``alerts.notifications``).
    notifications_read: bool

    @property
    def pages_per_true_episode(self) -> float | None:
        return self.pages / self.true_episodes if self.true_episodes else None

    @property
    def first_pages_per_true_episode(self) -> float | None:
        """Pages without escalations: what the bedside nurse's pager rang."""
        first = self.pages - self.escalations
        return first / self.true_episodes if self.true_episodes else None


def page_figures(
    alerts: Iterable[Alert], notifications: Iterable[AlertNotification], truth: GroundTruth
) -> PageFigures:
    episodes = alert_episodes(alerts)
    kinds = Counter(n.kind for n in notifications)
    missed = tuple(
        label.label_id
        for label in truth.labels
        if not any(matches(e, label) and e.type is not AlertType.TECHNICAL for e in episodes)
    )
    return PageFigures(
        true_episodes=len(truth.labels),
        missed=missed,
        pages=sum(count for kind, count in kinds.items() if kind in PAGING_KINDS),
        escalations=kinds[NotificationKind.ESCALATE],
        ends=kinds[NotificationKind.END],
        technical_alerts=sum(1 for e in episodes if e.type is AlertType.TECHNICAL),
        notifications_read=bool(kinds),
    )


def format_page_figures(figures: PageFigures) -> str:
    per = figures.pages_per_true_episode
    first = figures.first_pages_per_true_episode
    pages = (
        f"pages per true episode: {_ratio(per)} ({figures.pages} pages, of which "
        f"{figures.escalations} escalations: {_ratio(first)} without them; "
        f"{figures.ends} ends, which never page)"
        if figures.notifications_read
        else "pages per true episode: n/a (nothing on alerts.notifications: no alerting stage)"
    )
    missed = ", ".join(figures.missed) or "none"
    return "\n".join(
        (
            pages,
            f"true episodes: {figures.true_episodes}; missed: {len(figures.missed)} ({missed})",
            f"technical alerts: {figures.technical_alerts}",
        )
    )
