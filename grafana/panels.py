"""Panel constructors the four dashboards share: one datasource variable, PromQL targets, units."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.models import dashboard as models

#: The datasource uid the provisioning file declares (grafana/provisioning/datasources): the
#: default of the dashboards' datasource variable.
PROVISIONED_DATASOURCE_UID = "pumpstream-prometheus"
#: Every panel, query and query variable names its datasource through this dashboard variable, so
#: the dashboards work provisioned (the variable defaults to the provisioned uid) and imported
#: through Grafana's UI into a Grafana whose Prometheus has another uid (Grafana then selects its
#: default Prometheus, and the viewer can pick another).
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
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


def datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .type("prometheus")
        .current(
            models.VariableOption(
                selected=True, text="pumpstream Prometheus", value=PROVISIONED_DATASOURCE_UID
            )
        )
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
        .with_variable(datasource_variable())
    )
