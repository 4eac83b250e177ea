"""What every fleetwatch dashboard shares: the data source, the chained variables, query and panel helpers.

Panels are built with the typed builders of grafana-foundation-sdk; this module only fixes the
house style (bilingual titles, units, thresholds) and numbers the panels, so each dashboard
module reads as a list of panels and their PromQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    piechart,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.piechart import PieChartLegendValues
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# The Prometheus data source of grafana/provisioning/datasources/fleetwatch.yml.
DATASOURCE_UID = "fleetwatch-prometheus"
DATASOURCE_NAME = "Prometheus (fleetwatch)"
# Every panel and query points at the data source variable, whose default is the provisioned one.
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAG = "fleetwatch"

# Label matchers of the chained variables; every host series carries district, site and host.
SITE_FILTER = 'district=~"$district", site=~"$site"'
HOST_FILTER = 'district=~"$district", site=~"$site", host=~"$host"'

# Seconds after which antivirus signatures count as old (the agent's "outdated" needs more).
OLD_SIGNATURE_SECONDS = 3 * 86400

PanelBuilder: TypeAlias = cogbuilder.Builder[models.Panel]
Item: TypeAlias = "dashboard.Row | PanelBuilder"


# --- variables -----------------------------------------------------------------------------------


def datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Nguồn dữ liệu / Data source")
        .type("prometheus")
        .current(models.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
        .multi(False)
        .include_all(False)
    )


def label_variable(
    name: str, label: str, matchers: str = "", *, multi: bool = True
) -> dashboard.QueryVariable:
    """A variable over the values of ``name`` among the agents selected by ``matchers``."""
    selector = f"fleetwatch_agent_up{{{matchers}}}" if matchers else "fleetwatch_agent_up"
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .query(f"label_values({selector}, {name})")
        .datasource(DATASOURCE)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = (
            variable.multi(True)
            .include_all(True)
            .all_value(".*")
            .current(models.VariableOption(selected=True, text="All", value="$__all"))
        )
    else:
        variable = variable.multi(False).include_all(False)
    return variable


def district_variable() -> dashboard.QueryVariable:
    return label_variable("district", "Huyện / District")


def site_variable() -> dashboard.QueryVariable:
    return label_variable("site", "Điểm / Site", 'district=~"$district"')


def host_variable() -> dashboard.QueryVariable:
    return label_variable("host", "Máy / Host", SITE_FILTER, multi=False)


# --- queries -------------------------------------------------------------------------------------


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prometheus.Dataquery:
    """A PromQL query on the data source variable; range unless ``instant``."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    return target.instant() if instant else target.range()


def table_query(expr: str, ref: str = "A") -> prometheus.Dataquery:
    """An instant query whose labels become the columns of a table."""
    return query(expr, ref=ref, instant=True).format(PromQueryFormat.TABLE)


# --- field options -------------------------------------------------------------------------------


def steps(base: str, *rest: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first value, then each (value, colour)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(color=base), *(models.Threshold(value=v, color=c) for v, c in rest)])
    )


# Shares that should be 1: red below 90 %, orange below 98 %.
SHARE_GOOD_HIGH = steps("red", (0.9, "orange"), (0.98, "green"))
# Counts of problems: green at 0, red from 1.
PROBLEMS = steps("green", (1, "red"))
NEUTRAL = steps("blue")

UP_DOWN: list[models.ValueMapping] = [
    models.ValueMap(
        {
            "0": models.ValueMappingResult(text="Mất liên lạc / down", color="red", index=0),
            "1": models.ValueMappingResult(text="Hoạt động / up", color="green", index=1),
        }
    )
]
ON_OFF: list[models.ValueMapping] = [
    models.ValueMap(
        {
            "0": models.ValueMappingResult(text="Tắt / off", color="red", index=0),
            "1": models.ValueMappingResult(text="Bật / on", color="green", index=1),
        }
    )
]


def colored_cells(*properties: models.DynamicConfigValue) -> list[models.DynamicConfigValue]:
    """Table cell properties: the background coloured by the thresholds, plus ``properties``."""
    return [
        models.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
        *properties,
    ]


def unit(name: str) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val="unit", value=name)


def thresholds_value(config: dashboard.ThresholdsConfig) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val="thresholds", value=config.build())


def link_to(title: str, url: str) -> models.DynamicConfigValue:
    """A data link of a table column (``url`` may use ${__value.raw} and ${__data.fields.NAME})."""
    return models.DynamicConfigValue(id_val="links", value=[{"title": title, "url": url}])


