"""Host detail: one workstation's agent, resources, disks, network, antivirus and connectivity."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import BigValueTextMode

from dashboards_src.fields import NEUTRAL, UP_DOWN, binary_cells, steps, unit
from dashboards_src.host_antivirus import antivirus_panels
from dashboards_src.host_connectivity import connectivity_panels
from dashboards_src.host_resources import resource_panels
from dashboards_src.layout import assemble
from dashboards_src.panels import label_stat, row, stat_panel, table_panel, timeseries_panel
from dashboards_src.source import HOST_FILTER as H
from dashboards_src.source import (
    agent_increase,
    datasource_variable,
    district_variable,
    host_variable,
    newest_per_agent,
    query,
    site_variable,
    table_query,
)

UID = "fleetwatch-host"
PROBE_RESULT: list[models.ValueMapping] = [
    models.ValueMap(
        {
            "0": models.ValueMappingResult(text="Lỗi / failed", color="red", index=0),
            "1": models.ValueMappingResult(text="OK", color="green", index=1),
        }
    )
]


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
                query(
                    f"max by (state) ({newest_per_agent(f'fleetwatch_antivirus_state{{{H}}}')} == 1)",
                    "{{state}}",
                ),
                thresholds=NEUTRAL,
            ).text_mode(BigValueTextMode.NAME),
            *resource_panels(),
            *antivirus_panels(),
            *connectivity_panels(),
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
                binary_cells(PROBE_RESULT),
            )
            .override_by_name("Thời gian / Duration", [unit(units.Seconds)]),
            timeseries_panel(
                "Hàng đợi / Spool",
                "Báo cáo chờ gửi trong hàng đợi của tác nhân và số báo cáo bị bỏ vì hàng đợi đầy. "
                "Reports waiting in the agent's spool, and reports dropped because it was full.",
                query(f"max(fleetwatch_agent_spool_reports{{{H}}})", "Đang chờ / queued", "A"),
                query(
                    "sum("
                    + agent_increase("fleetwatch_agent_spool_dropped_reports_total", H, "$__rate_interval")
                    + ")",
                    "Bị bỏ / dropped",
                    "B",
                ),
                width=12,
                height=6,
                min_value=0,
            ),
        ],
    )
