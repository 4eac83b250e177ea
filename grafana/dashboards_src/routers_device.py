"""Routers, one device (`device` variable): state, interfaces, traffic, utilization, errors, flaps, traps."""

from __future__ import annotations

from grafana_foundation_sdk.models import units

from dashboards_src.fields import (
    LINK_UP_DOWN,
    NEUTRAL,
    ON_OFF,
    UP_DOWN,
    binary_cells,
    colored_cells,
    steps,
    thresholds_value,
    unit,
)
from dashboards_src.layout import Item
from dashboards_src.panels import label_stat, row, stat_panel, table_panel, timeseries_panel
from dashboards_src.source import DEVICE_FILTER as D
from dashboards_src.source import query, rate_by, table_query

USED_SHARE = steps("green", (0.7, "orange"), (0.9, "red"))
# Seconds since the newest poll: devices are polled every minute.
POLL_AGE = steps("green", (180, "orange"), (600, "red"))
UTILIZATION = "interface:fleetwatch_netdev_if_utilization:ratio_rate5m"
ERROR_SHARE = "interface:fleetwatch_netdev_if_errors:ratio_rate5m"
CHANGES = "fleetwatch_netdev_if_oper_changes_total"


def per_interface(selector: str) -> str:
    """One value per interface of the device with its description and type (from
    fleetwatch_netdev_if_info, one series per interface even if two agents poll the device):
    the rows of the interfaces table."""
    info = f"topk by (site, device, ifname) (1, fleetwatch_netdev_if_info{{{D}}})"
    return (
        f"max by (ifname, ifalias, iftype) ({selector}"
        f" * on (site, device, ifname) group_left (ifalias, iftype) {info})"
    )


def by_direction(title: str, description: str, rule: str, width: int) -> Item:
    """A recording rule of kpi.rules.yml per interface and direction, as a share over time."""
    return timeseries_panel(
        title,
        description,
        query(f"max by (ifname, direction) ({rule}{{{D}}})", "{{ifname}} {{direction}}"),
        unit_name=units.PercentUnit,
        width=width,
        min_value=0,
    )


