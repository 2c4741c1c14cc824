"""Alerting and alarm fatigue: how many alerts, how fast, and whether nurses found them useful.

Pages, escalations, acknowledgements and nurse responses come from the alerting stage; a worker
without an on-call roster shows zeros there, and no page series at all (docs/observability.md).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import bars, new_dashboard, single_stat, time_series


def build() -> Dashboard:
    return (
        new_dashboard(
            "pumpstream-alarm-fatigue",
            "pumpstream / Alerting and alarm fatigue",
            "Alerts by rule and priority, latency against the targets, escalations, time to "
            "acknowledge and the false-positive share nurses report.",
        )
        .with_row(dashboard.Row("Alerts"))
        .with_panel(
            time_series(
                "Alert episodes per hour by rule and priority",
                "Episodes opened (phase start) per hour (recording rule).",
                "none",
                [("pumpstream:alerts:increase1h", "{{rule}} {{priority}}")],
            )
        )
        .with_panel(
            time_series(
                "Alert messages per hour by phase",
                "start / update / escalate / end: updates without a page are the "
                "anti-fatigue design (one alert per episode).",
                "none",
                [("sum by (phase) (increase(pumpstream_alerts_total[1h]))", "{{phase}}")],
            )
        )
        .with_panel(
            time_series(
                "Event to alert, p99",
                "From the triggering event's event time to the alert (target 1 s).",
                "s",
                [("pumpstream:event_to_alert_seconds:p99_10m", "p99")],
            )
        )
        .with_panel(
            time_series(
                "Event to page, p99 by priority",
                "From the triggering event's event time to the page delivered, over every "
                "channel (target 6 s).",
                "s",
                [("pumpstream:event_to_page_seconds:p99_10m", "{{priority}}")],
            )
        )
        .with_row(dashboard.Row("Nurses"))
        .with_panel(
            single_stat(
                "Open escalations",
                "Escalated alerts nobody has acknowledged yet.",
                "none",
                "sum(pumpstream_open_escalations)",
            )
        )
        .with_panel(
            time_series(
                "Escalations per hour by priority",
                "Alerts escalated because the first page was not acknowledged in time.",
                "none",
                [
                    (
                        "sum by (priority) "
                        '(increase(pumpstream_alert_notifications_total{kind="escalate"}[1h]))',
                        "{{priority}}",
                    )
                ],
                width=18,
            )
        )
        .with_panel(
            time_series(
                "Time to acknowledge, median by priority",
                "From the first page to the nurse's acknowledgement (recording rule).",
                "s",
                [("pumpstream:time_to_acknowledge_seconds:p50_1h", "{{priority}}")],
            )
        )
        .with_panel(
            time_series(
                "Pages per hour by channel and outcome",
                "Pages each roster channel delivered, failed (retry budget spent) or had "
                "rejected by its peer.",
                "none",
                [
                    (
                        "sum by (channel, outcome) "
                        "(increase(pumpstream_page_deliveries_total[1h]))",
                        "{{channel}} {{outcome}}",
                    )
                ],
            )
        )
        .with_panel(
            bars(
                "Nurse responses, last 24 h",
                "How nurses judged the alerts (IHE PCD response vocabulary).",
                "none",
                "sum by (response) (increase(pumpstream_nurse_responses_total[24h]))",
                "{{response}}",
            )
        )
        .with_panel(
            bars(
                "False-positive share by rule, last 24 h",
                "Share of judged alerts called false positive or not clinically relevant: "
                "the alarm-fatigue signal (recording rule).",
                "percentunit",
                "pumpstream:nurse_responses:false_positive_ratio_24h",
                "{{rule}}",
            )
        )
        .build()
    )
