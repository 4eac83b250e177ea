"""Province overview: the indicators of the provincial IT report, live, and every site at a glance."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

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
from dashboards_src.panels import bargauge_panel, row, stat_panel, table_panel, timeseries_panel
from dashboards_src.source import (
    SITE_FILTER,
    datasource_variable,
    district_variable,
    per_agent,
    query,
    site_variable,
    table_query,
)

UID = "fleetwatch-overview"
UP = per_agent("fleetwatch_agent_up")
SITE_UP = per_agent(f"fleetwatch_agent_up{{{SITE_FILTER}}}")


def reaching(role_matcher: str) -> str:
    """Share of hosts for which at least one target of the role answered in the latest check."""
    per_host = f"max by (agent_id) (fleetwatch_connectivity_up{{{role_matcher}}})"
    return f"sum({per_host}) / count({per_host})"


def build() -> models.Dashboard:
    return assemble(
        UID,
        "Tổng quan tỉnh / Province overview",
        "Chỉ số CNTT của tỉnh (toàn tỉnh) và tình trạng từng điểm (theo huyện/điểm đã chọn). "
        "The province's IT indicators (whole province) and every selected site.",
        [datasource_variable(), district_variable(), site_variable()],
        [
            row("Chỉ số toàn tỉnh / Province indicators"),
            stat_panel(
                "Máy được bảo vệ / Workstations protected",
                "Tỷ lệ máy có phần mềm phòng chống mã độc đang bảo vệ với chữ ký mới (toàn tỉnh). "
                "Share of workstations whose antivirus protects with fresh signatures, whole province "
                "(recording rule province:fleetwatch_antivirus_protected:ratio).",
                query("province:fleetwatch_antivirus_protected:ratio", "Toàn tỉnh / province"),
                unit_name=units.PercentUnit,
                thresholds=SHARE_GOOD_HIGH,
                decimals=1,
            ),
            stat_panel(
                "Máy hoạt động / Agents up",
                "Máy đã báo cáo trong 3 chu kỳ gần nhất, trên tổng số máy đã biết (toàn tỉnh). "
                "Agents that reported within 3 of their intervals, and all known agents.",
                query(f"sum({UP})", "Hoạt động / up", "A"),
                query(f"count({UP})", "Tổng / known", "B"),
                decimals=0,
            ),
            stat_panel(
                "Kết nối tới trung tâm / Reaching the collector",
                "Tỷ lệ máy kết nối được tới bộ thu tại trung tâm (mục tiêu vai trò collector). "
                "Share of hosts whose check of a collector answered.",
                query(reaching('role="collector"'), "Trung tâm / collector"),
                unit_name=units.PercentUnit,
                thresholds=SHARE_GOOD_HIGH,
                decimals=1,
            ),
            stat_panel(
                "Kết nối Internet / Reaching the Internet",
                "Tỷ lệ máy phân giải DNS hoặc tới được một mục tiêu cấu hình (vai trò dns, custom). "
                "Share of hosts for which a DNS server or a configured target (roles dns, custom) answered.",
                query(reaching('role=~"dns|custom"'), "Internet"),
                unit_name=units.PercentUnit,
                thresholds=SHARE_GOOD_HIGH,
                decimals=1,
            ),
            stat_panel(
                "Điểm mất liên lạc / Sites with all agents down",
                "Số điểm mà mọi máy đều im lặng (mất WAN hoặc mất điện). "
                "Sites none of whose agents reported within 3 intervals: a WAN link or power cut.",
                query("count(site:fleetwatch_agent_up:ratio == 0) or vector(0)", "Điểm / sites"),
                thresholds=PROBLEMS,
                decimals=0,
            ),
            stat_panel(
                "Máy không được bảo vệ / Workstations not protected",
                "Số máy có trạng thái khác protected (toàn tỉnh). Hosts in another antivirus state.",
                query(
                    f"count({per_agent('fleetwatch_antivirus_protected')} == 0) or vector(0)", "Máy / hosts"
                ),
                thresholds=PROBLEMS,
                decimals=0,
            ),
            row("Theo huyện / By district"),
            bargauge_panel(
                "Máy được bảo vệ theo huyện / Protected share by district",
                "district:fleetwatch_antivirus_protected:ratio, thấp nhất trước / lowest first.",
                query(
                    'sort(district:fleetwatch_antivirus_protected:ratio{district=~"$district"})',
                    "{{district}}",
                    instant=True,
                ),
                width=8,
            ),
            timeseries_panel(
                "Tỷ lệ bảo vệ theo thời gian / Protected share over time",
                "Toàn tỉnh và từng huyện đã chọn. The province and each selected district.",
                query("province:fleetwatch_antivirus_protected:ratio", "Toàn tỉnh / province", "A"),
                query(
                    'district:fleetwatch_antivirus_protected:ratio{district=~"$district"}',
                    "{{district}}",
                    "B",
                ),
                unit_name=units.PercentUnit,
                width=8,
                min_value=0,
                max_value=1,
            ),
            timeseries_panel(
                "Máy hoạt động theo huyện / Agents up by district",
                "Số máy đang báo cáo ở mỗi huyện đã chọn. Agents up in each selected district.",
                query(f"sum by (district) ({SITE_UP})", "{{district}}"),
                width=8,
                min_value=0,
            ),
            row("Các điểm / Sites"),
            table_panel(
                "Các điểm / Sites",
                "Mỗi điểm: số máy, số máy hoạt động, tỷ lệ hoạt động và tỷ lệ được bảo vệ; "
                "kém nhất trước. Per site: agents, agents up, up share and protected share, worst first.",
                table_query(f"count by (site, district, site_type) ({SITE_UP})", "A"),
                table_query(f"sum by (site, district, site_type) ({SITE_UP})", "B"),
                table_query(f"site:fleetwatch_agent_up:ratio{{{SITE_FILTER}}}", "C"),
                table_query(f"site:fleetwatch_antivirus_protected:ratio{{{SITE_FILTER}}}", "D"),
                merge=True,
                order=("site", "district", "site_type", "Value #A", "Value #B", "Value #C", "Value #D"),
                rename={
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "site_type": "Loại / Type",
                    "Value #A": "Máy / Agents",
                    "Value #B": "Hoạt động / Up",
                    "Value #C": "Tỷ lệ hoạt động / Up share",
                    "Value #D": "Được bảo vệ / Protected",
                },
                sort_by="Tỷ lệ hoạt động / Up share",
                height=14,
            )
            .override_by_name(
                "Tỷ lệ hoạt động / Up share",
                colored_cells(unit(units.PercentUnit), thresholds_value(SHARE_GOOD_HIGH)),
            )
            .override_by_name(
                "Được bảo vệ / Protected",
                colored_cells(unit(units.PercentUnit), thresholds_value(SHARE_GOOD_HIGH)),
            )
            .override_by_name(
                "Điểm / Site",
                [
                    link_to(
                        "Kết nối của điểm / Site connectivity",
                        dashboard_url("fleetwatch-connectivity", site="${__value.raw}"),
                    )
                ],
            ),
        ],
    )
