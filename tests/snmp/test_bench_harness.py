"""The SNMP benchmark's harness: router recordings snmpsim serves and net-snmp reads back, the snmp.yml."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks import snmpfleet
from tests.conftest import require_program

IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS_1 = "1.3.6.1.2.1.31.1.1.1.6.1"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
EXPORTER = "/usr/bin/prometheus-snmp-exporter"


def oid_of(line: str) -> tuple[int, ...]:
    return tuple(int(part) for part in line.split("|", 1)[0].split("."))


def test_a_recording_is_sorted_and_has_every_column_for_24_interfaces() -> None:
    lines = snmpfleet.recording(7)
    assert [oid_of(line) for line in lines] == sorted(oid_of(line) for line in lines)
    assert len({oid_of(line) for line in lines}) == len(lines)
    oids = [oid_of(line) for line in lines]
    for column in (*snmpfleet.POLLED_COLUMNS, f"{snmpfleet.IF_ENTRY}.1"):
        prefix = tuple(int(part) for part in column.split("."))
        rows = [oid[-1] for oid in oids if oid[:-1] == prefix]
        assert rows == list(range(1, snmpfleet.INTERFACES + 1)) and snmpfleet.INTERFACES == 24, column
    for scalar in snmpfleet.POLLED_SCALARS:
        assert any(line.startswith(scalar + "|") for line in lines), scalar


def test_counters_fit_their_types_and_move_only_when_asked() -> None:
    for moving in (True, False):
        for number in range(1, 201, 5):
            for line in snmpfleet.recording(number, moving):
                _oid, tag, value = line.split("|", 2)
                if tag in ("65", "66", "67"):
                    assert 0 <= int(value) < 2**32, line
                elif tag == "70":
                    assert 0 <= int(value) < 2**64, line
                elif ":numeric" in tag:
                    assert moving, line
                    initial = int(re.search(r"initial=(\d+)", value).group(1))  # type: ignore[union-attr]
                    assert initial < (2**32 if tag.startswith(("65", "67")) else 2**64), line


def test_routers_differ_and_each_recording_is_reproducible() -> None:
    assert snmpfleet.recording(3) == snmpfleet.recording(3)
    assert snmpfleet.recording(3) != snmpfleet.recording(4)
    assert snmpfleet.device_name(3) == "rtr-003"
    # Loopback, Null0, two tunnels and three VLAN interfaces are left out by the poller's default filter.
    assert snmpfleet.reported_interfaces(frozenset({24, 53, 131, 135, 1})) == 17


def snmp(command: str, community: str, address: str, *oids: str) -> list[str]:
    """net-snmp's ``command`` (snmpwalk, snmpget) with numeric OIDs: its output lines."""
    program = require_program(command, "apt-get install snmp")
    result = subprocess.run(
        [program, "-v2c", "-c", community, "-m", "", "-On", "-t", "5", "-r", "1", address, *oids],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()


def value_of(line: str) -> str:
    return line.split(" = ", 1)[1]


@pytest.mark.peer("snmpsim")
def test_snmpsim_serves_the_recordings_and_snmpwalk_reads_24_interfaces(tmp_path: Path) -> None:
    require_program("snmpwalk", "apt-get install snmp")
    if not snmpfleet.SNMPSIM.exists():
        require_program("snmpsim-command-responder", "pip install snmpsim snmpsim-data")
    with snmpfleet.running_fleet(tmp_path, devices=2, processes=2) as fleet:
        assert fleet.ports["rtr-001"] != fleet.ports["rtr-002"]
        for name in ("rtr-001", "rtr-002"):
            (sys_name,) = snmp("snmpget", name, fleet.address(name), SYS_NAME)
            assert value_of(sys_name) == f'STRING: "{name}.branch.example.net"'
        indexes = snmp("snmpwalk", "rtr-001", fleet.address("rtr-001"), IF_INDEX)
        assert [value_of(line) for line in indexes] == [f"INTEGER: {n}" for n in range(1, 25)]
        names = [value_of(line) for line in snmp("snmpwalk", "rtr-001", fleet.address("rtr-001"), IF_NAME)]
        assert len(names) == 24
        assert names[:2] == ['STRING: "Gi0/0/0"', 'STRING: "Gi0/0/1"'] and 'STRING: "Po1"' in names
        # A router's community selects its recording only in its own process.
        assert not snmpfleet.answers(fleet.ports["rtr-002"], "rtr-001")
        (before,) = snmp("snmpget", "rtr-001", fleet.address("rtr-001"), IF_HC_IN_OCTETS_1)
        time.sleep(1.1)
        (after,) = snmp("snmpget", "rtr-001", fleet.address("rtr-001"), IF_HC_IN_OCTETS_1)
        assert value_of(before).startswith("Counter64: ")
        assert int(value_of(after).split()[1]) > int(value_of(before).split()[1])
    assert all(process.poll() is not None for process in fleet.processes)


@pytest.mark.peer("prometheus-snmp-exporter")
def test_the_exporter_accepts_the_generated_snmp_yml(tmp_path: Path) -> None:
    exporter = require_program(EXPORTER, "apt-get install prometheus-snmp-exporter")
    config = tmp_path / "snmp.yml"
    config.write_text(snmpfleet.exporter_config(["rtr-001", "rtr-002"]))
    command = [exporter, f"--config.file={config}", "--dry-run"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "community: rtr-002" in config.read_text()
    config.write_text(snmpfleet.exporter_config(["rtr-001"]).replace("community:", "communty:"))
    refused = subprocess.run(command, check=False, capture_output=True, timeout=60)
    assert refused.returncode != 0
