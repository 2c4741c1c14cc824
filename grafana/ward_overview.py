"""Ward overview: what is infusing now, how fast, and what patients report (charge nurse view)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import (
    WARD_MATCHER,
    bars,
    new_dashboard,
    single_stat,
    time_series,
    ward_variable,
)

W = WARD_MATCHER


def build() -> Dashboard:
    return (
        new_dashboard(
            "pumpstream-ward-overview",
            "pumpstream / Ward overview",
            "Infusions running per ward, product and dose rate; rate changes, symptoms, alerts.",
        )
        .with_variable(ward_variable())
        .with_row(dashboard.Row("Now"))
        .with_panel(
            single_stat(
                "Active infusions",
                "Infusions running or paused on the selected wards.",
                "none",
                f"sum(pumpstream_active_infusions{{{W}}}) or vector(0)",
            )
        )
        .with_panel(
            single_stat(
                "Infusions paused",
                "Active infusions whose pump is paused (dose-rate band not_running).",
                "none",
                f'sum(pumpstream_active_infusions{{{W}, band="not_running"}}) or vector(0)',
            )
        )
        .with_panel(
            single_stat(
                "Alerts started, last hour",
                "Clinical alert episodes opened in the last hour on the selected wards.",
                "none",
                f'sum(increase(pumpstream_alerts_total{{{W}, phase="start"}}[1h]))',
            )
        )
        .with_panel(
            single_stat(
                "Back-pain reports, last hour",
                "Back-pain reports on the selected wards in the last hour.",
                "none",
                f"sum(increase(pumpstream_back_pain_reports_total{{{W}}}[1h]))",
            )
        )
        .with_row(dashboard.Row("Infusions"))
        .with_panel(
            time_series(
                "Active infusions by product",
                "Running or paused infusions per IVIG product (recording rule).",
                "none",
                [
                    (
                        "sum by (product) "
                        f"(pumpstream:active_infusions:sum_by_product_ward{{{W}}})",
                        "{{product}}",
                    )
                ],
            )
        )
        .with_panel(
            bars(
                "Infusions by dose-rate band (mg/kg/min)",
                "Where the running infusions are on the titration ladder right now.",
                "none",
                f"sum by (band) (pumpstream_active_infusions{{{W}}})",
                "{{band}}",
            )
        )
        .with_panel(
            time_series(
                "Rate changes per hour",
                "Pump rate changes by direction (titration steps are 'up').",
                "none",
                [
                    (
                        f"sum by (direction) (increase(pumpstream_rate_changes_total{{{W}}}[1h]))",
                        "{{direction}}",
                    )
                ],
            )
        )
        .with_panel(
            time_series(
                "Symptom reports per hour by severity",
                "All symptom reports by NRS band (unscored: symptoms without a pain score).",
                "none",
                [
                    (
                        f"sum by (band) (increase(pumpstream_symptom_reports_total{{{W}}}[1h]))",
                        "{{band}}",
                    )
                ],
            )
        )
        .build()
    )
