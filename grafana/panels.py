"""Panel constructors the four dashboards share: one datasource, PromQL targets, units."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.models import dashboard as models

#: The datasource uid the provisioning file declares (grafana/provisioning/datasources).
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="pumpstream-prometheus")
#: Ward filter: the values are the configured wards (PUMPSTREAM_METRICS_WARDS) plus "other".
WARD_MATCHER = 'ward=~"$ward"'

Query = tuple[str, str]  # (PromQL, legend format)


def _targets(queries: list[Query], *, instant: bool = False) -> list[prometheus.Dataquery]:
    targets = []
    for ref, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
        target = (prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)).datasource(
            DATASOURCE
        )
        targets.append(target.instant() if instant else target.range())
    return targets


def time_series(
    title: str, description: str, unit: str, queries: list[Query], *, width: int = 12
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(_targets(queries))  # type: ignore[arg-type]
        .height(8)
        .span(width)
    )


def single_stat(
    title: str, description: str, unit: str, expr: str, *, width: int = 6
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(_targets([(expr, "")], instant=True))  # type: ignore[arg-type]
        .height(5)
        .span(width)
    )


def bars(
    title: str, description: str, unit: str, expr: str, legend: str, *, width: int = 12
) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(_targets([(expr, legend)], instant=True))  # type: ignore[arg-type]
        .height(8)
        .span(width)
    )


def ward_variable() -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable("ward")
        .label("Ward")
        .datasource(DATASOURCE)
        .query("label_values(pumpstream_active_infusions, ward)")
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def new_dashboard(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["pumpstream"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .editable()
    )
