"""Connectivity: which sites are reachable, per role of target; latency, loss and outages."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import TableColoredBackgroundCellOptions

from dashboards_src.fields import (
    PROBLEMS,
    SHARE_GOOD_HIGH,
    colored_cells,
    dashboard_url,
    link_to,
    thresholds_value,
    unit,
)
from dashboards_src.layout import assemble
from dashboards_src.panels import row, stat_panel, table_panel, timeseries_panel
from dashboards_src.source import (
    SITE_FILTER,
    agent_increase,
    datasource_variable,
    district_variable,
    per_agent,
    query,
    site_variable,
    table_query,
)

UID = "fleetwatch-connectivity"
F = SITE_FILTER
OUTAGES = "fleetwatch_connectivity_outages_total"
UP = per_agent(f"fleetwatch_agent_up{{{F}}}")
TARGET_UP = per_agent(f"fleetwatch_connectivity_up{{{F}}}")
RTT = per_agent(f"fleetwatch_connectivity_rtt_seconds{{{F}}}")
LOSS = per_agent(f"fleetwatch_connectivity_loss_ratio{{{F}}}")
FAILURES = per_agent(f"fleetwatch_connectivity_failure_info{{{F}}}")
HOST_LINK = link_to("Chi tiết máy / Host detail", dashboard_url("fleetwatch-host", host="${__value.raw}"))


def build() -> models.Dashboard:
    return assemble(
        UID,
        "Kết nối mạng / Connectivity",
        "Điểm nào mất liên lạc, mục tiêu nào không phản hồi, độ trễ, mất gói và sự cố, "
        "nhìn từ các máy trạm. Which sites are down, which targets fail, latency, loss and outages, "
        "as the workstations see them.",
        [datasource_variable(), district_variable(), site_variable()],
        [
            row("Tổng quan / Summary"),
            stat_panel(
                "Điểm mất liên lạc / Sites with all agents down",
                "Số điểm mà mọi máy đều im lặng. Sites none of whose agents reported within 3 intervals.",
                query(f"count(site:fleetwatch_agent_up:ratio{{{F}}} == 0) or vector(0)", "Điểm / sites"),
                thresholds=PROBLEMS,
                decimals=0,
                width=6,
            ),
            stat_panel(
                "Máy hoạt động / Agents up",
                "Tỷ lệ máy đã chọn đang báo cáo. Share of the selected agents that report.",
                query(
                    f"sum({UP}) / count({UP})",
                    "Hoạt động / up",
                ),
                unit_name=units.PercentUnit,
                thresholds=SHARE_GOOD_HIGH,
                decimals=1,
                width=6,
            ),
            stat_panel(
                "Mục tiêu đang lỗi / Failing targets",
                "Số cặp (máy, mục tiêu) không phản hồi ở lần kiểm tra gần nhất. "
                "(host, target) pairs that failed the latest check.",
                query(f"count({FAILURES}) or vector(0)", "Mục tiêu / targets"),
                thresholds=PROBLEMS,
                decimals=0,
                width=6,
            ),
            stat_panel(
                "Sự cố đã kết thúc / Outages ended",
                "Số sự cố mất kết nối (đo tại máy) kết thúc trong khoảng thời gian đang xem. "
                "Outages measured by the agents that ended in the time range.",
                query(
                    f"sum({agent_increase(OUTAGES, F, '$__range')}) or vector(0)",
                    "Sự cố / outages",
                    instant=True,
                ),
                thresholds=PROBLEMS,
                decimals=0,
                width=6,
            ),
            row("Theo điểm / By site"),
            table_panel(
                "Máy hoạt động theo điểm / Agents up by site",
                "site:fleetwatch_agent_up:ratio, kém nhất trước; 0 % là điểm mất liên lạc. "
                "Worst first; 0 % is a site that is down.",
                table_query(f"site:fleetwatch_agent_up:ratio{{{F}}}"),
                order=("site", "district", "site_type", "Value"),
                rename={
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "site_type": "Loại / Type",
                    "Value": "Hoạt động / Up",
                },
                sort_by="Hoạt động / Up",
                width=8,
                height=10,
            ).override_by_name(
                "Hoạt động / Up", colored_cells(unit(units.PercentUnit), thresholds_value(SHARE_GOOD_HIGH))
            ),
            table_panel(
                "Mục tiêu phản hồi theo điểm và vai trò / Targets answering by site and role",
                "Tỷ lệ kiểm tra thành công của mỗi vai trò (gateway, dns, collector, site_router, custom). "
                "Share of checks that answered, per role of target.",
                table_query(f"sum by (site, role) ({TARGET_UP}) / count by (site, role) ({TARGET_UP})"),
                width=8,
                height=10,
            )
            .with_transformation(
                models.DataTransformerConfig(
                    id_val="groupingToMatrix",
                    options={"columnField": "role", "rowField": "site", "valueField": "Value"},
                )
            )
            .unit(units.PercentUnit)
            .thresholds(SHARE_GOOD_HIGH)
            .cell_options(TableColoredBackgroundCellOptions()),
            timeseries_panel(
                "Mục tiêu phản hồi theo vai trò / Targets answering by role",
                "Tỷ lệ kiểm tra thành công theo vai trò trên các máy đã chọn. Share of checks that answered.",
                query(
                    f"sum by (role) ({TARGET_UP}) / count by (role) ({TARGET_UP})",
                    "{{role}}",
                ),
                unit_name=units.PercentUnit,
                width=8,
                height=10,
                min_value=0,
                max_value=1,
            ),
            row("Độ trễ và mất gói / Latency and loss"),
            timeseries_panel(
                "Độ trễ trung vị theo mục tiêu / Median RTT by target",
                "Trung vị thời gian khứ hồi trung bình của các máy đã chọn. "
                "Median of the hosts' average RTT.",
                query(
                    f"quantile by (target) (0.5, {RTT})",
                    "{{target}}",
                ),
                unit_name=units.Seconds,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Độ trễ p95 theo mục tiêu / 95th percentile RTT by target",
                "95% các máy có độ trễ thấp hơn. 95 % of the selected hosts have a lower average RTT.",
                query(
                    f"quantile by (target) (0.95, {RTT})",
                    "{{target}}",
                ),
                unit_name=units.Seconds,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Mất gói theo mục tiêu / Packet loss by target",
                "Tỷ lệ gói không được trả lời, trung bình trên các máy đã chọn. "
                "Average share of unanswered probes.",
                query(f"avg by (target) ({LOSS})", "{{target}}"),
                unit_name=units.PercentUnit,
                width=8,
                min_value=0,
                max_value=1,
            ),
            table_panel(
                "Điểm có độ trễ cao nhất / Sites with the highest RTT",
                "20 cặp (điểm, mục tiêu) có độ trễ trung bình cao nhất. The 20 slowest (site, target) pairs.",
                table_query(f"topk(20, avg by (site, district, target) ({RTT}))"),
                order=("site", "district", "target", "Value"),
                rename={
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "target": "Mục tiêu / Target",
                    "Value": "Độ trễ / RTT",
                },
                sort_by="Độ trễ / RTT",
                descending=True,
                width=12,
            ).override_by_name("Độ trễ / RTT", [unit(units.Seconds)]),
            table_panel(
                "Điểm mất gói nhiều nhất / Sites with the most loss",
                "20 cặp (điểm, mục tiêu) mất gói nhiều nhất. The 20 (site, target) pairs with the most loss.",
                table_query(f"topk(20, avg by (site, district, target) ({LOSS}))"),
                order=("site", "district", "target", "Value"),
                rename={
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "target": "Mục tiêu / Target",
                    "Value": "Mất gói / Loss",
                },
                sort_by="Mất gói / Loss",
                descending=True,
                width=12,
            ).override_by_name("Mất gói / Loss", [unit(units.PercentUnit)]),
            row("Sự cố / Outages"),
            table_panel(
                "Mục tiêu đang lỗi / Failing targets now",
                "Máy và mục tiêu không phản hồi ở lần kiểm tra gần nhất, với lý do. "
                "Hosts and targets that failed the latest check, with the reason.",
                table_query(FAILURES),
                hide=("Time", "Value", "agent_id"),
                order=("host", "site", "district", "target", "kind", "reason"),
                rename={
                    "host": "Máy / Host",
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "site_type": "Loại / Type",
                    "target": "Mục tiêu / Target",
                    "kind": "Kiểu / Kind",
                    "reason": "Lý do / Reason",
                },
                sort_by="Điểm / Site",
                width=12,
            ).override_by_name("Máy / Host", [HOST_LINK]),
            table_panel(
                "Sự cố theo điểm / Outages by site and target",
                "Số sự cố kết thúc và tổng thời gian mất kết nối trong khoảng thời gian đang xem. "
                "Outages that ended in the time range and the time they lasted.",
                table_query(
                    f"sum by (site, district, target) ({agent_increase(OUTAGES, F, '$__range')}) > 0",
                    "A",
                ),
                table_query(
                    f"sum by (site, district, target) "
                    f"({agent_increase('fleetwatch_connectivity_outage_seconds_total', F, '$__range')}) > 0",
                    "B",
                ),
                merge=True,
                order=("site", "district", "target", "Value #A", "Value #B"),
                rename={
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "target": "Mục tiêu / Target",
                    "Value #A": "Sự cố / Outages",
                    "Value #B": "Thời gian mất / Time down",
                },
                sort_by="Thời gian mất / Time down",
                descending=True,
                width=12,
            )
            .override_by_name("Sự cố / Outages", [models.DynamicConfigValue(id_val="decimals", value=0)])
            .override_by_name("Thời gian mất / Time down", [unit(units.DurationSeconds)]),
            timeseries_panel(
                "Sự cố theo thời gian / Outages over time",
                "Số sự cố kết thúc trong mỗi khoảng. Outages that ended per interval.",
                query(
                    f"sum({agent_increase(OUTAGES, F, '$__rate_interval')}) or vector(0)",
                    "Sự cố / outages",
                ),
                width=24,
                min_value=0,
            ),
        ],
    )
