"""Host detail, antivirus: the host's products, their protection, signatures, scans and threats."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from dashboards_src.fields import ON_OFF, PROBLEMS, binary_cells, steps, unit, value_mappings
from dashboards_src.layout import Item
from dashboards_src.panels import bargauge_panel, row, stat_panel, table_panel
from dashboards_src.source import HOST_FILTER as H
from dashboards_src.source import age, agent_increase, newest_per_agent, per_agent, query, table_query

THREATS = "fleetwatch_antivirus_threats_detected_total"
SIGNATURE_AGE = steps("green", (86400, "orange"), (3 * 86400, "red"))
# The product's versions (info, value 1) with its current state (the 1 of its state gauge), one
# series per agent and product on each side even while two collectors show the host.
PRODUCTS = (
    "max by (product, vendor, product_version, engine_version, state) ("
    f"{per_agent(f'fleetwatch_antivirus_product_info{{{H}}}')} * on (agent_id, product) group_left (state) "
    f"({newest_per_agent(f'fleetwatch_antivirus_product_state{{{H}}}')} == 1))"
)


def antivirus_panels() -> list[Item]:
    """The antivirus row of the host detail."""
    return [
        row("Phòng chống mã độc / Antivirus"),
        table_panel(
            "Sản phẩm / Products",
            "Các sản phẩm tìm thấy trên máy, phiên bản, trạng thái và phiên bản chữ ký (khi là một số, "
            "như bản daily của ClamAV). Products found on the host, their versions and states, and "
            "the signature version where it is a number (ClamAV's daily).",
            table_query(PRODUCTS, "A"),
            table_query(f"max by (product) (fleetwatch_antivirus_signature_version{{{H}}})", "B"),
            merge=True,
            hide=("Time", "Value #A"),
            order=(
                "product",
                "vendor",
                "product_version",
                "engine_version",
                "Value #B",
                "state",
            ),
            rename={
                "product": "Sản phẩm / Product",
                "vendor": "Hãng / Vendor",
                "product_version": "Phiên bản / Version",
                "engine_version": "Engine",
                "Value #B": "Chữ ký / Signatures",
                "state": "Trạng thái / State",
            },
            width=12,
            height=6,
        ).override_by_name(  # a version number, never 27.5 K
            "Chữ ký / Signatures", [unit("none"), models.DynamicConfigValue(id_val="decimals", value=0)]
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
            "Tuổi chữ ký của mỗi sản phẩm tính đến nay, vẫn tăng khi máy không gửi báo cáo. "
            "Age of each product's signatures up to now, growing while the host is silent too.",
            query(
                f"max by (product) {age('fleetwatch_antivirus_signature_updated_timestamp_seconds', H)}",
                "{{product}}",
            ),
            unit_name=units.DurationSeconds,
            thresholds=SIGNATURE_AGE,
            max_value=7 * 86400,
            width=8,
            height=6,
        ),
        bargauge_panel(
            "Lần quét gần nhất / Last scan",
            "Thời gian từ lần quét nhanh (quick) và toàn bộ (full) gần nhất đến nay. "
            "Time since the last quick and full scans, up to now.",
            query(
                f"max by (product, kind) {age('fleetwatch_antivirus_last_scan_timestamp_seconds', H)}",
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
                f"sum({agent_increase(THREATS, H, '$__range')}) or vector(0)",
                "Mã độc / threats",
                instant=True,
            ),
            thresholds=PROBLEMS,
            decimals=0,
            width=8,
            height=6,
        ),
    ]
