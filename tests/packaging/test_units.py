"""The systemd units: `systemd-analyze verify` passes, paths match the .deb, optional grants as drop-ins."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_program
from tests.packaging import unitfile

sys.path.insert(0, str(REPO_ROOT / "deploy" / "package"))
from fleetwatch_packaging.deb import COMPONENTS

UNITS = REPO_ROOT / "deploy" / "systemd"
DROP_IN = UNITS / "lan-discovery.conf"
# Optional grants: (unit, drop-in that adds them, the capability it grants).
DROP_INS = [
    ("agent", DROP_IN, "CAP_NET_RAW"),
    ("collector", UNITS / "snmp-traps.conf", "CAP_NET_BIND_SERVICE"),
]
# systemd's own scale: 0 (everything locked) to 10 (nothing); its "OK" band ends below 5. Measured: agent
# 2.1, collector 1.6. A unit that drifts above this lost some of its sandbox.
MAX_EXPOSURE = 3.0


def analyze() -> str:
    return require_program("systemd-analyze", "apt-get install systemd")


def staged_unit(tmp_path: Path, name: str) -> Path:
    """The unit in ``tmp_path`` with its ExecStart program replaced by an executable stub at a temp path:
    verify refuses a unit whose program does not exist. Nothing else of the unit changes."""
    text = (UNITS / f"fleetwatch-{name}.service").read_text()
    program = COMPONENTS[name].prefix + f"/bin/fleetwatch-{name}"
    assert f"ExecStart={program} " in text
    stub = tmp_path / "bin" / f"fleetwatch-{name}"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / f"fleetwatch-{name}.service"
    unit.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={stub} "))
    return unit


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [analyze(), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def security(unit: Path) -> str:
    done = subprocess.run(
        [analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def exposure(report: str) -> float:
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", report)
    assert match, report
    return float(match.group(1))


@pytest.mark.peer("systemd-analyze")
@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_unit_verifies_without_a_warning(tmp_path: Path, name: str) -> None:
    done = verify(staged_unit(tmp_path, name))
    # verify exits 0 on unknown keys and bad values too, and only warns: any output is a finding.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_unit_names_the_package_layout(name: str) -> None:
    component = COMPONENTS[name]
    service = unitfile.service(UNITS / f"fleetwatch-{name}.service")
    command = unitfile.last(service, "ExecStart").split()
    assert command[:2] == [f"{component.prefix}/bin/fleetwatch-{name}", "run"]
    assert command[command.index("--config") + 1] == component.config_path
    assert unitfile.last(service, "User") == unitfile.last(service, "Group") == component.package
    postinst = (REPO_ROOT / "deploy" / "package" / "debian" / name / "postinst").read_text()
    assert f"SERVICE_USER={component.package}\n" in postinst
    assert unitfile.last(service, "StateDirectory") == component.package
    assert unitfile.last(service, "StateDirectoryMode") == "0700"
    assert "DynamicUser" not in service


def test_the_agents_state_directory_is_its_default_data_dir() -> None:
    example = (REPO_ROOT / "agent" / "agent.example.toml").read_text()
    assert 'data_dir = "/var/lib/fleetwatch-agent"' in example
    state = unitfile.last(unitfile.service(UNITS / "fleetwatch-agent.service"), "StateDirectory")
    assert f"/var/lib/{state}" == "/var/lib/fleetwatch-agent"
    collector = unitfile.last(unitfile.service(UNITS / "fleetwatch-collector.service"), "ExecStart")
    assert "--data-dir /var/lib/fleetwatch-collector" in collector


def test_agent_memory_limit_leaves_headroom() -> None:
    service = unitfile.service(UNITS / "fleetwatch-agent.service")
    high = unitfile.size_bytes(unitfile.last(service, "MemoryHigh"))
    hard = unitfile.size_bytes(unitfile.last(service, "MemoryMax"))
    # About 50 MiB resident today (benchmarks/RESULTS.md): reclaim starts well above it, the hard stop above.
    assert high >= 80 * 1024**2 and hard >= high + 32 * 1024**2, (high, hard)


def test_agent_reads_clamav_log_through_a_group_and_sees_no_other_log() -> None:
    service = unitfile.service(UNITS / "fleetwatch-agent.service")
    assert service["SupplementaryGroups"] == ["adm"]  # Debian's clamav-daemon: clamav.log is clamav:adm 0640
    assert service["TemporaryFileSystem"] == ["/var/log:ro"]
    assert service["BindReadOnlyPaths"] == ["-/var/log/clamav"]
    example = (REPO_ROOT / "agent" / "agent.example.toml").read_text()
    assert 'clamd_log = "/var/log/clamav/clamav.log"' in example


@pytest.mark.parametrize(("name", "drop_in", "capability"), DROP_INS)
def test_commented_lines_in_the_unit_are_its_drop_in(name: str, drop_in: Path, capability: str) -> None:
    unit = (UNITS / f"fleetwatch-{name}.service").read_text()
    commented = re.findall(r"^#([A-Z][A-Za-z]+=.*)$", unit, re.M)
    lines = unitfile.parse(drop_in.read_text())["Service"]
    assert sorted(commented) == sorted(f"{key}={value}" for key, values in lines.items() for value in values)
    assert lines["AmbientCapabilities"] == lines["CapabilityBoundingSet"] == [capability]
    assert f"/usr/share/doc/fleetwatch-{name}/examples/{drop_in.name}" in unit
    assert f"deploy/systemd/{drop_in.name}" in COMPONENTS[name].doc_examples  # shipped there


@pytest.mark.peer("systemd-analyze")
def test_lan_discovery_drop_in_adds_raw_packets_and_nothing_else(tmp_path: Path) -> None:
    unit = staged_unit(tmp_path, "agent")
    without = security(unit)
    assert "✓ RestrictAddressFamilies=~AF_PACKET" in without, without
    assert not re.search(r"✗ CapabilityBoundingSet=~CAP_NET_\(BIND_SERVICE\|BROADCAST\|RAW\)", without)
    assert exposure(without) <= MAX_EXPOSURE

    (tmp_path / "fleetwatch-agent.service.d").mkdir()
    (tmp_path / "fleetwatch-agent.service.d" / DROP_IN.name).write_text(DROP_IN.read_text())
    done = verify(unit)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    with_drop_in = security(unit)
    assert "✗ RestrictAddressFamilies=~AF_PACKET" in with_drop_in, with_drop_in
    assert re.search(r"✗ CapabilityBoundingSet=~CAP_NET_\(BIND_SERVICE\|BROADCAST\|RAW\)", with_drop_in)
    changed = set(with_drop_in.splitlines()) - set(without.splitlines())
    assert all("AF_PACKET" in line or "CAP_NET" in line or "Ambient" in line or "Overall" in line
               for line in changed), changed  # fmt: skip


@pytest.mark.peer("systemd-analyze")
@pytest.mark.parametrize(("name", "drop_in", "capability"), DROP_INS)
def test_unit_with_its_drop_in_verifies(tmp_path: Path, name: str, drop_in: Path, capability: str) -> None:
    unit = staged_unit(tmp_path, name)
    (tmp_path / f"{unit.name}.d").mkdir()
    (tmp_path / f"{unit.name}.d" / drop_in.name).write_text(drop_in.read_text())
    done = verify(unit)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    # systemd's report groups CAP_NET_BIND_SERVICE and CAP_NET_RAW in one line: granted now, not before.
    networking = re.compile(r"^(✓|✗) CapabilityBoundingSet=~CAP_NET_\(BIND_SERVICE\|BROADCAST\|RAW\)", re.M)
    assert capability.removeprefix("CAP_NET_") in ("RAW", "BIND_SERVICE")
    granted = networking.search(security(unit))
    assert granted and granted.group(1) == "✗", security(unit)
    (tmp_path / f"{unit.name}.d" / drop_in.name).unlink()
    kept = networking.search(security(unit))
    assert kept and kept.group(1) == "✓"


@pytest.mark.peer("systemd-analyze")
def test_collector_exposure_stays_low(tmp_path: Path) -> None:
    assert exposure(security(staged_unit(tmp_path, "collector"))) <= MAX_EXPOSURE
