"""Routers: the network devices of the selected sites (up, poll errors, traps), then one device in detail."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from dashboards_src.fields import (
    PROBLEMS,
    UP_DOWN,
    binary_cells,
    colored_cells,
    dashboard_url,
    link_to,
    steps,
    thresholds_value,
    unit,
)
from dashboards_src.layout import Item, assemble
from dashboards_src.panels import bargauge_panel, row, stat_panel, table_panel, timeseries_panel
from dashboards_src.routers_device import POLL_AGE, device_panels
from dashboards_src.source import (
    DEVICES,
    SITE_FILTER,
    datasource_variable,
    device_variable,
    district_variable,
    per_agent,
    query,
    site_variable,
    table_query,
)

UID = "fleetwatch-routers"
F = SITE_FILTER
# Devices whose values are current: polled by the collector, or by an agent that reports
# (recording rule of deploy/prometheus/rules/alerts.rules.yml).
FRESH = "device:fleetwatch_netdev_up:fresh"
# One series per device and poller while two collectors show the agent that polls it.
FRESH_ONCE = per_agent(f"{FRESH}{{{F}}}")
POLLED = per_agent(f"fleetwatch_netdev_up{{{F}}}")
POLL_ERRORS = per_agent(f"fleetwatch_netdev_poll_error{{{F}}}")
DEVICE_LINK = link_to("Chi tiết router / Router detail", dashboard_url(UID, device="${__value.raw}"))
BY_DEVICE = "max by (district, site, device)"


def build() -> models.Dashboard:
    return assemble(
        UID,
        "Router và thiết bị mạng / Routers and network devices",
        "Router và thiết bị mạng của các điểm (SNMP): hoạt động, lỗi thăm dò, trap; rồi một thiết bị: cổng, "
        "lưu lượng, mức sử dụng, lỗi, đổi trạng thái. The sites' routers and network devices (SNMP): up, "
        "poll errors, traps; then one device: interfaces, traffic, utilization, errors, flaps.",
        [
            datasource_variable(),
            district_variable(DEVICES),
            site_variable(DEVICES),
            device_variable(),
        ],
        [*fleet_panels(), *device_panels()],
    )


def fleet_panels() -> list[Item]:
    """The rows of the selected sites' devices."""
    return [
        row("Tổng quan / Summary"),
        stat_panel(
            "Router được giám sát / Routers monitored",
            "Số thiết bị mạng của các điểm đã chọn. Network devices of the selected sites.",
            query(f"count({POLLED})", "router"),
            decimals=0,
        ),
        stat_panel(
            "Router không phản hồi / Routers down",
            "Thiết bị không trả lời lần thăm dò SNMP gần nhất. "
            "Devices that did not answer their latest poll.",
            query(f"count({FRESH_ONCE} == 0) or vector(0)", "router"),
            thresholds=PROBLEMS,
            decimals=0,
        ),
        stat_panel(
            "Chưa rõ trạng thái / State unknown",
            "Thiết bị do một máy đang mất liên lạc thăm dò: số liệu là của lần cuối máy đó báo cáo. "
            "Devices polled by an agent that is silent: their values are as it last reported them.",
            query(
                f"count({POLLED} unless on (site, device, agent_id) {FRESH}) or vector(0)",
                "router",
            ),
            thresholds=steps("green", (1, "orange")),
            decimals=0,
        ),
        stat_panel(
            "Lỗi thăm dò / Poll errors",
            "Thiết bị có lần thăm dò gần nhất thất bại (mọi loại lỗi). Devices whose latest poll failed.",
            query(f"count({POLL_ERRORS} == 1) or vector(0)", "router"),
            thresholds=PROBLEMS,
            decimals=0,
        ),
        stat_panel(
            "Cổng mất kết nối / Interfaces down",
            "Cổng đang dùng bị mất kết nối hơn 5 phút: cảnh báo FleetwatchRouterInterfaceDown đang bật. "
            "Interfaces in use down for 5 minutes: FleetwatchRouterInterfaceDown firing.",
            query(
                f'count(ALERTS{{alertname="FleetwatchRouterInterfaceDown", alertstate="firing", {F}}})'
                " or vector(0)",
                "cổng / interfaces",
            ),
            thresholds=PROBLEMS,
            decimals=0,
        ),
        stat_panel(
            "Trap trong khoảng / Traps in range",
            "Trap bộ thu nhận từ các thiết bị đã chọn trong khoảng thời gian đang xem. "
            "Traps the collector accepted from the selected devices in the time range.",
            query(
                f"sum(increase(fleetwatch_netdev_traps_total{{{F}}}[$__range])) or vector(0)",
                "trap",
                instant=True,
            ),
            decimals=0,
        ),
        row("Theo điểm / By site"),
        table_panel(
            "Router theo điểm / Routers by site",
            "Mỗi thiết bị: trạng thái, thời gian chạy, thời gian từ lần thăm dò gần nhất và thời gian "
            "thăm dò; không phản hồi trước. Each device: state, uptime, time since and duration of its "
            "newest poll; down first. Bấm tên thiết bị để xem chi tiết. Click a device for its detail.",
            table_query(f"{BY_DEVICE} (fleetwatch_netdev_up{{{F}}})", "A"),
            table_query(f"{BY_DEVICE} (fleetwatch_netdev_uptime_seconds{{{F}}})", "B"),
            table_query(f"time() - {BY_DEVICE} (fleetwatch_netdev_last_poll_timestamp_seconds{{{F}}})", "C"),
            table_query(f"{BY_DEVICE} (fleetwatch_netdev_poll_duration_seconds{{{F}}})", "D"),
            merge=True,
            order=("device", "site", "district", "Value #A", "Value #B", "Value #C", "Value #D"),
            rename={
                "device": "Thiết bị / Device",
                "site": "Điểm / Site",
                "district": "Huyện / District",
                "Value #A": "Trạng thái / State",
                "Value #B": "Thời gian chạy / Uptime",
                "Value #C": "Thăm dò cách đây / Last poll",
                "Value #D": "Thời gian thăm dò / Poll duration",
            },
            sort_by="Trạng thái / State",
            width=16,
        )
        .override_by_name("Thiết bị / Device", [DEVICE_LINK])
        .override_by_name("Trạng thái / State", binary_cells(UP_DOWN))
        .override_by_name("Thời gian chạy / Uptime", [unit(units.DurationSeconds)])
        .override_by_name(
            "Thăm dò cách đây / Last poll",
            colored_cells(unit(units.DurationSeconds), thresholds_value(POLL_AGE)),
        )
        .override_by_name("Thời gian thăm dò / Poll duration", [unit(units.Seconds)]),
        bargauge_panel(
            "Router hoạt động theo huyện / Routers up by district",
            "Tỷ lệ thiết bị trả lời lần thăm dò gần nhất (thiết bị chưa rõ trạng thái không tính). "
            "Share of the devices that answered their latest poll (devices of unknown state left out).",
            query(f"sum by (district) ({FRESH_ONCE}) / count by (district) ({FRESH_ONCE})", "{{district}}"),
            width=8,
            height=10,
        ),
        timeseries_panel(
            "Router không phản hồi theo thời gian / Routers down over time",
            "Số thiết bị không trả lời, theo huyện. Devices not answering, per district.",
            query(f"sum by (district) ({FRESH_ONCE} == bool 0)", "{{district}}"),
            width=12,
            min_value=0,
        ),
        timeseries_panel(
            "Lỗi thăm dò theo loại / Poll errors by class",
            "Thiết bị có lần thăm dò gần nhất thất bại, theo loại: timeout (không trả lời, cả khi sai "
            "community), auth (SNMPv3 từ chối), no_such_object, malformed, other. Devices whose latest "
            "poll failed, by class: timeout (no answer, a wrong community too), auth (v3 refused), ...",
            query(f"sum by (class) ({POLL_ERRORS})", "{{class}}"),
            width=12,
            min_value=0,
        ),
        row("Trap và bộ thu / Traps and the collector"),
        timeseries_panel(
            "Trap theo loại / Traps by kind",
            "Trap nhận từ các thiết bị đã chọn trong mỗi khoảng, theo loại (link_down, link_up, "
            "cold_start, ...). Traps accepted from the selected devices per interval, by kind.",
            query(
                f"sum by (trap) (increase(fleetwatch_netdev_traps_total{{{F}}}[$__rate_interval]))",
                "{{trap}}",
            ),
            width=8,
            min_value=0,
        ),
        timeseries_panel(
            "Trap ở bộ thu / Traps at the collector",
            "Mọi bộ thu, không lọc theo điểm: trap nhận theo phiên bản SNMP và trap bị từ chối theo lý do. "
            "Every collector, not filtered by site: traps accepted by SNMP version, rejected by reason.",
            query(
                "sum by (version) (rate(fleetwatch_collector_snmp_traps_received_total[$__rate_interval]))"
                " or vector(0)",
                "nhận / accepted {{version}}",
                "A",
            ),
            query(
                "sum by (reason) (rate(fleetwatch_collector_snmp_traps_rejected_total[$__rate_interval]) > 0)"
                " or vector(0)",
                "từ chối / rejected {{reason}}",
                "B",
            ),
            unit_name=units.RequestsPerSecond,
            width=8,
            min_value=0,
        ),
        timeseries_panel(
            "Thăm dò trung tâm / Central polling",
            "Thời gian một vòng thăm dò mọi thiết bị của bộ thu (so với chu kỳ [snmp] interval_seconds) "
            "và số thiết bị bộ thu tự thăm dò. Time the collector's latest round of polls took (compare "
            "with [snmp] interval_seconds) and the devices it polls itself.",
            query("max(fleetwatch_collector_snmp_poll_cycle_seconds)", "vòng / cycle (s)", "A"),
            query("sum(fleetwatch_collector_snmp_devices)", "thiết bị / devices", "B"),
            width=8,
            min_value=0,
        ),
    ]
