"""Collector health: pushes, rejections, latency, the cost of rendering /metrics, the process."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, dashboard
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import BigValueColorMode

from dashboards_src.fields import UP_DOWN, steps
from dashboards_src.layout import assemble
from dashboards_src.panels import row, stat_panel, timeseries_panel
from dashboards_src.source import DATASOURCE, datasource_variable, query, table_query

UID = "fleetwatch-collector"
# The scrape job of deploy/prometheus/prometheus.yml.
JOB = "fleetwatch-collector"
C = 'instance=~"$instance"'
SCRAPE = f'job="{JOB}", instance=~"$instance"'


def instance_variable() -> dashboard.QueryVariable:
    """The collectors (several may run behind a load balancer), by their scrape address."""
    return (
        dashboard.QueryVariable("instance")
        .label("Bộ thu / Collector")
        .query("label_values(fleetwatch_collector_build_info, instance)")
        .datasource(DATASOURCE)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(models.VariableOption(selected=True, text="All", value="$__all"))
    )


def build() -> models.Dashboard:
    return assemble(
        UID,
        "Sức khỏe bộ thu / Collector health",
        "Bộ thu fleetwatch: lượt push theo mã, từ chối theo lý do, độ trễ, chi phí dựng /metrics, "
        "tiến trình. "
        "The fleetwatch collector: pushes by code, rejections by reason, latency, /metrics cost, process.",
        [datasource_variable(), instance_variable()],
        [
            row("Tổng quan / Summary"),
            stat_panel(
                "Prometheus thu thập / Scraped",
                "Lần thu thập /metrics gần nhất của Prometheus thành công. The latest scrape succeeded.",
                query(f"up{{{SCRAPE}}}", "{{instance}}"),
                thresholds=steps("red", (1, "green")),
            ).mappings(UP_DOWN),
            stat_panel(
                "Phiên bản / Version",
                "fleetwatch_collector_build_info.",
                table_query(f"fleetwatch_collector_build_info{{{C}}}"),
            )
            .reduce_options(
                common.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("/^version$/")
            )
            .color_mode(BigValueColorMode.NONE),
            stat_panel(
                "Máy theo trạng thái / Agents by state",
                "Số máy đã biết theo trạng thái (up, down). Known agents by state.",
                query(f"sum by (state) (fleetwatch_collector_agents{{{C}}})", "{{state}}"),
                decimals=0,
            ),
            stat_panel(
                "Push mỗi giây / Pushes per second",
                "Tổng số lượt Push mỗi giây, mọi mã. Push calls per second, any status code.",
                query(f"sum(rate(fleetwatch_collector_pushes_total{{{C}}}[$__rate_interval]))", "push/s"),
                unit_name=units.RequestsPerSecond,
            ),
            stat_panel(
                "Dựng /metrics / Render duration",
                "Thời gian dựng /metrics của đội máy lần gần nhất. Time the latest render of the fleet took.",
                query(f"max(fleetwatch_collector_render_duration_seconds{{{C}}})", "render"),
                unit_name=units.Seconds,
                thresholds=steps("green", (2, "orange"), (5, "red")),
            ),
            stat_panel(
                "Thời gian thu thập / Scrape duration",
                "Thời gian Prometheus thu thập /metrics (khoảng 22 MB với 4.130 máy). "
                "How long Prometheus took to scrape /metrics (about 22 MB for 4,130 agents).",
                query(f"max(scrape_duration_seconds{{{SCRAPE}}})", "scrape"),
                unit_name=units.Seconds,
                thresholds=steps("green", (5, "orange"), (8, "red")),
            ),
            row("Push"),
            timeseries_panel(
                "Push theo mã / Pushes by code",
                "Lượt Push mỗi giây theo mã trạng thái gRPC. Push calls per second by gRPC status code.",
                query(
                    f"sum by (code) (rate(fleetwatch_collector_pushes_total{{{C}}}[$__rate_interval]))",
                    "{{code}}",
                ),
                unit_name=units.RequestsPerSecond,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Bị từ chối theo lý do / Rejected by reason",
                "Lượt Push bị từ chối mỗi giây theo lý do; 0 khi chưa có lần nào. "
                "Push calls refused per second by reason; 0 while there was none.",
                query(
                    f"sum by (reason) (rate(fleetwatch_collector_rejected_total{{{C}}}[$__rate_interval]))"
                    " or vector(0)",
                    "{{reason}}",
                ),
                unit_name=units.RequestsPerSecond,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Thời gian xử lý push / Push duration",
                "Phân vị 50, 90, 99 của thời gian xử lý một Push. Quantiles of the time to handle one Push.",
                *(
                    query(
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(fleetwatch_collector_push_duration_seconds_bucket{{{C}}}[$__rate_interval])))",
                        f"p{round(q * 100)}",
                        ref,
                    )
                    for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
                ),
                unit_name=units.Seconds,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Báo cáo / Reports",
                "Báo cáo được áp dụng và báo cáo trùng (đã áp dụng trước đó) mỗi giây. "
                "Reports applied, and duplicates ignored, per second.",
                query(
                    f"sum(rate(fleetwatch_collector_reports_applied_total{{{C}}}[$__rate_interval]))",
                    "Áp dụng / applied",
                    "A",
                ),
                query(
                    f"sum(rate(fleetwatch_collector_reports_duplicate_total{{{C}}}[$__rate_interval]))",
                    "Trùng / duplicate",
                    "B",
                ),
                unit_name=units.OpsPerSecond,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Máy theo trạng thái / Agents by state",
                "Số máy đã biết theo trạng thái. Known agents by state.",
                query(f"sum by (state) (fleetwatch_collector_agents{{{C}}})", "{{state}}"),
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Đăng ký / Enrolments",
                "Lượt Enroll theo kết quả trong mỗi khoảng. Enroll calls by result per interval.",
                query(
                    f"sum by (result) "
                    f"(increase(fleetwatch_collector_enrolments_total{{{C}}}[$__rate_interval]))",
                    "{{result}}",
                ),
                width=8,
                min_value=0,
            ),
            row("Tiến trình / Process"),
            timeseries_panel(
                "Bộ nhớ / Resident memory",
                "Bộ nhớ thường trú của tiến trình bộ thu. Resident memory of the collector process.",
                query(f"process_resident_memory_bytes{{{C}}}", "{{instance}}"),
                unit_name=units.BytesIEC,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "CPU",
                "Giây CPU mỗi giây (1 = một lõi). CPU seconds per second (1 = one core).",
                query(f"rate(process_cpu_seconds_total{{{C}}}[$__rate_interval])", "{{instance}}"),
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Thời gian dựng và thu thập / Render and scrape duration",
                "Thời gian dựng /metrics và thời gian Prometheus thu thập. Render and scrape durations.",
                query(f"fleetwatch_collector_render_duration_seconds{{{C}}}", "render {{instance}}", "A"),
                query(f"scrape_duration_seconds{{{SCRAPE}}}", "scrape {{instance}}", "B"),
                unit_name=units.Seconds,
                width=8,
                min_value=0,
            ),
            timeseries_panel(
                "Tệp đang mở / Open file descriptors",
                "Số tệp đang mở so với giới hạn. Open file descriptors against the limit.",
                query(f"process_open_fds{{{C}}}", "open {{instance}}", "A"),
                query(f"process_max_fds{{{C}}}", "max {{instance}}", "B"),
                width=12,
                min_value=0,
            ),
            timeseries_panel(
                "Số mẫu thu thập / Samples scraped",
                "Số mẫu mỗi lần thu thập: tăng theo số máy và số mục tiêu. Samples per scrape.",
                query(f"scrape_samples_scraped{{{SCRAPE}}}", "{{instance}}"),
                width=12,
                min_value=0,
            ),
        ],
    )
