"""Host detail: one workstation's agent, resources, disks, network, antivirus and connectivity."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, stat
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueTextMode

from dashboards_src.common import (
    HOST_FILTER,
    NEUTRAL,
    ON_OFF,
    PROBLEMS,
    UP_DOWN,
    assemble,
    bargauge_panel,
    colored_cells,
    datasource_variable,
    district_variable,
    host_variable,
    query,
    row,
    site_variable,
    stat_panel,
    steps,
    table_panel,
    table_query,
    thresholds_value,
    timeseries_panel,
    unit,
)

UID = "fleetwatch-host"
H = HOST_FILTER
USED_SHARE = steps("green", (0.8, "orange"), (0.9, "red"))
SIGNATURE_AGE = steps("green", (86400, "orange"), (3 * 86400, "red"))


def interface_rate(metric: str) -> str:
    """Per second rate of a per-interface counter of the host."""
    return f"sum by (interface) (rate({metric}{{{H}}}[$__rate_interval]))"


def label_stat(title: str, description: str, expr: str, field: str) -> stat.Panel:
    """A stat showing the value of one label of an info series (os_name, agent_version, ...)."""
    return (
        stat_panel(title, description, table_query(expr), width=4)
        .reduce_options(
            common.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields(f"/^{field}$/")
        )
        .color_mode(BigValueColorMode.NONE)
    )


def build() -> models.Dashboard:
    return assemble(
        UID,
        "Chi tiết máy / Host detail",
        "Một máy trạm: tác nhân, CPU, bộ nhớ, ổ đĩa, mạng, phòng chống mã độc, kết nối. "
        "One workstation: agent, CPU, memory, disks, network, antivirus, connectivity.",
        [datasource_variable(), district_variable(), site_variable(), host_variable()],
        [
            row("Tổng quan / Summary"),
            stat_panel(
                "Tác nhân / Agent",
                "Tác nhân đã báo cáo trong 3 chu kỳ gần nhất. The agent reported within 3 of its intervals.",
                query(f"max(fleetwatch_agent_up{{{H}}})", "{{host}}"),
                thresholds=steps("red", (1, "green")),
            ).mappings(UP_DOWN),
            stat_panel(
                "Báo cáo gần nhất / Last report",
                "Thời gian từ lần thu thập của báo cáo mới nhất. Time since the newest report was collected.",
                query(f"time() - max(fleetwatch_agent_last_report_timestamp_seconds{{{H}}})", "tuổi / age"),
                unit_name=units.DurationSeconds,
                thresholds=steps("green", (300, "orange"), (900, "red")),
            ),
            stat_panel(
                "Thời gian chạy / Uptime",
                "Thời gian từ lần khởi động. Time since the host booted.",
                query(f"time() - max(fleetwatch_host_boot_time_seconds{{{H}}})", "uptime"),
                unit_name=units.DurationSeconds,
            ),
            label_stat(
                "Hệ điều hành / Operating system",
                "os_name của fleetwatch_agent_info.",
                f"fleetwatch_agent_info{{{H}}}",
                "os_name",
            ),
            label_stat(
                "Phiên bản tác nhân / Agent version",
                "agent_version của fleetwatch_agent_info.",
                f"fleetwatch_agent_info{{{H}}}",
                "agent_version",
            ),
            stat_panel(
                "Phòng chống mã độc / Antivirus",
                "Trạng thái tổng hợp của máy (sản phẩm tốt nhất). The host's state (its best product).",
                query(f"max by (state) (fleetwatch_antivirus_state{{{H}}} == 1)", "{{state}}"),
                thresholds=NEUTRAL,
            ).text_mode(BigValueTextMode.NAME),
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
                table_query(
                    f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_size_bytes{{{H}}})", "A"
                ),
                table_query(
                    f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_used_bytes{{{H}}})", "B"
                ),
                table_query(
                    f"max by (mountpoint, fstype) (fleetwatch_host_filesystem_free_bytes{{{H}}})", "C"
                ),
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
                [
                    models.DynamicConfigValue(id_val="mappings", value=UP_DOWN),
                    *colored_cells(thresholds_value(steps("red", (1, "green")))),
                ],
            )
            .override_by_name("Tốc độ / Speed", [unit(units.BytesPerSecondSI)]),
            row("Phòng chống mã độc / Antivirus"),
            table_panel(
                "Sản phẩm / Products",
                "Các sản phẩm tìm thấy trên máy, phiên bản và trạng thái của từng sản phẩm. "
                "Products found on the host, their versions and states.",
                table_query(f"fleetwatch_antivirus_product_info{{{H}}}"),
                hide=("Time", "Value", "agent_id", "host", "site", "district", "site_type"),
                order=(
                    "product",
                    "vendor",
                    "product_version",
                    "engine_version",
                    "signature_version",
                    "state",
                ),
                rename={
                    "product": "Sản phẩm / Product",
                    "vendor": "Hãng / Vendor",
                    "product_version": "Phiên bản / Version",
                    "engine_version": "Engine",
                    "signature_version": "Chữ ký / Signatures",
                    "state": "Trạng thái / State",
                },
                width=12,
                height=6,
            ),
            table_panel(
                "Bảo vệ thời gian thực / Real-time protection",
                "Bảo vệ thời gian thực và quét khi truy cập của mỗi sản phẩm. "
                "Real-time protection and on-access scanning of each product.",
                table_query(f"max by (product) (fleetwatch_antivirus_realtime_protection{{{H}}})", "A"),
                table_query(f"max by (product) (fleetwatch_antivirus_on_access_scanning{{{H}}})", "B"),
                merge=True,
                order=("product", "Value #A", "Value #B"),
                rename={
                    "product": "Sản phẩm / Product",
                    "Value #A": "Thời gian thực / Real-time",
                    "Value #B": "Khi truy cập / On access",
                },
                width=12,
                height=6,
            )
            .override_by_name(
                "Thời gian thực / Real-time",
                [
                    models.DynamicConfigValue(id_val="mappings", value=ON_OFF),
                    *colored_cells(thresholds_value(steps("red", (1, "green")))),
                ],
            )
            .override_by_name(
                "Khi truy cập / On access", [models.DynamicConfigValue(id_val="mappings", value=ON_OFF)]
            ),
            bargauge_panel(
                "Tuổi chữ ký / Signature age",
                "Tuổi chữ ký của mỗi sản phẩm khi thu thập. Age of each product's signatures when collected.",
                query(f"max by (product) (fleetwatch_antivirus_signature_age_seconds{{{H}}})", "{{product}}"),
                unit_name=units.DurationSeconds,
                thresholds=SIGNATURE_AGE,
                max_value=7 * 86400,
                width=8,
                height=6,
            ),
            bargauge_panel(
                "Lần quét gần nhất / Last scan",
                "Thời gian từ lần quét nhanh (quick) và toàn bộ (full) gần nhất. Time since the last scans.",
                query(
                    f"max by (product, kind) (fleetwatch_antivirus_last_scan_age_seconds{{{H}}})",
                    "{{product}} {{kind}}",
                ),
                unit_name=units.DurationSeconds,
                thresholds=steps("green", (7 * 86400, "orange"), (30 * 86400, "red")),
                max_value=None,
                width=8,
                height=6,
            ),
            stat_panel(
                "Mã độc phát hiện / Threats detected",
                "Số mã độc phát hiện trong khoảng thời gian đang xem. Threats detected in the time range.",
                query(
                    f"sum(increase(fleetwatch_antivirus_threats_detected_total{{{H}}}[$__range]))"
                    " or vector(0)",
                    "Mã độc / threats",
                    instant=True,
                ),
                thresholds=PROBLEMS,
                decimals=0,
                width=8,
                height=6,
            ),
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
                [
                    models.DynamicConfigValue(id_val="mappings", value=UP_DOWN),
                    *colored_cells(thresholds_value(steps("red", (1, "green")))),
                ],
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
                "Mục tiêu không phản hồi ở lần kiểm tra gần nhất và lý do. "
                "Targets failing now, with the reason.",
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
                    f"sum by (target) (increase(fleetwatch_connectivity_outages_total{{{H}}}[$__range]))", "A"
                ),
                table_query(
                    f"sum by (target) "
                    f"(increase(fleetwatch_connectivity_outage_seconds_total{{{H}}}[$__range]))",
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
            row("Tác nhân / Agent"),
            table_panel(
                "Đầu dò / Probes",
                "Kết quả và thời gian chạy của mỗi đầu dò trong chu kỳ gần nhất. "
                "Each probe's result and duration in the latest cycle.",
                table_query(f"max by (probe) (fleetwatch_agent_probe_success{{{H}}})", "A"),
                table_query(f"max by (probe) (fleetwatch_agent_probe_duration_seconds{{{H}}})", "B"),
                merge=True,
                order=("probe", "Value #A", "Value #B"),
                rename={
                    "probe": "Đầu dò / Probe",
                    "Value #A": "Kết quả / Result",
                    "Value #B": "Thời gian / Duration",
                },
                width=12,
                height=6,
            )
            .override_by_name(
                "Kết quả / Result",
                [
                    models.DynamicConfigValue(
                        id_val="mappings",
                        value=[
                            models.ValueMap(
                                {
                                    "0": models.ValueMappingResult(text="Lỗi / failed", color="red", index=0),
                                    "1": models.ValueMappingResult(text="OK", color="green", index=1),
                                }
                            )
                        ],
                    ),
                    *colored_cells(thresholds_value(steps("red", (1, "green")))),
                ],
            )
            .override_by_name("Thời gian / Duration", [unit(units.Seconds)]),
            timeseries_panel(
                "Hàng đợi / Spool",
                "Báo cáo chờ gửi trong hàng đợi của tác nhân và số báo cáo bị bỏ vì hàng đợi đầy. "
                "Reports waiting in the agent's spool, and reports dropped because it was full.",
                query(f"max(fleetwatch_agent_spool_reports{{{H}}})", "Đang chờ / queued", "A"),
                query(
                    f"sum(increase(fleetwatch_agent_spool_dropped_reports_total{{{H}}}[$__rate_interval]))",
                    "Bị bỏ / dropped",
                    "B",
                ),
                width=12,
                height=6,
                min_value=0,
            ),
        ],
    )
