"""Host detail, connectivity: the targets the host checks, their RTT, loss, failures and outages."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from dashboards_src.fields import UP_DOWN, binary_cells, unit
from dashboards_src.layout import Item
from dashboards_src.panels import row, table_panel, timeseries_panel
from dashboards_src.source import HOST_FILTER as H
from dashboards_src.source import agent_increase, query, table_query

OUTAGES = "fleetwatch_connectivity_outages_total"
OUTAGE_SECONDS = "fleetwatch_connectivity_outage_seconds_total"


def connectivity_panels() -> list[Item]:
    """The connectivity row of the host detail."""
    return [
        row("Kết nối / Connectivity"),
        table_panel(
            "Mục tiêu / Targets",
            "Mỗi mục tiêu được kiểm tra: kiểu, vai trò, kết quả gần nhất, độ trễ, mất gói. "
            "Each target checked: kind, role, latest result, RTT, loss.",
            table_query(f"max by (target, kind, role) (fleetwatch_connectivity_up{{{H}}})", "A"),
            hide=("Time",),
            order=("target", "kind", "role", "Value"),
            rename={
                "target": "Mục tiêu / Target",
                "kind": "Kiểu / Kind",
                "role": "Vai trò / Role",
                "Value": "Phản hồi / Answered",
            },
            sort_by="Mục tiêu / Target",
            width=8,
        ).override_by_name(
            "Phản hồi / Answered",
            binary_cells(UP_DOWN),
        ),
        timeseries_panel(
            "Độ trễ / Round-trip time",
            "Thời gian khứ hồi trung bình của mỗi đợt kiểm tra. Average RTT of each burst.",
            query(f"max by (target) (fleetwatch_connectivity_rtt_seconds{{{H}}})", "{{target}}", "A"),
            unit_name=units.Seconds,
            width=8,
            height=10,
            min_value=0,
        ),
        timeseries_panel(
            "Mất gói / Packet loss",
            "Tỷ lệ gói không được trả lời trong mỗi đợt. Share of each burst left unanswered.",
            query(f"max by (target) (fleetwatch_connectivity_loss_ratio{{{H}}})", "{{target}}"),
            unit_name=units.PercentUnit,
            width=8,
            height=10,
            min_value=0,
            max_value=1,
        ),
        table_panel(
            "Lỗi hiện tại / Failing now",
            "Mục tiêu không phản hồi ở lần kiểm tra gần nhất và lý do. Targets failing now, with the reason.",
            table_query(f"fleetwatch_connectivity_failure_info{{{H}}}"),
            hide=("Time", "Value", "agent_id", "host", "site", "district", "site_type"),
            order=("target", "kind", "reason"),
            rename={"target": "Mục tiêu / Target", "kind": "Kiểu / Kind", "reason": "Lý do / Reason"},
            width=12,
            height=6,
        ),
        table_panel(
            "Sự cố / Outages",
            "Số sự cố đã kết thúc và thời gian mất kết nối trong khoảng thời gian đang xem. "
            "Outages that ended in the time range and how long they lasted.",
            table_query(
                f"sum by (target) ({agent_increase(OUTAGES, H, '$__range')})",
                "A",
            ),
            table_query(
                f"sum by (target) ({agent_increase(OUTAGE_SECONDS, H, '$__range')})",
                "B",
            ),
            merge=True,
            order=("target", "Value #A", "Value #B"),
            rename={
                "target": "Mục tiêu / Target",
                "Value #A": "Sự cố / Outages",
                "Value #B": "Thời gian mất / Time down",
            },
            width=12,
            height=6,
        )
        .override_by_name("Sự cố / Outages", [models.DynamicConfigValue(id_val="decimals", value=0)])
        .override_by_name("Thời gian mất / Time down", [unit(units.DurationSeconds)]),
    ]
