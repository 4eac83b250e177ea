"""Free text and host names shaped for the wire: what the agent sends, the collector accepts."""

from __future__ import annotations

import pytest

from fleetwatch_agent import convert
from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_agent.probes.resources import wire as resources_wire
from fleetwatch_agent.probes.resources.collect import Mount, Nic
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_agent.wiretext import hostname, text
from fleetwatch_collector.validate import Limits, validate_push
from fleetwatch_proto.limits import CONTROL_CHARACTERS, HOSTNAME_RE, MAX_TEXT_BYTES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.resources.psutil_shapes import (
    ETH0,
    ROOT,
    IoCounters,
    NicStats,
    Partition,
    Usage,
    reading,
)

NOW_MS = 1_760_000_000_000
C0 = "".join(chr(c) for c in range(0x20))
C1 = "".join(chr(c) for c in range(0x80, 0xA0))
HOSTILE = "x\n# HELP fake\r\n\x1b[31mred\x00\t\x7f\x85end"
LONG = "ổ" * 200  # 600 bytes of UTF-8


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Windows 10 Pro", "Windows 10 Pro"),
        ("Xã Tân Mỹ Chánh", "Xã Tân Mỹ Chánh"),
        ("a\nb", "a?b"),
        ("tab\there", "tab?here"),
        ("nul\x00", "nul?"),
        ("del\x7f", "del?"),
        ("nel\x85 csi\x9b", "nel? csi?"),
        (C0, "?" * 32),
        (C1, "?" * 32),
        ("\u00a0nbsp", "\u00a0nbsp"),  # U+00A0 is printable, just past C1
        ("", ""),
    ],
)
def test_control_characters_become_question_marks(raw: str, clean: str) -> None:
    """C0 (newline and tab too), DEL and C1 are each replaced by one '?'."""
    assert text(raw) == clean


def test_text_at_the_limit_is_kept_whole() -> None:
    """Exactly 256 bytes pass unchanged."""
    value = "a" * 254 + "é"
    assert len(value.encode()) == 256
    assert text(value) == value


@pytest.mark.parametrize(
    "raw",
    [
        "x" * 300,
        LONG,
        "a" + "😀" * 80,
        "ab" + "😀" * 80,
        "abc" + "ổ" * 100,
        "\n" * 400,
    ],
)
def test_long_text_is_cut_at_256_bytes_without_splitting_a_character(raw: str) -> None:
    """The result is the longest prefix of whole characters that fits in 256 bytes."""
    clean = text(raw)
    encoded = clean.encode()
    assert len(encoded) <= MAX_TEXT_BYTES
    assert len(encoded) > MAX_TEXT_BYTES - 4  # no character of 4 bytes or less was left out
    expected = CONTROL_CHARACTERS.sub("?", raw)
    assert expected.startswith(clean)
    assert "\ufffd" not in clean


def test_non_utf8_bytes_from_the_os_do_not_break_conversion() -> None:
    """Paths decoded with surrogateescape (how psutil reads /proc/mounts) become valid text."""
    # BUG (source): text() calls value.encode(), which raises UnicodeEncodeError on lone
    # surrogates; psutil returns "/mnt/\udce9t\udce9" for a mount point named b"/mnt/\xe9t\xe9",
    # so one such filesystem or interface name makes every collection cycle raise.
    clean = text("/media/usb-\udce9t\udce9")
    clean.encode()
    assert clean.startswith("/media/usb-")


def hostile_cycle(now_ms: int) -> CycleReport:
    facts = HostFacts(
        hostname="pc-ke-toan-01",
        os_family="linux",
        os_name="Ubuntu\n# TYPE injected counter\n" + LONG,
        os_version="24.04\x00",
        kernel="6.8.0\x1b[2J",
        arch="x86_64\x85",
        cpu_count=4,
        memory_total_bytes=8 * 1024**3,
        boot_time_unix=1_700_000_000,
    )

    def mount(mountpoint: str, device: str, fstype: str) -> Mount:
        return Mount(Partition(device, mountpoint, fstype, "rw"), Usage(1, 1, 0, 100.0), None)

    def nic(name: str) -> Nic:
        return Nic(name, IoCounters(1, 2, 3, 4, 0, 0, 0, 0), NicStats(False, 0, 0, 1500, ""))

    filesystems = (
        ROOT,
        mount("/media/usb\nfake_metric 1", "/dev/sdb1\t", "vfat\x7f"),
        mount("/mnt/" + "ổ" * 300, "/dev/" + LONG, "fuse." + "x" * 300),
        mount(HOSTILE, HOSTILE, HOSTILE),
    )
    interfaces = (ETH0, nic("wlan0\x00\x85"), nic("Kết nối\nmạng " + "ổ" * 120))
    return CycleReport(
        seq=7,
        collected_unix_ms=now_ms,
        interval_seconds=15.0,
        host=facts,
        location=Location("xa-tan-my-chanh", "h-cai-be", "commune", "Xã Tân\nMỹ Chánh\x9b" + LONG),
        agent_version="0.1.0",
        outcomes=(
            ProbeOutcome("resources", True, 0.01),
            ProbeOutcome("antivirus", False, 0.5, "WMI said:\r\n" + HOSTILE + LONG),
        ),
        results={
            "resources": resources_wire.message(reading(filesystems=filesystems, interfaces=interfaces)),
        },
    )


def test_a_report_with_hostile_texts_passes_the_collectors_validation() -> None:
    """The sanitized report is accepted by validate_push, so the batch is not dropped."""
    message = convert.report(hostile_cycle(NOW_MS))
    wire = pb.Report.FromString(message.SerializeToString())
    validate_push(pb.PushRequest(reports=[wire]), NOW_MS, Limits())
    mounts = [fs.mountpoint for fs in wire.resources.filesystems]
    assert mounts[1] == "/media/usb?fake_metric 1"
    assert wire.resources.filesystems[1].fstype == "vfat?"
    assert [nic.name for nic in wire.resources.interfaces][:2] == ["eth0", "wlan0??"]
    assert wire.host.os_name.startswith("Ubuntu?# TYPE injected counter?ổ")
    assert wire.host.os_version == "24.04?"
    assert wire.host.site_name.startswith("Xã Tân?Mỹ Chánh?")
    texts = [
        wire.host.os_name,
        wire.host.site_name,
        wire.probes[1].error,
        *mounts,
        *(fs.device for fs in wire.resources.filesystems),
        *(nic.name for nic in wire.resources.interfaces),
    ]
    for value in texts:
        assert len(value.encode()) <= MAX_TEXT_BYTES
        assert not CONTROL_CHARACTERS.search(value)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("pc-ke-toan-01", "pc-ke-toan-01"),
        ("PC_01.local", "PC_01.local"),
        ("Kế toán", "K--to-n"),
        ("-.leading", "leading"),
        ("ổ PC", "PC"),
        ("", "unknown"),
        ("---", "unknown"),
        ("a" * 300, "a" * 253),
    ],
)
def test_hostnames_are_shaped_to_the_contracts_pattern(raw: str, clean: str) -> None:
    assert hostname(raw) == clean
    assert HOSTNAME_RE.fullmatch(hostname(raw))