def dashboard_url(uid: str, **variables: str) -> str:
    """The URL of another fleetwatch dashboard with ``variables`` set, keeping the time range."""
    params = "".join(f"&var-{name}={value}" for name, value in variables.items())
    return f"/d/{uid}?${{__url_time_range}}&var-datasource=${{datasource}}{params}"


# --- panels --------------------------------------------------------------------------------------


def stat_panel(
    title: str,
    description: str,
    *targets: prometheus.Dataquery,
    unit_name: str = units.Short,
    thresholds: dashboard.ThresholdsConfig = NEUTRAL,
    width: int = 4,
    height: int = 4,
    decimals: int | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .unit(unit_name)
        .thresholds(thresholds)
        .color_mode(common_models.BigValueColorMode.VALUE)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def timeseries_panel(
    title: str,
    description: str,
    *targets: prometheus.Dataquery,
    unit_name: str = units.Short,
    width: int = 12,
    height: int = 8,
    min_value: float | None = None,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .unit(unit_name)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common_models.VisibilityMode.NEVER)
        .legend(
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common.VizTooltipOptions()
            .mode(common_models.TooltipDisplayMode.MULTI)
            .sort(common_models.SortOrder.DESCENDING)
        )
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def table_panel(
    title: str,
    description: str,
    *targets: prometheus.Dataquery,
    rename: dict[str, str] | None = None,
    hide: Sequence[str] = ("Time",),
    order: Sequence[str] = (),
    sort_by: str = "",
    descending: bool = False,
    width: int = 24,
    height: int = 10,
    merge: bool = False,
) -> table.Panel:
    """A table of instant queries: merged into one row per label set when ``merge``, columns
    renamed, hidden and ordered (by their original names), sorted by ``sort_by`` (renamed)."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .show_header(True)
        .cell_height(common_models.TableCellHeight.SM)
    )
    for target in targets:
        panel = panel.with_target(target)
    if merge:
        panel = panel.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(
        models.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {name: True for name in ("__name__", *hide)},
                "indexByName": {name: index for index, name in enumerate(order)},
                "renameByName": dict(rename or {}),
                "includeByName": {},
            },
        )
    )
    if sort_by:
        panel = panel.sort_by([common.TableSortByFieldState().display_name(sort_by).desc(descending)])
    return panel


def bargauge_panel(
    title: str,
    description: str,
    *targets: prometheus.Dataquery,
    unit_name: str = units.PercentUnit,
    thresholds: dashboard.ThresholdsConfig = SHARE_GOOD_HIGH,
    width: int = 12,
    height: int = 8,
    min_value: float = 0,
    max_value: float | None = 1,
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .unit(unit_name)
        .thresholds(thresholds)
        .min(min_value)
        .display_mode(common_models.BarGaugeDisplayMode.BASIC)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if max_value is not None:
        panel = panel.max(max_value)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def piechart_panel(
    title: str, description: str, *targets: prometheus.Dataquery, width: int = 8, height: int = 8
) -> piechart.Panel:
    panel = (
        piechart.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
        .unit(units.Short)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .legend(
            piechart.PieChartLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.RIGHT)
            .show_legend(True)
            .values([PieChartLegendValues.VALUE, PieChartLegendValues.PERCENT])
        )
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def row(title: str) -> dashboard.Row:
    return dashboard.Row(title)


# --- dashboards ----------------------------------------------------------------------------------


def assemble(
    uid: str,
    title: str,
    description: str,
    variables: Sequence[cogbuilder.Builder[models.VariableModel]],
    items: Sequence[Item],
    *,
    refresh: str = "1m",
    time_from: str = "now-6h",
) -> models.Dashboard:
    """The dashboard: panels numbered 1, 2, ... in order, laid out left to right, row by row."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .refresh(refresh)
        .time(time_from, "now")
        .timezone("browser")
        .link(
            dashboard.DashboardLink("Bảng fleetwatch / fleetwatch dashboards")
            .type(models.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in variables:
        board = board.with_variable(variable)
    for number, item in enumerate(items, 1):
        if isinstance(item, dashboard.Row):
            board = board.with_row(item.id(number))
        else:
            board = board.with_panel(_numbered(item, number))
    return board.build()


def _numbered(panel: PanelBuilder, number: int) -> PanelBuilder:
    built = panel.build()
    built.id_val = number
    return panel
