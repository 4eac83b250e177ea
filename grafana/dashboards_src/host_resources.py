"""Host detail, the machine itself: CPU, load and memory, filesystems, network interfaces."""

from __future__ import annotations

from grafana_foundation_sdk.models import units

from dashboards_src.fields import UP_DOWN, binary_cells, colored_cells, steps, thresholds_value, unit
from dashboards_src.layout import Item
from dashboards_src.panels import row, table_panel, timeseries_panel
from dashboards_src.source import HOST_FILTER as H
from dashboards_src.source import query, rate_by, table_query

USED_SHARE = steps("green", (0.8, "orange"), (0.9, "red"))


def interface_rate(metric: str) -> str:
    """Per second rate of a per-interface counter of the host."""
    return rate_by("interface", metric, H)


def resource_panels() -> list[Item]:
    """The rows CPU and memory, disks and network of the host detail."""
    return [
        row("CPU và bộ nhớ / CPU and memory"),
        timeseries_panel(
            "CPU",
            "Tỷ lệ thời gian CPU bận trong mỗi chu kỳ của tác nhân, và số CPU logic. "
            "Share of CPU time busy over each agent interval.",
            query(f"max(fleetwatch_host_cpu_utilization_ratio{{{H}}})", "CPU"),
            unit_name=units.PercentUnit,
            width=8,
            min_value=0,
            max_value=1,
        ),
        timeseries_panel(
            "Tải / Load average",
            "Tải trung bình 1, 5, 15 phút và số CPU (không có trên Windows). "
            "Load averages and the number of logical CPUs (absent on Windows).",
            query(f"max(fleetwatch_host_load1{{{H}}})", "1m", "A"),
            query(f"max(fleetwatch_host_load5{{{H}}})", "5m", "B"),
            query(f"max(fleetwatch_host_load15{{{H}}})", "15m", "C"),
            query(f"max(fleetwatch_host_cpus{{{H}}})", "CPU", "D"),
            width=8,
            min_value=0,
        ),
        timeseries_panel(
            "Bộ nhớ / Memory",
            "Bộ nhớ đã dùng (tổng trừ khả dụng), tổng bộ nhớ, swap đã dùng. Used, total, swap used.",
            query(
                f"max(fleetwatch_host_memory_total_bytes{{{H}}}"
                f" - fleetwatch_host_memory_available_bytes{{{H}}})",
                "Đã dùng / used",
                "A",
            ),
            query(f"max(fleetwatch_host_memory_total_bytes{{{H}}})", "Tổng / total", "B"),
            query(f"max(fleetwatch_host_swap_used_bytes{{{H}}})", "Swap đã dùng / swap used", "C"),
            unit_name=units.BytesIEC,
            width=8,
            min_value=0,
        ),
        row("Ổ đĩa / Disks"),
        table_panel(
            "Hệ thống tệp / Filesystems",
            "Dung lượng, đã dùng, còn trống và tỷ lệ đã dùng của mỗi hệ thống tệp. "
            "Size, used, free and used share of each filesystem.",
            table_query(f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_size_bytes{{{H}}})", "A"),
            table_query(f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_used_bytes{{{H}}})", "B"),
            table_query(f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_free_bytes{{{H}}})", "C"),
            table_query(
                f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_used_bytes{{{H}}}"
                f" / fleetwatch_host_filesystem_size_bytes{{{H}}})",
                "D",
            ),
            merge=True,
            order=("mountpoint", "fstype", "Value #A", "Value #B", "Value #C", "Value #D"),
            rename={
                "mountpoint": "Điểm gắn / Mount point",
                "fstype": "Kiểu / Type",
                "Value #A": "Dung lượng / Size",
                "Value #B": "Đã dùng / Used",
                "Value #C": "Còn trống / Free",
                "Value #D": "Tỷ lệ dùng / Used share",
            },
            sort_by="Điểm gắn / Mount point",
            width=12,
            height=8,
        )
        .override_by_name("Dung lượng / Size", [unit(units.BytesIEC)])
        .override_by_name("Đã dùng / Used", [unit(units.BytesIEC)])
        .override_by_name("Còn trống / Free", [unit(units.BytesIEC)])
        .override_by_name(
            "Tỷ lệ dùng / Used share",
            colored_cells(unit(units.PercentUnit), thresholds_value(USED_SHARE)),
        ),
        timeseries_panel(
            "Tỷ lệ đã dùng / Space used",
            "Tỷ lệ dung lượng đã dùng của mỗi hệ thống tệp. Used share of each filesystem.",
            query(
                f"max by (mountpoint) (fleetwatch_host_filesystem_used_bytes{{{H}}}"
                f" / fleetwatch_host_filesystem_size_bytes{{{H}}})",
                "{{mountpoint}}",
            ),
            unit_name=units.PercentUnit,
            width=12,
            min_value=0,
            max_value=1,
        ),
        row("Mạng / Network"),
        timeseries_panel(
            "Lưu lượng / Traffic",
            "Byte nhận và gửi mỗi giây theo giao diện. Bytes received and sent per second per interface.",
            query(
                interface_rate("fleetwatch_host_network_receive_bytes_total"),
                "{{interface}} nhận / in",
                "A",
            ),
            query(
                interface_rate("fleetwatch_host_network_transmit_bytes_total"),
                "{{interface}} gửi / out",
                "B",
            ),
            unit_name=units.BytesPerSecondSI,
            width=8,
            min_value=0,
        ),
        timeseries_panel(
            "Lỗi và gói bị bỏ / Errors and drops",
            "Lỗi và gói bị bỏ mỗi giây theo giao diện. Errors and dropped packets per second.",
            query(
                interface_rate("fleetwatch_host_network_receive_errors_total"),
                "{{interface}} lỗi nhận / rx errors",
                "A",
            ),
            query(
                interface_rate("fleetwatch_host_network_transmit_errors_total"),
                "{{interface}} lỗi gửi / tx errors",
                "B",
            ),
            query(
                interface_rate("fleetwatch_host_network_receive_drops_total"),
                "{{interface}} bỏ khi nhận / rx drops",
                "C",
            ),
            query(
                interface_rate("fleetwatch_host_network_transmit_drops_total"),
                "{{interface}} bỏ khi gửi / tx drops",
                "D",
            ),
            unit_name=units.PacketsPerSecond,
            width=8,
            min_value=0,
        ),
        table_panel(
            "Giao diện mạng / Interfaces",
            "Trạng thái và tốc độ liên kết. Link state and speed.",
            table_query(f"max by (interface) (fleetwatch_host_network_up{{{H}}})", "A"),
            table_query(f"max by (interface) (fleetwatch_host_network_speed_bytes{{{H}}})", "B"),
            merge=True,
            order=("interface", "Value #A", "Value #B"),
            rename={
                "interface": "Giao diện / Interface",
                "Value #A": "Trạng thái / State",
                "Value #B": "Tốc độ / Speed",
            },
            width=8,
            height=8,
        )
        .override_by_name(
            "Trạng thái / State",
            binary_cells(UP_DOWN),
        )
        .override_by_name("Tốc độ / Speed", [unit(units.BytesPerSecondSI)]),
    ]
