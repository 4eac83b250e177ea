"""Routers for the dashboard tests: the devices scripted agents poll, the collector's trap port, a trap.

The devices go through the collector's real `netdev` kind in the agents' reports; the trap goes
through its real trap receiver, sent by net-snmp's ``snmptrap`` from 127.0.0.1, the address the
agent reports for its router.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import toml_string

COMMUNITY = "fleetwatch-dashboards"
# Counters grow with the wall clock, so rates do not depend on how often the agents push.
IN_BITS_PER_SECOND = 10_000_000
WAN_SPEED = 100_000_000
COLD_START = "1.3.6.1.6.3.1.1.5.1"
_EPOCH = time.time()


@dataclass(frozen=True)
class Router:
    name: str
    reachable: bool


def routers_of(site: str) -> tuple[Router, ...]:
    """The devices of a site a scripted host polls: its router, answering, and a switch that is not."""
    return (Router(f"rt-{site}", True), Router(f"sw-{site}", False))


def add_network_devices(report: pb.Report, site: str, address: str) -> None:
    """The host's poll of its site's devices, as the agent's snmp probe reports it; the router's
    address is ``address`` (traps from there are the router's)."""
    elapsed = time.time() - _EPOCH
    for router in routers_of(site):
        device = report.network_devices.add(
            name=router.name,
            address=address if router.reachable else "",
            reachable=router.reachable,
            poll_duration_seconds=0.25 if router.reachable else 10.0,
        )
        if not router.reachable:
            device.error, device.error_class = "no answer within 10 s", pb.SNMP_ERROR_TIMEOUT
            continue
        device.sys_name, device.sys_object_id = f"{router.name}.example", "1.3.6.1.4.1.14988.1"
        device.uptime_seconds = 86400 + elapsed
        packets = int(elapsed * 1000)
        device.interfaces.add(
            index=1,
            name="ether1",
            alias="WAN VNPT FTTH",
            type=6,
            admin_up=True,
            oper_up=True,
            speed_bits_per_second=WAN_SPEED,
            in_octets=int(elapsed * IN_BITS_PER_SECOND / 8),
            out_octets=int(elapsed * IN_BITS_PER_SECOND / 32),
            in_unicast_packets=packets,
            out_unicast_packets=packets // 2,
            in_errors=packets // 100,
            in_discards=packets // 200,
            counter_bits=64,
            oper_status=1,
        )
        device.interfaces.add(
            index=2,
            name="ether2",
            alias="LAN",
            type=6,
            admin_up=True,
            oper_up=True,
            speed_bits_per_second=1_000_000_000,
            in_octets=int(elapsed * IN_BITS_PER_SECOND / 32),
            out_octets=int(elapsed * IN_BITS_PER_SECOND / 8),
            in_unicast_packets=packets // 2,
            out_unicast_packets=packets,
            counter_bits=64,
            oper_status=1,
        )
        # A port never used: enabled, no link.
        device.interfaces.add(index=3, name="ether3", type=6, admin_up=True, oper_up=False, oper_status=2)


def trap_config(directory: Path, port: int) -> Path:
    """A collector configuration whose trap receiver listens on 127.0.0.1:``port`` for COMMUNITY."""
    community = directory / "community"
    community.write_text(COMMUNITY + "\n")
    community.chmod(0o600)
    config = directory / "collector.toml"
    config.write_text(
        f'[snmp.credentials.routers]\nversion = "2c"\ncommunity_file = {toml_string(str(community))}\n'
        f'[snmp.traps]\nlisten = "127.0.0.1:{port}"\n'
    )
    return config


def send_cold_start(snmptrap: str, port: int) -> None:
    """A coldStart trap (SNMPv2c) to the collector, from 127.0.0.1."""
    subprocess.run(
        [snmptrap, "-v2c", "-c", COMMUNITY, "-m", "", f"127.0.0.1:{port}", "", COLD_START],
        check=True,
        capture_output=True,
        timeout=10,
    )


def values_by(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    """A query's result as {value of ``label``: value}."""
    return {series["metric"].get(label, ""): float(series["value"][1]) for series in result}
