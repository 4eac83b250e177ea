"""Host detail, antivirus: the host's products, their protection, signatures, scans and threats."""

from __future__ import annotations

from grafana_foundation_sdk.models import units

from dashboards_src.fields import ON_OFF, PROBLEMS, binary_cells, steps, value_mappings
from dashboards_src.layout import Item
from dashboards_src.panels import bargauge_panel, row, stat_panel, table_panel
from dashboards_src.source import HOST_FILTER as H
from dashboards_src.source import query, table_query

SIGNATURE_AGE = steps("green", (86400, "orange"), (3 * 86400, "red"))


def antivirus_panels() -> list[Item]:
    """The antivirus row of the host detail."""
    return [
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
            binary_cells(ON_OFF),
        )
        .override_by_name("Khi truy cập / On access", [value_mappings(ON_OFF)]),
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
                f"sum(increase(fleetwatch_antivirus_threats_detected_total{{{H}}}[$__range])) or vector(0)",
                "Mã độc / threats",
                instant=True,
            ),
            thresholds=PROBLEMS,
            decimals=0,
            width=8,
            height=6,
        ),
    ]
