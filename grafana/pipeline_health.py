"""Pipeline health (operators): workers, throughput, dead letters, lag, processing time."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import new_dashboard, single_stat, time_series


def build() -> Dashboard:
    return (
        new_dashboard(
            "pumpstream-pipeline-health",
            "pumpstream / Pipeline health",
            "Is the pipeline healthy enough for nurses to rely on: workers up, events flowing, "
            "few dead letters, no lag, fast processing.",
        )
        .with_row(dashboard.Row("Status"))
        .with_panel(
            single_stat(
                "Workers up",
                "Workers Prometheus scrapes successfully.",
                "none",
                'sum(up{job="pumpstream-worker"})',
            )
        )
        .with_panel(
            single_stat(
                "Pipeline alerts firing",
                "Operator alerts from deploy/prometheus/rules/alerts.yml now firing.",
                "none",
                'count(ALERTS{alertstate="firing", team="operators"}) or vector(0)',
            )
        )
        .with_panel(
            single_stat(
                "Max consumer lag",
                "Messages not yet committed on the most-lagging topic.",
                "none",
                "max(pumpstream:consumer_lag_messages:max)",
            )
        )
        .with_panel(
            single_stat(
                "Lag measurement errors, last hour",
                "Failed lag measurements (the gauge then keeps its last value).",
                "none",
                "sum(increase(pumpstream_consumer_lag_errors_total[1h]))",
            )
        )
        .with_row(dashboard.Row("Flow"))
        .with_panel(
            time_series(
                "Events in per topic",
                "Messages read per second (recording rule).",
                "reqps",
                [("pumpstream:events_in:rate5m", "{{topic}}")],
            )
        )
        .with_panel(
            time_series(
                "Events out per topic",
                "Messages written per second: validated topics, dead letters, alerts.",
                "reqps",
                [("pumpstream:events_out:rate5m", "{{topic}}")],
            )
        )
        .with_panel(
            time_series(
                "Dead letters by topic and reason",
                "Rejected raw messages per second (reason codes: schemas/dead_letters.py).",
                "reqps",
                [("pumpstream:dead_letters:rate5m", "{{topic}} {{reason}}")],
            )
        )
        .with_panel(
            time_series(
                "Dead-letter share per raw topic",
                "Share of a raw topic's messages rejected (alert above 5 %).",
                "percentunit",
                [("pumpstream:dead_letter_ratio:rate5m", "{{topic}}")],
            )
        )
        .with_row(dashboard.Row("Consumers"))
        .with_panel(
            time_series(
                "Consumer lag per topic",
                "Messages not yet committed by the consumer group (alert above 500 for 5 min).",
                "none",
                [("pumpstream:consumer_lag_messages:max", "{{topic}}")],
            )
        )
        .with_panel(
            time_series(
                "Processing time p99 per stage",
                "Time an agent spends on one message (recording rule).",
                "s",
                [("pumpstream:processing_seconds:p99_5m", "{{stage}}")],
            )
        )
        .with_panel(
            time_series(
                "Duplicates and skipped events",
                "Re-delivered events ignored by idempotence, and invalid events skipped on "
                "validated topics.",
                "reqps",
                [
                    (
                        "sum by (topic) "
                        "(rate(pumpstream_duplicate_events_total[$__rate_interval]))",
                        "duplicate {{topic}}",
                    ),
                    (
                        "sum by (topic) (rate(pumpstream_skipped_events_total[$__rate_interval]))",
                        "skipped {{topic}}",
                    ),
                ],
                width=24,
            )
        )
        .build()
    )
