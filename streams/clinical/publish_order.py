"""The order in which one step's alerts are published: a step that starts several episodes of
one patient (one pain report with abnormal vitals: R1 and R2) publishes the most urgent first, so
that the alerting stage opens the patient's page at its final priority and the others join it
silently instead of paging again (issue 12). Each episode's own phases keep their order (an
``end`` never overtakes its ``start``), and episodes of equal urgency keep the correlator's."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.alerts import Alert, AlertPhase, AlertPriority

_URGENCY = {AlertPriority.HIGH: 0, AlertPriority.MEDIUM: 1, AlertPriority.LOW: 2}


def in_paging_order(alerts: Sequence[Alert]) -> list[Alert]:
    """``alerts`` grouped by episode (first appearance order), episodes that end first, then
    episodes by the highest priority any of their phases in this step has."""
    episodes: dict[str, list[Alert]] = {}
    for alert in alerts:
        episodes.setdefault(alert.alert_id, []).append(alert)
    ordered = sorted(
        episodes.values(),
        key=lambda phases: (
            phases[0].phase is not AlertPhase.END,
            min(_URGENCY[a.priority] for a in phases),
        ),
    )
    return [alert for phases in ordered for alert in phases]
