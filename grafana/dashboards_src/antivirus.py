"""Antivirus compliance: states, protected shares per district and site, the hosts to act on."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from dashboards_src.fields import (
    OLD_SIGNATURE_SECONDS,
    PROBLEMS,
    SHARE_GOOD_HIGH,
    colored_cells,
    dashboard_url,
    link_to,
    steps,
    thresholds_value,
    unit,
)
from dashboards_src.layout import assemble
from dashboards_src.panels import (
    bargauge_panel,
    piechart_panel,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from dashboards_src.source import (
    SITE_FILTER,
    age,
    age_per_agent,
    agent_increase,
    datasource_variable,
    district_variable,
    newest_per_agent,
    per_agent,
    query,
    site_variable,
    table_query,
)

UID = "fleetwatch-antivirus"
F = SITE_FILTER
SIGNATURES = "fleetwatch_antivirus_signature_updated_timestamp_seconds"
THREATS = "fleetwatch_antivirus_threats_detected_total"
PROTECTED = per_agent(f"fleetwatch_antivirus_protected{{{F}}}")
# One state per host, from its newest report (two members may show a host that changed state).
STATES = newest_per_agent(f"fleetwatch_antivirus_state{{{F}}}")
NOT_PROTECTED = newest_per_agent(f'fleetwatch_antivirus_state{{{F}, state!="protected"}}')
PRODUCTS = per_agent(f"fleetwatch_antivirus_product_info{{{F}}}")
HOST_LINK = link_to("Chi tiết máy / Host detail", dashboard_url("fleetwatch-host", host="${__value.raw}"))
SIGNATURE_AGE = steps("green", (86400, "orange"), (OLD_SIGNATURE_SECONDS, "red"))


def build() -> models.Dashboard:
    return assemble(
        UID,
        "Tuân thủ phòng chống mã độc / Antivirus compliance",
        "Trạng thái phần mềm phòng chống mã độc của các máy đã chọn, các máy cần xử lý. "
        "Antivirus state of the selected hosts, and the hosts to act on.",
        [datasource_variable(), district_variable(), site_variable()],
        [
            row("Tổng quan / Summary"),
            stat_panel(
                "Được bảo vệ / Protected share",
                "Tỷ lệ máy đã chọn ở trạng thái protected. Share of the selected hosts in state protected.",
                query(
                    f"sum({PROTECTED}) / count({PROTECTED})",
                    "Được bảo vệ / protected",
                ),
                unit_name=units.PercentUnit,
                thresholds=SHARE_GOOD_HIGH,
                decimals=1,
            ),
            stat_panel(
                "Không được bảo vệ / Not protected",
                "Số máy ở trạng thái khác protected. Hosts in any other state.",
                query(f"count({PROTECTED} == 0) or vector(0)", "Máy / hosts"),
                thresholds=PROBLEMS,
                decimals=0,
            ),
            stat_panel(
                "Mã độc phát hiện / Threats detected",
                "Số mã độc phát hiện trong khoảng thời gian đang xem. Threats detected in the time range.",
                query(
                    f"sum({agent_increase(THREATS, F, '$__range')}) or vector(0)",
                    "Mã độc / threats",
                    instant=True,
                ),
                thresholds=PROBLEMS,
                decimals=0,
            ),
            stat_panel(
                "Chữ ký cũ hơn 3 ngày / Signatures older than 3 days",
                "Số máy có chữ ký mới nhất cũ hơn 3 ngày. "
                "Hosts whose newest signatures are older than 3 days.",
                query(
                    f"count(min by (agent_id) {age(SIGNATURES, F)} > {OLD_SIGNATURE_SECONDS}) or vector(0)",
                    "Máy / hosts",
                ),
                thresholds=PROBLEMS,
                decimals=0,
            ),
            stat_panel(
                "Tắt bảo vệ thời gian thực / Real-time protection off",
                "Số máy không có sản phẩm nào bật bảo vệ thời gian thực. "
                "Hosts none of whose products has real-time protection on.",
                query(
                    f"count(max by (agent_id) (fleetwatch_antivirus_realtime_protection{{{F}}}) == 0)"
                    " or vector(0)",
                    "Máy / hosts",
                ),
                thresholds=PROBLEMS,
                decimals=0,
            ),
            piechart_panel(
                "Trạng thái / States",
                "Số máy theo trạng thái: protected, outdated, expired, disabled, unknown, not_installed. "
                "Hosts by antivirus state.",
                query(f"sum by (state) ({STATES})", "{{state}}", instant=True),
                width=4,
                height=8,
            ),
            row("Theo huyện và điểm / By district and site"),
            bargauge_panel(
                "Được bảo vệ theo huyện / Protected share by district",
                "district:fleetwatch_antivirus_protected:ratio, thấp nhất trước / lowest first.",
                query(
                    'sort(district:fleetwatch_antivirus_protected:ratio{district=~"$district"})',
                    "{{district}}",
                    instant=True,
                ),
                width=8,
                height=10,
            ),
            table_panel(
                "Được bảo vệ theo điểm / Protected share by site",
                "site:fleetwatch_antivirus_protected:ratio, thấp nhất trước / lowest first.",
                table_query(f"site:fleetwatch_antivirus_protected:ratio{{{F}}}"),
                order=("site", "district", "site_type", "Value"),
                rename={
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "site_type": "Loại / Type",
                    "Value": "Được bảo vệ / Protected",
                },
                sort_by="Được bảo vệ / Protected",
                width=8,
                height=10,
            ).override_by_name(
                "Được bảo vệ / Protected",
                colored_cells(unit(units.PercentUnit), thresholds_value(SHARE_GOOD_HIGH)),
            ),
            timeseries_panel(
                "Trạng thái theo thời gian / States over time",
                "Số máy theo trạng thái. Hosts by state.",
                query(f"sum by (state) ({STATES})", "{{state}}"),
                width=8,
                height=10,
                min_value=0,
            ),
            row("Máy cần xử lý / Hosts to act on"),
            table_panel(
                "Máy không được bảo vệ / Hosts not protected",
                "Máy có trạng thái khác protected và trạng thái của nó. Hosts in another state, with it.",
                table_query(f"{NOT_PROTECTED} == 1"),
                hide=("Time", "Value", "agent_id"),
                order=("host", "site", "district", "site_type", "state"),
                rename={
                    "host": "Máy / Host",
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "site_type": "Loại / Type",
                    "state": "Trạng thái / State",
                },
                sort_by="Điểm / Site",
                width=12,
            ).override_by_name("Máy / Host", [HOST_LINK]),
            table_panel(
                "Mã độc phát hiện theo máy / Threats detected by host",
                "Số mã độc mỗi sản phẩm phát hiện trên mỗi máy trong khoảng thời gian đang xem. "
                "Threats each product detected on each host in the time range.",
                table_query(
                    f"sum by (host, site, district, product) ({agent_increase(THREATS, F, '$__range')}) > 0"
                ),
                order=("host", "site", "district", "product", "Value"),
                rename={
                    "host": "Máy / Host",
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "product": "Sản phẩm / Product",
                    "Value": "Mã độc / Threats",
                },
                sort_by="Mã độc / Threats",
                descending=True,
                width=12,
            )
            .override_by_name("Máy / Host", [HOST_LINK])
            .override_by_name("Mã độc / Threats", [models.DynamicConfigValue(id_val="decimals", value=0)]),
            table_panel(
                "Tuổi chữ ký cũ nhất / Oldest signatures",
                "50 sản phẩm có chữ ký cũ nhất. The 50 products with the oldest signatures.",
                table_query(
                    f"topk(50, max by (host, site, district, product) ({age_per_agent(SIGNATURES, F)}))"
                ),
                order=("host", "site", "district", "product", "Value"),
                rename={
                    "host": "Máy / Host",
                    "site": "Điểm / Site",
                    "district": "Huyện / District",
                    "product": "Sản phẩm / Product",
                    "Value": "Tuổi chữ ký / Signature age",
                },
                sort_by="Tuổi chữ ký / Signature age",
                descending=True,
                width=12,
            )
            .override_by_name("Máy / Host", [HOST_LINK])
            .override_by_name(
                "Tuổi chữ ký / Signature age",
                colored_cells(unit(units.DurationSeconds), thresholds_value(SIGNATURE_AGE)),
            ),
            timeseries_panel(
                "Mã độc phát hiện theo thời gian / Threats detected over time",
                "Số mã độc phát hiện trong mỗi khoảng. Threats detected per interval.",
                query(
                    f"sum({agent_increase(THREATS, F, '$__rate_interval')}) or vector(0)",
                    "Mã độc / threats",
                ),
                width=12,
                height=10,
                min_value=0,
            ),
            table_panel(
                "Sản phẩm / Products",
                "Số máy theo sản phẩm, hãng và phiên bản. Hosts by product, vendor and version.",
                table_query(f"count by (product, vendor, product_version) ({PRODUCTS})"),
                order=("product", "vendor", "product_version", "Value"),
                rename={
                    "product": "Sản phẩm / Product",
                    "vendor": "Hãng / Vendor",
                    "product_version": "Phiên bản / Version",
                    "Value": "Máy / Hosts",
                },
                sort_by="Máy / Hosts",
                descending=True,
                width=12,
                height=8,
            ),
            timeseries_panel(
                "Tuổi chữ ký theo sản phẩm / Signature age by product",
                "Trung vị và 95% tuổi chữ ký theo sản phẩm. Median and 95th percentile of signature age.",
                query(
                    f"quantile by (product) (0.5, {age_per_agent(SIGNATURES, F)})",
                    "{{product}} p50",
                    "A",
                ),
                query(
                    f"quantile by (product) (0.95, {age_per_agent(SIGNATURES, F)})",
                    "{{product}} p95",
                    "B",
                ),
                unit_name=units.DurationSeconds,
                width=12,
                height=8,
                min_value=0,
            ),
        ],
    )
