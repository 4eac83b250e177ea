"""The panel builders in house style: stat, time series, table, bar gauge, pie chart and rows.

Panels are built with the typed builders of grafana-foundation-sdk; these only fix the house
style (units, thresholds, legends, reductions) so each dashboard module reads as a list of
panels and their PromQL.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.piechart import PieChartLegendValues

from dashboards_src.fields import NEUTRAL, SHARE_GOOD_HIGH
from dashboards_src.source import DATASOURCE, table_query


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


def label_stat(title: str, description: str, expr: str, field: str) -> stat.Panel:
    """A stat showing the value of one label of an info series (os_name, agent_version, ...)."""
    return (
        stat_panel(title, description, table_query(expr), width=4)
        .reduce_options(
            common.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields(f"/^{field}$/")
        )
        .color_mode(common_models.BigValueColorMode.NONE)
    )


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
