"""Security Center registrations of products no longer present are "stale" and never protect the host."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus.windows_products import one_per_product
from fleetwatch_agent.probes.antivirus.windows_registrations import expand, file_state, judge
from fleetwatch_agent.probes.antivirus.windows_services import Service
from fleetwatch_proto.limits import MAX_PRODUCTS
from tests.agent.probes.antivirus.windows_support import (
    WINDOWS_ENV,
    by_name,
    collector,
    fixture,
    present_files,
    recorded,
)

KES = "Kaspersky Endpoint Security for Windows"
KES11 = r"C:\Program Files (x86)\Kaspersky Lab\KES.11.11.0"


def parts(name: str) -> dict[str, str]:
    return dict(json.loads(fixture(name)))


# --- The product's program is gone ---------------------------------------------------------------------


def test_registration_whose_program_is_gone_is_stale_and_the_host_state_comes_from_the_others() -> None:
    """Kaspersky was uninstalled without cleaning Security Center, which still says "on"; Defender
    therefore stays passive. The host is not protected."""
    result = recorded("script_kaspersky_removed_defender_passive.ps51.json")
    products = by_name(result)
    kaspersky = products[KES]
    assert (kaspersky.state, kaspersky.realtime_protection, kaspersky.vendor) == ("stale", False, "Kaspersky")
    assert f"its program {KES11}\\wmiav.exe is gone" in kaspersky.detail
    assert "Security Center: on, definitions up to date" in kaspersky.detail  # what it still claims
    assert products["Windows Defender"].state == "disabled"  # passive mode
    assert result.host_state == "disabled"
    assert [p.name for p in result.products][-1] == KES  # those present first


def test_the_same_registration_with_its_program_present_protects() -> None:
    name = "script_kaspersky_removed_defender_passive.ps51.json"
    files = {*(present_files(name) or ()), f"{KES11}\\wmiav.exe", f"{KES11}\\avp.exe"}
    result = collector(fixture(name), present=files)()
    assert by_name(result)[KES].state == "protected"
    assert result.host_state == "protected"


def test_a_program_that_cannot_be_checked_does_not_make_a_registration_stale() -> None:
    result = collector(fixture("script_kaspersky_defender_off.ps51.json"), present=None)()
    assert by_name(result)[KES].state == "protected"
    unknowable = judge(
        wp.parse_security_center(parts("script_kaspersky_defender_off.ps51.json")["security_center"]),
        services=None,
        path_exists=lambda path: None,  # access denied, or a variable not set
        defender_read=False,
    )
    assert [v.stale for v in unknowable] == ["", ""]


def test_only_a_stale_registration_is_not_installed() -> None:
    recording = parts("script_kaspersky_removed_defender_passive.ps51.json")
    recording["security_center"] = json.dumps(json.loads(recording["security_center"])[1])
    del recording["defender_status"]
    recording["defender_status_error"] = "CommandNotFoundException: The term 'Get-MpComputerStatus' ..."
    result = collector(json.dumps(recording), present=())()
    assert [(p.name, p.state) for p in result.products] == [(KES, "stale")]
    assert result.host_state == "not_installed"


# --- Replaced: older than a newer product's registration ---------------------------------------------------


def test_registration_replaced_by_a_newer_product_is_stale() -> None:
    """ESET replaced Kaspersky, whose files stayed behind; both registrations say "on"."""
    result = recorded("script_eset_replaced_kaspersky.ps51.json")
    products = by_name(result)
    assert products[KES].state == "stale"
    assert "last reported at 2023-09-04 02:15 UTC, before ESET Endpoint Antivirus" in products[KES].detail
    eset = products["ESET Endpoint Antivirus"]
    assert (eset.state, eset.vendor) == ("protected", "ESET")
    assert "service ekrn running" in eset.detail
    assert result.host_state == "protected"


def test_a_lone_old_registration_is_not_stale_and_close_timestamps_replace_nothing() -> None:
    recording = parts("script_eset_replaced_kaspersky.ps51.json")
    registrations = json.loads(recording["security_center"])
    alone = dict(recording, security_center=json.dumps(registrations[:2]), services="")
    files = present_files("script_eset_replaced_kaspersky.ps51.json")
    assert by_name(collector(json.dumps(alone), present=files)())[KES].state == "protected"
    registrations[1]["timestamp"] = "Tue, 14 Nov 2023 20:30:00 GMT"  # 28 minutes before ESET's
    close = dict(recording, security_center=json.dumps(registrations))
    products = by_name(collector(json.dumps(close), present=files)())
    assert products[KES].state == "protected" and products["ESET Endpoint Antivirus"].state == "protected"


# --- One product registered twice ------------------------------------------------------------------------


def test_a_product_registered_twice_is_one_record_the_newest() -> None:
    """Kaspersky upgraded from 11.11 to 12.3 left its old registration behind."""
    result = recorded("script_kes_registered_twice.ps51.json")
    assert [p.name for p in result.products].count(KES) == 1
    kaspersky = by_name(result)[KES]
    assert kaspersky.state == "protected"
    assert "service AVP running" in kaspersky.detail
    assert "1 more record(s) of this name left out" in kaspersky.detail
    assert result.host_state == "protected"


def test_registrations_without_timestamps_keep_the_worst_state_of_the_same_name() -> None:
    same = [
        {"displayName": "Bkav Pro", "productState": 266240},
        {"displayName": "BKAV  Pro ", "productState": 262144},  # off
    ]
    result = collector(json.dumps({"security_center": json.dumps(same)}), present=None)()
    assert [(p.name, p.state) for p in result.products] == [("BKAV  Pro", "disabled")]


# --- The product's service ---------------------------------------------------------------------------------


def test_security_center_on_but_the_service_stopped_is_disabled() -> None:
    result = recorded("script_kaspersky_service_stopped.ps51.json")
    kaspersky = by_name(result)[KES]
    assert (kaspersky.state, kaspersky.realtime_protection) == ("disabled", False)
    assert "service AVP stopped" in kaspersky.detail
    assert result.host_state == "disabled"


def test_registration_without_any_service_of_its_vendor_is_stale_unless_its_program_is_there() -> None:
    registered = wp.parse_security_center(parts("script_kaspersky_defender_off.ps51.json")["security_center"])
    eset = Service("ekrn", "ESET Service", "Running", "Auto", r"C:\Program Files\ESET\ESET Security\ekrn.exe")
    unknown = judge(registered, services=[eset], path_exists=lambda path: None, defender_read=False)
    assert unknown[1].stale == "no service of Kaspersky is installed"
    present = judge(registered, services=[eset], path_exists=lambda path: True, defender_read=False)
    assert present[1].stale == ""
    not_listed = judge(registered, services=None, path_exists=lambda path: None, defender_read=False)
    assert not_listed[1].stale == ""  # the services could not be read: no verdict from them


# --- One record per product, those present first ----------------------------------------------------------


def test_stale_records_are_the_first_left_out_at_the_product_limit() -> None:
    many = [{"displayName": f"AV {i}", "productState": 262144} for i in range(MAX_PRODUCTS)]
    many.insert(
        0, {"displayName": "Gone AV", "productState": 266240, "pathToSignedProductExe": r"C:\gone\av.exe"}
    )
    result = collector(json.dumps({"security_center": json.dumps(many)}), present=())()
    assert len(result.products) == MAX_PRODUCTS
    assert "Gone AV" not in by_name(result)


def test_one_per_product_keeps_a_present_record_over_a_stale_one() -> None:
    result = recorded("script_kaspersky_removed_defender_passive.ps51.json")
    stale = by_name(result)[KES]
    live = replace(stale, name=KES.upper(), state="disabled")
    assert [(p.name, p.state) for p in one_per_product([stale, live])] == [(KES.upper(), "disabled")]


# --- Program paths as Windows expands them ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "env", "expanded"),
    [
        (
            r"%ProgramFiles%\Windows Defender\MsMpeng.exe",
            WINDOWS_ENV,
            r"C:\Program Files\Windows Defender\MsMpeng.exe",
        ),
        # A 32-bit agent sees %ProgramFiles% as "Program Files (x86)": ProgramW6432 is the real one.
        (
            r"%ProgramFiles%\ESET\ecmds.exe",
            {"ProgramFiles": r"C:\Program Files (x86)", "ProgramW6432": r"C:\Program Files"},
            r"C:\Program Files\ESET\ecmds.exe",
        ),
        (
            r"C:\Windows\System32\SecurityHealthService.exe",
            {"windir": r"C:\Windows", "PROCESSOR_ARCHITEW6432": "AMD64"},
            r"C:\Windows\Sysnative\SecurityHealthService.exe",
        ),
        (r"C:\Windows\System32\x.exe", {"windir": r"C:\Windows"}, r"C:\Windows\System32\x.exe"),
        ('"C:\\Program Files\\x.exe"', {}, r"C:\Program Files\x.exe"),
        (r"%NotSet%\x.exe", WINDOWS_ENV, None),
    ],
)
def test_program_paths_are_expanded_the_64_bit_way(
    path: str, env: dict[str, str], expanded: str | None
) -> None:
    assert expand(path, env) == expanded


def test_file_state_tells_present_gone_and_unknowable() -> None:
    def stat_raising(error: OSError | None) -> object:
        def stat(path: str) -> object:
            if error is not None:
                raise error
            return object()

        return stat

    path = r"C:\Program Files\ESET\ESET Security\ecmds.exe"
    assert file_state(path, WINDOWS_ENV, stat_raising(None)) is True
    assert file_state(path, WINDOWS_ENV, stat_raising(FileNotFoundError(2, "gone"))) is False
    assert file_state(path, WINDOWS_ENV, stat_raising(PermissionError(13, "denied"))) is None
    assert file_state("windowsdefender://", WINDOWS_ENV, stat_raising(None)) is None
    assert file_state(r"%NotSet%\x.exe", WINDOWS_ENV, stat_raising(None)) is None