def device_panels() -> list[Item]:
    """The rows of the selected device."""
    return [
        row("Thiết bị $device / Device $device"),
        stat_panel(
            "Trạng thái / State",
            "Thiết bị trả lời lần thăm dò SNMP gần nhất. The device answered its latest SNMP poll.",
            query(f"max(fleetwatch_netdev_up{{{D}}})", "{{device}}"),
            thresholds=steps("red", (1, "green")),
        ).mappings(UP_DOWN),
        stat_panel(
            "Thời gian chạy / Uptime",
            "sysUpTime ở lần thăm dò trả lời gần nhất (quay vòng sau 497 ngày). "
            "sysUpTime at the latest answered poll (wraps after 497 days).",
            query(f"max(fleetwatch_netdev_uptime_seconds{{{D}}})", "uptime"),
            unit_name=units.DurationSeconds,
            thresholds=steps("orange", (900, "green")),
        ),
        label_stat(
            "Tên hệ thống / sysName",
            "sys_name của fleetwatch_netdev_info.",
            f"fleetwatch_netdev_info{{{D}}}",
            "sys_name",
        ),
        label_stat(
            "Thăm dò bởi / Polled by",
            "agent: một máy tại đơn vị; central: bộ thu. agent: a host at the site; central: the collector.",
            f"fleetwatch_netdev_info{{{D}}}",
            "poller",
        ),
        stat_panel(
            "Lần thăm dò gần nhất / Last poll",
            "Thời gian từ lần thăm dò gần nhất, trả lời hay không. "
            "Time since the newest poll, answered or not.",
            query(f"time() - max(fleetwatch_netdev_last_poll_timestamp_seconds{{{D}}})", "tuổi / age"),
            unit_name=units.DurationSeconds,
            thresholds=POLL_AGE,
        ),
        stat_panel(
            "Trap gần nhất / Last trap",
            "Thời gian từ trap gần nhất bộ thu nhận từ thiết bị; trống khi chưa có. "
            "Time since the collector last accepted a trap from the device; empty when none yet.",
            query(f"time() - max(fleetwatch_netdev_last_trap_timestamp_seconds{{{D}}})", "tuổi / age"),
            unit_name=units.DurationSeconds,
            thresholds=NEUTRAL,
        ),
        table_panel(
            "Cổng / Interfaces",
            "Mỗi cổng: mô tả (ifAlias), loại (ifType), bật (admin), kết nối (oper), tốc độ, mức sử dụng "
            "vào và ra (5 phút), số lần đổi trạng thái trong khoảng thời gian đang xem. Each interface: "
            "description, type, admin and oper state, speed, utilization in and out, state changes in "
            "the range.",
            table_query(per_interface(f"fleetwatch_netdev_if_admin_up{{{D}}}"), "A"),
            table_query(per_interface(f"fleetwatch_netdev_if_oper_up{{{D}}}"), "B"),
            table_query(per_interface(f"fleetwatch_netdev_if_speed_bytes{{{D}}} * 8"), "C"),
            table_query(per_interface(f'{UTILIZATION}{{{D}, direction="in"}}'), "D"),
            table_query(per_interface(f'{UTILIZATION}{{{D}, direction="out"}}'), "E"),
            table_query(per_interface(f"increase({CHANGES}{{{D}}}[$__range])"), "F"),
            merge=True,
            order=("ifname", "ifalias", "iftype", *(f"Value #{ref}" for ref in "ABCDEF")),
            rename={
                "ifname": "Cổng / Interface",
                "ifalias": "Mô tả / Description",
                "iftype": "Loại / Type",
                "Value #A": "Bật / Admin",
                "Value #B": "Kết nối / Link",
                "Value #C": "Tốc độ / Speed",
                "Value #D": "Vào / In",
                "Value #E": "Ra / Out",
                "Value #F": "Đổi trạng thái / Changes",
            },
            sort_by="Cổng / Interface",
            height=9,
        )
        .override_by_name("Bật / Admin", binary_cells(ON_OFF))
        .override_by_name("Kết nối / Link", binary_cells(LINK_UP_DOWN))
        .override_by_name("Tốc độ / Speed", [unit(units.BitsPerSecondSI)])
        .override_by_name("Vào / In", colored_cells(unit(units.PercentUnit), thresholds_value(USED_SHARE)))
        .override_by_name("Ra / Out", colored_cells(unit(units.PercentUnit), thresholds_value(USED_SHARE))),
        row("Lưu lượng / Traffic"),
        timeseries_panel(
            "Lưu lượng / Traffic",
            "Bit nhận và gửi mỗi giây theo cổng. Bits received and sent per second per interface.",
            query(
                f"8 * {rate_by('ifname', 'fleetwatch_netdev_if_in_octets_total', D)}",
                "{{ifname}} vào / in",
                "A",
            ),
            query(
                f"8 * {rate_by('ifname', 'fleetwatch_netdev_if_out_octets_total', D)}",
                "{{ifname}} ra / out",
                "B",
            ),
            unit_name=units.BitsPerSecondSI,
            width=12,
            min_value=0,
        ),
        by_direction(
            "Mức sử dụng / Utilization",
            "Lưu lượng trên tốc độ cổng, trung bình 5 phút, theo chiều; cổng WAN trên 90% suốt 15 phút "
            "gây cảnh báo. Traffic over the interface's speed (5-minute average) by direction; a WAN "
            "interface above 90% for 15 minutes alerts.",
            UTILIZATION,
            12,
        ),
        timeseries_panel(
            "Lỗi và gói bị bỏ / Errors and discards",
            "Gói lỗi và gói bị bỏ mỗi giây theo cổng. Errored and discarded packets per second.",
            *(
                query(
                    rate_by("ifname", f"fleetwatch_netdev_if_{metric}_total", D),
                    f"{{{{ifname}}}} {legend}",
                    ref,
                )
                for metric, legend, ref in (
                    ("in_errors", "lỗi vào / in errors", "A"),
                    ("out_errors", "lỗi ra / out errors", "B"),
                    ("in_discards", "bỏ khi vào / in discards", "C"),
                    ("out_discards", "bỏ khi ra / out discards", "D"),
                )
            ),
            unit_name=units.PacketsPerSecond,
            width=8,
            min_value=0,
        ),
        by_direction(
            "Tỷ lệ gói lỗi / Failed packet share",
            "(Lỗi + bị bỏ) / (gói unicast + lỗi + bị bỏ), trung bình 5 phút; trên 1% suốt 15 phút gây "
            "cảnh báo. (errors + discards) / (unicast packets + errors + discards), 5-minute average; "
            "above 1% for 15 minutes alerts.",
            ERROR_SHARE,
            8,
        ),
        timeseries_panel(
            "Đổi trạng thái / Link changes",
            "Số lần cổng đổi trạng thái kết nối trong mỗi khoảng (thăm dò, trap, báo cáo của agent). "
            "Changes of each interface's link state per interval (polls, traps, agents' reports).",
            query(
                f"sum by (ifname) (increase({CHANGES}{{{D}}}[$__rate_interval]))",
                "{{ifname}}",
            ),
            width=8,
            min_value=0,
        ),
        table_panel(
            "Trap theo loại / Traps by kind",
            "Trap bộ thu nhận từ thiết bị trong khoảng thời gian đang xem. "
            "Traps the collector accepted from the device in the time range.",
            table_query(f"sum by (trap) (increase(fleetwatch_netdev_traps_total{{{D}}}[$__range]))"),
            order=("trap", "Value"),
            rename={"trap": "Loại / Kind", "Value": "Số trap / Traps"},
            sort_by="Số trap / Traps",
            descending=True,
            width=12,
            height=7,
        ).override_by_name("Số trap / Traps", [unit(units.Short)]),
        stat_panel(
            "Cổng không thăm dò / Interfaces left out",
            "Cổng bên thăm dò bỏ qua vì vượt giới hạn số cổng mỗi thiết bị. "
            "Interfaces the poller left out beyond its cap per device.",
            query(f"max(fleetwatch_netdev_interfaces_omitted{{{D}}})", "cổng / interfaces"),
            thresholds=steps("green", (1, "orange")),
            width=12,
            height=7,
            decimals=0,
        ),
    ]
