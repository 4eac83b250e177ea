"""PowerShell output in every encoding Windows writes, names in NFC, one record per normalised name."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus.windows_text import decode, name_key, nfc
from fleetwatch_agent.probes.context import ProbeContext
from tests.agent.probes.antivirus.windows_support import (
    FIXTURES,
    NOW,
    by_name,
    collector,
    files_check,
    present_files,
)

BKAV = "Bkav Pro Diệt Virus"
VIETNAMESE_ERROR = "Đã xảy ra lỗi chung không thuộc mã lỗi cụ thể nào."
KES_DE = "Kaspersky Endpoint Security für Windows"


def collect(text: str, name: str = "script_vi.utf8.json") -> dict[str, object]:
    result = collector(text, present=present_files(name))()
    assert result.error == ""
    return {p.name: (p.vendor, p.state, p.detail) for p in result.products}


@pytest.mark.parametrize(
    ("name", "code_page"),
    [
        ("script_vi.utf8.json", "cp1258"),
        ("script_vi.utf8bom.json", "cp1258"),
        ("script_vi.utf16le.json", "cp1258"),
        ("script_vi.utf16be.json", "cp1258"),
        ("script_vi.cp1258.json", "cp1258"),  # Vietnamese system: OEM and ANSI code page 1258
        ("script_vi.escaped.json", "cp437"),  # what the collection script writes: ASCII only
    ],
)
def test_every_encoding_of_a_vietnamese_host_gives_the_same_records(name: str, code_page: str) -> None:
    text = decode((FIXTURES / name).read_bytes(), code_page)
    products = collect(text, name)
    assert set(products) == {"Windows Defender", BKAV}
    vendor, state, detail = products[BKAV]
    assert (vendor, state) == ("Bkav", "protected")
    assert "service BkavService running" in str(detail)
    assert VIETNAMESE_ERROR in str(products["Windows Defender"][2])
    for record in products:
        assert unicodedata.is_normalized("NFC", record)


def test_cp1258_carries_vietnamese_decomposed_and_the_parser_composes_it() -> None:
    raw = decode((FIXTURES / "script_vi.cp1258.json").read_bytes(), "cp1258")
    assert BKAV not in raw and unicodedata.normalize("NFD", BKAV) not in raw  # base + tone mark only
    assert nfc(raw).count(BKAV) == 1
    assert BKAV in collect(raw)


@pytest.mark.parametrize("name", ["script_de.cp437.json", "script_de.cp850.json"])
def test_oem_code_pages_of_western_system_locales(name: str) -> None:
    code_page = name.split(".")[1]
    products = collect(decode((FIXTURES / name).read_bytes(), code_page), "script_vi.utf8.json")
    assert KES_DE in products
    assert products[KES_DE][:2] == ("Kaspersky", "protected")


def test_a_bom_wins_over_the_code_page_and_utf8_over_the_code_page() -> None:
    text = "Diệt"
    assert decode(b"\xef\xbb\xbf" + text.encode(), "cp437") == text
    assert decode(b"\xff\xfe" + text.encode("utf-16-le"), "cp437") == text
    assert decode(b"\xfe\xff" + text.encode("utf-16-be"), "cp437") == text
    assert decode(text.encode("utf-16-le"), "cp437") == text  # no BOM: the zero bytes tell
    assert decode(text.encode(), "cp1258") == text
    assert decode("für".encode("cp850"), "cp850") == "für"
    assert decode("für".encode("cp850"), "no-such-code-page") == "für"  # cp437 agrees on ü


def test_two_records_of_one_product_never_both_reach_the_collector() -> None:
    """The same product registered twice, once composed and once decomposed, case and spaces differing."""
    recording = json.loads((FIXTURES / "script_vi.utf8.json").read_text(encoding="utf-8"))
    registrations = json.loads(recording["security_center"])
    twin = dict(registrations[1], displayName=" " + unicodedata.normalize("NFD", BKAV.upper()) + " ")
    recording["security_center"] = json.dumps([*registrations, twin], ensure_ascii=False)
    result = collector(json.dumps(recording), present=present_files("script_vi.utf8.json"))()
    keys = [name_key(p.name) for p in result.products]
    assert len(keys) == len(set(keys)) == 2
    assert by_name(result)[BKAV].state == "protected"


def test_names_are_compared_in_nfc_without_case_or_extra_spaces() -> None:
    assert name_key(" Bkav  Pro DIỆT virus ") == name_key(unicodedata.normalize("NFD", BKAV))
    assert name_key("ESET Security") != name_key("ESET Endpoint Antivirus")


def test_the_script_escapes_every_non_ascii_character() -> None:
    assert "[regex]::Replace(($r | ConvertTo-Json -Compress), '[^\\x00-\\x7F]'" in win.SCRIPT
    assert '"' not in win.SCRIPT and "\n" not in win.SCRIPT


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in is a POSIX shell script")
@pytest.mark.parametrize(
    ("name", "code_page"), [("script_vi.cp1258.json", "cp1258"), ("script_vi.utf16le.json", "cp437")]
)
def test_the_runner_decodes_what_powershell_printed(
    name: str, code_page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "powershell"
    fake.write_bytes(b"#!/bin/sh\ncat " + str(FIXTURES / name).encode() + b"\n")
    fake.chmod(0o755)
    monkeypatch.setattr(win, "POWERSHELL", str(fake))
    monkeypatch.setattr(win, "oem_code_page", lambda: code_page)
    context = ProbeContext(tmp_path, clock=lambda: NOW)
    result = win.make_collector(AntivirusConfig(), context, path_exists=files_check(present_files(name)))()
    assert by_name(result)[BKAV].state == "protected"
