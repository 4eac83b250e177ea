"""The SNMP benchmark's snmpd routers (namespace, links, traffic, snmpd.conf) and the bench's smoke runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import snmpdfleet
from fleetwatch_snmp.target import DEFAULT_EXCLUDED_TYPES
from tests.conftest import REPO_ROOT, require_program
from tests.integration.netns import require_netns

IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
EXPORTER = "/usr/bin/prometheus-snmp-exporter"


def test_a_router_has_lo_and_23_links_with_names_the_kernel_accepts() -> None:
    names = [link.name for link in snmpdfleet.LINKS]
    assert len(names) == len(set(names)) == 23 and snmpdfleet.INTERFACES == 24
    assert all(len(f"far-{name}") <= 15 for name in names)  # IFNAMSIZ - 1
    assert snmpdfleet.reported_interfaces(DEFAULT_EXCLUDED_TYPES) == 23  # lo is left out
    down = [link.name for link in snmpdfleet.LINKS if not link.carries]
    assert down == ["lan3", "lan7", "lan11", "lan14"]


def test_link_commands_take_down_what_is_down_and_traffic_goes_only_over_links_up() -> None:
    near, far = snmpdfleet.link_commands("ns-far")
    assert sum("type veth" in line and line.endswith("netns ns-far") for line in near) == 23
    assert "link set lan3 up" not in near and "link set far-lan3 up" not in far  # admin down
    assert "link set lan7 up" in near and "link set far-lan7 up" not in far  # no carrier
    assert "address add 198.18.1.1/24 dev wan0" in near and "address add 198.18.1.2/24 dev far-wan0" in far
    sent_to = [target.split(":")[0] for target in snmpdfleet.traffic(far=False)]
    received_at = [target.split(":")[0] for target in snmpdfleet.traffic(far=True)]
    assert "198.18.1.2" in sent_to and "198.18.1.1" in received_at  # wan0, both ways
    assert "198.18.2.2" not in sent_to  # wan1: the idle backup link
    for number, link in enumerate(snmpdfleet.LINKS, start=1):
        if not link.carries:
            assert snmpdfleet.address(number, True) not in sent_to, link.name


def test_snmpd_config_answers_each_community_on_the_ports_of_its_process(tmp_path: Path) -> None:
    config = snmpdfleet.snmpd_config({"rtr-001": 16101, "rtr-003": 16103}, "fleet-snmpd-0", tmp_path)
    lines = config.splitlines()
    assert "agentaddress udp:127.0.0.1:16101,udp:127.0.0.1:16103" in lines
    assert "rocommunity rtr-001 127.0.0.1" in lines and "rocommunity rtr-003 127.0.0.1" in lines
    assert "dontLogTCPWrappersConnects yes" in lines  # else one log line per request
    assert f"maxGetbulkResponses {snmpdfleet.MAX_GETBULK_VARBINDS}" in lines
    assert not any("0.0.0.0" in line or "udp6" in line for line in lines)


def snmp(
    prefix: list[str], command: str, community: str, address: str, *oids: str, options: str = ""
) -> list[str]:
    """net-snmp's ``command`` run in the namespace, numeric OIDs: its output lines (empty on a timeout)."""
    program = require_program(command, "apt-get install snmp")
    result = subprocess.run(
        [*prefix, program, "-v2c", "-c", community, "-m", "", "-On", "-t", "1", "-r", "1", *options.split(),
         address, *oids],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.stdout.splitlines()


def values(lines: list[str]) -> list[str]:
    return [line.split(" = ", 1)[1] for line in lines]


def namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


@pytest.mark.peer("snmpd")
def test_snmpd_routers_in_their_namespace_answer_whole_tables_with_moving_counters(tmp_path: Path) -> None:
    require_netns()
    require_program(snmpdfleet.SNMPD, "apt-get install snmpd")
    name = f"fwbench-t{time.monotonic_ns() % 10**6}"
    with snmpdfleet.network(name) as lab, snmpdfleet.running_fleet(tmp_path, 3, 2, lab.prefix()) as fleet:
        assert name in namespaces() and f"{name}-far" in namespaces()
        prefix, first = lab.prefix(), fleet.address("rtr-001")
        walk = values(snmp(prefix, "snmpbulkwalk", "rtr-001", first, IF_DESCR))
        assert walk == ['STRING: "lo"', *(f'STRING: "{link.name}"' for link in snmpdfleet.LINKS)]
        types = values(snmp(prefix, "snmpbulkwalk", "rtr-001", first, IF_TYPE))
        assert types == ["INTEGER: 24"] + ["INTEGER: 6"] * 23
        admin = values(snmp(prefix, "snmpbulkwalk", "rtr-001", first, IF_ADMIN_STATUS))
        oper = values(snmp(prefix, "snmpbulkwalk", "rtr-001", first, IF_OPER_STATUS))
        names = ("lo", *(link.name for link in snmpdfleet.LINKS))
        states = {name: f"{a[-1]}{o[-1]}" for name, a, o in zip(names, admin, oper, strict=True)}
        assert states["wan0"] == "11" and states["wan1"] == "11"  # up (and up: 1)
        assert states["lan3"] == "22" and states["lan7"] == "12"  # admin down; up without carrier
        # One process answers for rtr-001 and rtr-003, the other for rtr-002, each with its sysName.
        assert values(snmp(prefix, "snmpget", "rtr-003", first, SYS_NAME)) == ['STRING: "fleet-snmpd-0"']
        assert values(snmp(prefix, "snmpget", "rtr-002", fleet.address("rtr-002"), SYS_NAME)) == [
            'STRING: "fleet-snmpd-1"'
        ]
        assert snmp(prefix, "snmpget", "rtr-002", first, SYS_NAME) == []  # not a community there
        # A GETBULK of 20 columns x 25 rows is answered whole (snmpd's default stops at 100 variables).
        columns = [f"{IF_DESCR[:-2]}.{n}" for n in range(1, 21)]
        assert len(snmp(prefix, "snmpbulkget", "rtr-001", first, *columns, options="-Cn0 -Cr25")) == 500

        def octets() -> list[int]:  # wan0's ifHCInOctets and ifHCOutOctets
            lines = snmp(prefix, "snmpget", "rtr-001", first, f"{IF_HC_IN_OCTETS}.2", f"{IF_HC_OUT_OCTETS}.2")
            return [int(value.split()[1]) for value in values(lines)]

        # The senders move wan0's counters both ways (snmpd re-reads them every few seconds).
        before, deadline = octets(), time.monotonic() + 20
        after = octets()
        while not (after[0] > before[0] and after[1] > before[1]):
            assert time.monotonic() < deadline, f"wan0's octet counters did not move: {before} then {after}"
            time.sleep(1)
            after = octets()
    assert all(process.poll() is not None for process in fleet.processes)
    assert all(sender.poll() is not None for sender in lab.senders)
    assert name not in namespaces()


def quick_run(tmp_path: Path, sim: str) -> subprocess.CompletedProcess[str]:
    require_program(EXPORTER, "apt-get install prometheus-snmp-exporter")
    results = tmp_path / "RESULTS.md"
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_snmp.py"), "--sim", sim, "--quick"]
    run = subprocess.run(
        [*command, "--concurrency", "4", "--results", str(results)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert not results.exists()  # a smoke run records nothing
    measured = [line for line in run.stdout.splitlines() if " c=4 " in line and "warm-up" not in line]
    assert len(measured) == 2 and all("complete 10/10," in line for line in measured), run.stdout[-3000:]
    assert "| c=4: routers read entirely, worst cycle | 10/10 | 10/10 |" in run.stdout
    return run


@pytest.mark.peer("snmpd")
@pytest.mark.peer("prometheus-snmp-exporter")
def test_the_bench_quick_run_with_snmpd_reads_every_router_and_deletes_its_namespace(tmp_path: Path) -> None:
    require_netns()
    require_program(snmpdfleet.SNMPD, "apt-get install snmpd")
    before = {name for name in namespaces() if name.startswith("fwbench-")}
    run = quick_run(tmp_path, "snmpd")
    assert "485 varbinds" in run.stdout and "fleetwatch reports 23 interfaces" in run.stdout
    assert "net-snmp snmpd" in run.stdout
    assert {name for name in namespaces() if name.startswith("fwbench-")} <= before


@pytest.mark.peer("snmpsim")
@pytest.mark.peer("prometheus-snmp-exporter")
def test_the_bench_quick_run_with_snmpsim_still_reads_every_router(tmp_path: Path) -> None:
    if not (Path(sys.executable).parent / "snmpsim-command-responder").exists():
        require_program("snmpsim-command-responder", "pip install snmpsim snmpsim-data")
    run = quick_run(tmp_path, "snmpsim")
    assert "485 varbinds" in run.stdout and "fleetwatch reports 17 interfaces" in run.stdout
