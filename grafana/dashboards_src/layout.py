"""Assembling a dashboard: tags, the links menu, variables and the panels numbered in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as models

TAG = "fleetwatch"

PanelBuilder: TypeAlias = cogbuilder.Builder[models.Panel]
Item: TypeAlias = "dashboard.Row | PanelBuilder"


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
