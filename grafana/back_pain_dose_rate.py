"""Back pain vs dose rate: the correlation the product exists for, hospital-wide."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import bars, new_dashboard, time_series


def build() -> Dashboard:
    return (
        new_dashboard(
            "pumpstream-back-pain-dose-rate",
            "pumpstream / Back pain vs dose rate",
            "Back-pain reports by the dose rate running when they were reported, normalised by "
            "the infusion time spent at each rate.",
        )
        .with_row(dashboard.Row("Reports by dose-rate band"))
        .with_panel(
            bars(
                "Back-pain reports per infusion-hour, by dose-rate band",
                "Reports in the last hour divided by the infusion-hours spent in each band "
                "(recording rule). A rate that hurts shows as a taller bar.",
                "none",
                "pumpstream:back_pain_per_infusion_hour:1h",
                "{{band}} mg/kg/min",
            )
        )
        .with_panel(
            bars(
                "Back-pain reports, last hour, by dose-rate band",
                "Raw counts (recording rule); read with the infusion-hours beside them.",
                "none",
                "pumpstream:back_pain_reports:increase1h",
                "{{band}} mg/kg/min",
            )
        )
        .with_panel(
            time_series(
                "Infusions in each dose-rate band",
                "How many infusions run in each band over time: the denominator.",
                "none",
                [("pumpstream:active_infusions:sum_by_band", "{{band}} mg/kg/min")],
            )
        )
        .with_panel(
            time_series(
                "Back-pain severity per hour",
                "Back-pain reports by NRS band (mild 1-3, moderate 4-6, severe 7-10).",
                "none",
                [
                    (
                        "sum by (band) (increase("
                        'pumpstream_symptom_reports_total{symptom="back_pain"}[1h]))',
                        "{{band}}",
                    )
                ],
            )
        )
        .with_panel(
            time_series(
                "Rate-related back-pain alerts (R1) per hour",
                "R1 episodes opened per hour, by priority (recording rule).",
                "none",
                [('sum by (priority) (pumpstream:alerts:increase1h{rule="R1"})', "{{priority}}")],
                width=24,
            )
        )
        .build()
    )
