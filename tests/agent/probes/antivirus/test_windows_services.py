"""Third-party products known by their services (Windows Server has no Security Center)."""

from __future__ import annotations

import json

import pytest

from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus.windows_services import (
    SERVICE_PRODUCTS,
    executable_of,
    parse_services,
    service_products,
    wql_filter,
)
from tests.agent.probes.antivirus.windows_support import (
    NOW,
    OUTDATED_AFTER,
    by_name,
    collector,
    fixture,
    recorded,
)
from tests.conftest import REPO_ROOT


def province_products() -> dict[str, tuple[str, str, bool]]:
    services = parse_services(fixture("services_province.ps51.json"))
    records = service_products(
        services,
        skip_vendors=(),
        path_exists=lambda path: True,
        now=NOW,
        outdated_after_seconds=OUTDATED_AFTER,
    )
    return {p.name: (p.vendor, p.state, p.realtime_protection) for p in records}


def test_every_product_of_the_table_is_recognised_from_its_service() -> None:
    assert province_products() == {
        "Kaspersky Endpoint Security for Windows": ("Kaspersky", "unknown", True),
        "Kaspersky Security for Windows Server": ("Kaspersky", "unknown", True),
        "ESET Security": ("ESET", "unknown", True),
        "Bkav Pro": ("Bkav", "unknown", True),
        "CMC Antivirus": ("CMC", "disabled", False),  # its service is stopped
        "Trend Micro Apex One Security Agent": ("Trend Micro", "unknown", True),
        "Trend Micro Deep Security Agent": ("Trend Micro", "unknown", True),
        "Symantec Endpoint Protection": ("Broadcom", "unknown", True),
    }


def test_only_the_tables_services_are_kept_a_version_suffix_included() -> None:
    names = [s.name for s in parse_services(fixture("services_province.ps51.json"))]
    assert "AVP21.3" in names  # Kaspersky's consumer products carry their version
    assert "AVPNService" not in names  # matched by the WQL LIKE, not a Kaspersky service


def test_windows_server_with_kaspersky_is_unknown_not_not_installed() -> None:
    result = recorded("script_server_kaspersky.ps51.json")
    (product,) = result.products
    assert (product.name, product.vendor) == ("Kaspersky Security for Windows Server", "Kaspersky")
    assert (product.state, product.realtime_protection) == ("unknown", True)
    assert "service kavfs (Kaspersky Security Service) running, start mode Auto" in product.detail
    assert "signature date unknown" in product.detail
    assert result.host_state == "unknown"
    assert result.error == ""


def test_windows_server_with_the_eset_service_stopped_is_disabled() -> None:
    result = recorded("script_server_eset_stopped.ps51.json")
    assert [(p.name, p.state) for p in result.products] == [("ESET Security", "disabled")]
    assert result.host_state == "disabled"


def test_a_service_whose_program_is_gone_is_stale() -> None:
    """Trend Micro's uninstaller left its service; Defender protects the server."""
    result = recorded("script_server_trend_leftover.ps51.json")
    products = by_name(result)
    trend = products["Trend Micro Apex One Security Agent"]
    assert trend.state == "stale"
    assert "NTRtScan.exe" in trend.detail and "gone" in trend.detail
    assert products["Windows Defender"].state == "protected"
    assert result.host_state == "protected"


def test_a_server_without_any_known_service_is_not_installed() -> None:
    recording = json.loads(fixture("script_server_no_defender.ps51.json")) | {"services": ""}
    result = collector(json.dumps(recording))()
    assert (result.products, result.host_state, result.error) == ((), "not_installed", "")


def test_a_product_registered_with_security_center_is_not_added_again_from_its_service() -> None:
    result = recorded("script_kes_registered_twice.ps51.json")
    assert [p.vendor for p in result.products].count("Kaspersky") == 1


def test_services_that_cannot_be_listed_are_an_error_not_a_failure() -> None:
    recording = json.loads(fixture("script_server_kaspersky.ps51.json"))
    del recording["services"]
    recording["services_error"] = "HRESULT 0x80041003,Get-CimInstance: Access denied"
    result = collector(json.dumps(recording))()
    assert result.host_state == "unknown"
    assert "Get-CimInstance Win32_Service: HRESULT 0x80041003" in result.error


def test_the_script_asks_windows_for_the_tables_services_only() -> None:
    assert "Win32_Service -Filter '" + wql_filter().replace("'", "''") + "'" in win.SCRIPT
    for entry in SERVICE_PRODUCTS:
        for service in entry.services:
            expected = f"Name LIKE '{service[:-1]}%'" if service.endswith("*") else f"Name='{service}'"
            assert expected in wql_filter()


def test_the_readme_lists_the_tables_services() -> None:
    """The table lives in one place (windows_services.py); agent/README.md shows it to operators."""
    readme = (REPO_ROOT / "agent" / "README.md").read_text(encoding="utf-8")
    for entry in SERVICE_PRODUCTS:
        for service in entry.services:
            assert f"`{service}`" in readme, service


@pytest.mark.parametrize(
    ("path_name", "program"),
    [
        (
            '"C:\\Program Files\\ESET\\ESET Security\\ekrn.exe"',
            r"C:\Program Files\ESET\ESET Security\ekrn.exe",
        ),
        ('"C:\\Kaspersky Lab\\avp.exe" -r', r"C:\Kaspersky Lab\avp.exe"),
        (
            r"C:\Program Files\CMC Antivirus\CMCCore.exe /service",
            r"C:\Program Files\CMC Antivirus\CMCCore.exe",
        ),
        (r"C:\Windows\system32\svchost.exe -k netsvcs", r"C:\Windows\system32\svchost.exe"),
        ("", ""),
    ],
)
def test_program_of_a_service_command_line(path_name: str, program: str) -> None:
    assert executable_of(path_name) == program
