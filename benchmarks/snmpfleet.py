"""Simulated routers for SNMP benchmarks and tests: `.snmprec` recordings, snmpsim processes, an snmp.yml.

A router here has the system group, ifNumber and IF-MIB's ifTable and ifXTable (64-bit counters)
of 24 interfaces shaped like a branch router's (WAN, LAN, 10G uplinks, a switch module, a LAG, loopback,
Null0, tunnels, VLAN interfaces, a serial line). With ``moving=True`` the octet and unicast-packet
counters and sysUpTime advance with time through snmpsim's ``numeric`` variation (the 32-bit ones
wrap at 2**32); otherwise every value is static. ``running_fleet`` serves the recordings from several
snmpsim processes, one UDP port each on 127.0.0.1; the community of a router is its name.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SNMPSIM = Path(sys.executable).parent / "snmpsim-command-responder"
SYSTEM = "1.3.6.1.2.1.1"
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
IF_NUMBER = "1.3.6.1.2.1.2.1.0"
# The scalars and columns fleetwatch's poller reads (fleetwatch_snmp.oids), numeric.
POLLED_SCALARS = (f"{SYSTEM}.1.0", f"{SYSTEM}.2.0", f"{SYSTEM}.3.0", f"{SYSTEM}.5.0", IF_NUMBER)
POLLED_COLUMNS = (
    *(f"{IF_ENTRY}.{n}" for n in (2, 3, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20)),
    *(f"{IFX_ENTRY}.{n}" for n in (1, 6, 7, 10, 11, 15, 18)),
)
# The interface columns as snmp_exporter metrics: (name, OID, type), ifDescr, ifName and ifAlias being labels.
INTERFACE_METRICS = (
    *((name, f"{IF_ENTRY}.{n}", kind) for name, n, kind in (
        ("ifType", 3, "gauge"), ("ifSpeed", 5, "gauge"), ("ifAdminStatus", 7, "gauge"),
        ("ifOperStatus", 8, "gauge"), ("ifInOctets", 10, "counter"), ("ifInUcastPkts", 11, "counter"),
        ("ifInDiscards", 13, "counter"), ("ifInErrors", 14, "counter"), ("ifOutOctets", 16, "counter"),
        ("ifOutUcastPkts", 17, "counter"), ("ifOutDiscards", 19, "counter"), ("ifOutErrors", 20, "counter"),
    )),
    *((name, f"{IFX_ENTRY}.{n}", kind) for name, n, kind in (
        ("ifHCInOctets", 6, "counter"), ("ifHCInUcastPkts", 7, "counter"), ("ifHCOutOctets", 10, "counter"),
        ("ifHCOutUcastPkts", 11, "counter"), ("ifHighSpeed", 15, "gauge"),
    )),
)  # fmt: skip
START_TIMEOUT_SECONDS = 60.0
GBIT = 1_000_000_000
WRAP32 = 2**32  # Counter32, Gauge32 and TimeTicks values are below it


@dataclass(frozen=True)
class Port:
    """One interface of the router template: name, IANAifType, speed (bit/s), alias, states."""

    name: str
    if_type: int
    speed: int
    alias: str = ""
    admin_up: bool = True
    oper_up: bool = True
    mac: bool = True


def _template() -> tuple[Port, ...]:
    ports = [
        Port("GigabitEthernet0/0/0", 6, GBIT, "WAN: ISP-A circuit"),
        Port("GigabitEthernet0/0/1", 6, GBIT, "WAN: ISP-B backup"),
        Port("GigabitEthernet0/0/2", 6, GBIT, "LAN: core switch uplink"),
        Port("GigabitEthernet0/0/3", 6, GBIT, admin_up=False, oper_up=False),
        Port("TenGigabitEthernet0/1/0", 6, 10 * GBIT, "DC: dist-sw1 Te1/1/1"),
        Port("TenGigabitEthernet0/1/1", 6, 10 * GBIT, "DC: dist-sw2 Te1/1/1"),
    ]
    for n in range(8):  # a switch module: access points, printers, some ports unplugged
        ports.append(
            Port(f"GigabitEthernet0/2/{n}", 6, GBIT, f"access: floor {n // 2 + 1}", oper_up=n % 3 != 2)
        )
    ports += [
        Port("GigabitEthernet0", 6, GBIT, "out-of-band management"),
        Port("Port-channel1", 161, 20 * GBIT, "LAG to dist-sw1/2"),
        Port("Loopback0", 24, 8 * GBIT, "router id", mac=False),
        Port("Null0", 1, 10 * GBIT, mac=False),
        Port("Tunnel0", 131, 100_000, "DMVPN hub", mac=False),
        Port("Tunnel1", 131, 100_000, "IPsec to HQ", mac=False),
        Port("Vlan1", 53, GBIT, admin_up=False, oper_up=False),
        Port("Vlan10", 53, GBIT, "users"),
        Port("Vlan20", 53, GBIT, "voice"),
        Port("Serial0/3/0", 22, 1_544_000, "MPLS T1 backup", mac=False),
    ]
    return tuple(ports)


TEMPLATE = _template()
INTERFACES = len(TEMPLATE)  # 24


def varbinds_per_device(interfaces: int) -> int:
    """The variables one complete poll of a router with ``interfaces`` rows reads (scalars and columns)."""
    return len(POLLED_SCALARS) + len(POLLED_COLUMNS) * interfaces


def reported_interfaces(excluded_types: frozenset[int]) -> int:
    """How many of a router's interfaces a poller reports when it leaves these IANAifTypes out."""
    return sum(1 for port in TEMPLATE if port.if_type not in excluded_types)


def device_name(number: int) -> str:
    """The name (and community) of router ``number`` (1-based): ``rtr-001``."""
    return f"rtr-{number:03d}"


def _counter(moving: bool, tag: int, rate: float, initial: int) -> str:
    """The tag and value of a counter line: static, or moving at ``rate`` per second from ``initial``."""
    if not moving or rate <= 0:
        return f"{tag}|{initial % WRAP32 if tag == 65 else initial}"
    if tag == 65:
        return f"65:numeric|rate={rate:.3f},initial={initial % WRAP32},max={WRAP32},wrap=1"
    return f"70:numeric|rate={rate:.3f},initial={initial}"


def recording(number: int, moving: bool = True) -> list[str]:
    """The `.snmprec` lines of router ``number`` (sorted by OID), the same for the same number."""
    rng = random.Random(number)
    name = device_name(number)
    uptime = rng.randrange(3 * 8_640_000, 400 * 8_640_000)  # 3 to 400 days, in 1/100 s
    descr = (
        "Cisco IOS XE Software, Version 17.09.04a\r\nCisco IOS Software [Cupertino], ISR Software "
        "(X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 17.9.4a, RELEASE SOFTWARE (fc3)\r\n"
        "Technical Support: http://www.cisco.com/techsupport\r\n"
        "Copyright (c) 1986-2023 by Cisco Systems, Inc."
    )
    lines = [
        f"{SYSTEM}.1.0|4x|{descr.encode().hex()}",
        f"{SYSTEM}.2.0|6|1.3.6.1.4.1.9.1.2068",
        f"{SYSTEM}.3.0|" + (f"67:numeric|rate=100,initial={uptime}" if moving else f"67|{uptime}"),
        f"{SYSTEM}.4.0|4|noc@example.net",
        f"{SYSTEM}.5.0|4|{name}.branch.example.net",
        f"{SYSTEM}.6.0|4|branch {number:03d}, comms room, rack 1",
        f"{SYSTEM}.7.0|2|78",
        f"{IF_NUMBER}|2|{INTERFACES}",
    ]
    for index, port in enumerate(TEMPLATE, start=1):
        lines += _interface_lines(rng, number, index, port, uptime, moving)
    return sorted(lines, key=lambda line: tuple(int(part) for part in line.split("|", 1)[0].split(".")))


def _interface_lines(
    rng: random.Random, number: int, index: int, port: Port, uptime: int, moving: bool
) -> list[str]:
    up = port.admin_up and port.oper_up
    carries = up and port.if_type not in (1, 24)  # Null0 and the loopback count nothing
    load = rng.uniform(0.002, 0.3) if carries else 0.0  # share of the line rate, each direction
    in_bytes, out_bytes = port.speed / 8 * load, port.speed / 8 * load * rng.uniform(0.2, 1.5)
    in_packets, out_packets = in_bytes / rng.uniform(300, 1200), out_bytes / rng.uniform(300, 1200)
    seconds = uptime / 100
    counts = [
        int(rate * seconds * rng.uniform(0.5, 1.0)) for rate in (in_bytes, in_packets, out_bytes, out_packets)
    ]
    mac = f"4x|00a3d1{number // 256:02x}{number % 256:02x}{index:02x}" if port.mac else "4|"
    high_speed = port.speed // 1_000_000
    cells: dict[int, str] = {
        1: f"2|{index}", 2: f"4|{port.name}", 3: f"2|{port.if_type}", 4: "2|1500",
        5: f"66|{min(port.speed, WRAP32 - 1)}", 6: mac, 7: f"2|{1 if port.admin_up else 2}",
        8: f"2|{1 if port.oper_up else 2}", 9: f"67|{rng.randrange(0, uptime)}",
        10: _counter(moving, 65, in_bytes, counts[0]), 11: _counter(moving, 65, in_packets, counts[1]),
        12: f"65|{counts[1] // 50 % WRAP32}", 13: f"65|{rng.randrange(0, 500) if up else 0}",
        14: f"65|{rng.randrange(0, 40) if up else 0}", 15: "65|0",
        16: _counter(moving, 65, out_bytes, counts[2]), 17: _counter(moving, 65, out_packets, counts[3]),
        18: f"65|{counts[3] // 60 % WRAP32}", 19: f"65|{rng.randrange(0, 200) if up else 0}", 20: "65|0",
        21: "66|0", 22: "6|0.0",
    }  # fmt: skip
    x_cells: dict[int, str] = {
        1: f"4|{_short(port.name)}", 2: f"65|{counts[1] // 50 % WRAP32}",
        3: f"65|{counts[1] // 200 % WRAP32}", 4: f"65|{counts[3] // 60 % WRAP32}",
        5: f"65|{counts[3] // 300 % WRAP32}",
        6: _counter(moving, 70, in_bytes, counts[0]), 7: _counter(moving, 70, in_packets, counts[1]),
        8: f"70|{counts[1] // 50}", 9: f"70|{counts[1] // 200}",
        10: _counter(moving, 70, out_bytes, counts[2]), 11: _counter(moving, 70, out_packets, counts[3]),
        12: f"70|{counts[3] // 60}", 13: f"70|{counts[3] // 300}", 14: "2|1", 15: f"66|{high_speed}",
        16: "2|2", 17: f"2|{1 if port.mac else 2}", 18: f"4|{port.alias}", 19: "67|0",
    }  # fmt: skip
    return [f"{IF_ENTRY}.{column}.{index}|{cell}" for column, cell in cells.items()] + [
        f"{IFX_ENTRY}.{column}.{index}|{cell}" for column, cell in x_cells.items()
    ]


def _short(name: str) -> str:
    """ifName as IOS writes it: Gi0/0/0, Te0/1/0, Po1, Lo0, Nu0, Tu0, Vl10, Se0/3/0."""
    for long, short in (("TenGigabitEthernet", "Te"), ("GigabitEthernet", "Gi"), ("Port-channel", "Po")):
        if name.startswith(long):
            return short + name[len(long) :]
    return name[:2] + name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def write_recordings(data_dir: Path, numbers: Sequence[int], moving: bool = True) -> list[str]:
    """``<name>.snmprec`` under ``data_dir`` for each router number; their names (communities)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for number in numbers:
        name = device_name(number)
        (data_dir / f"{name}.snmprec").write_text("\n".join(recording(number, moving)) + "\n")
        names.append(name)
    return names


def snmp_get_request(community: str, oid: str = f"{SYSTEM}.3.0") -> bytes:
    """A v2c GET of one OID, BER-encoded by hand (enough to see whether an agent answers)."""

    def tlv(tag: int, payload: bytes) -> bytes:
        size = len(payload)
        if size < 0x80:
            return bytes((tag, size)) + payload
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        return bytes((tag, 0x80 | len(length))) + length + payload

    arcs = [int(part) for part in oid.split(".")]
    encoded = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        encoded += bytes(reversed(chunk))
    varbind = tlv(0x30, tlv(0x06, bytes(encoded)) + b"\x05\x00")
    pdu = tlv(0xA0, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + tlv(0x30, varbind))
    return tlv(0x30, b"\x02\x01\x01" + tlv(0x04, community.encode()) + pdu)


def answers(port: int, community: str, timeout: float = 0.5) -> bool:
    """Whether an agent on 127.0.0.1:port answers a v2c GET with ``community``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(snmp_get_request(community), ("127.0.0.1", port))
        try:
            return bool(sock.recv(65535))
        except OSError:
            return False


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SimFleet:
    """Running snmpsim processes and where each router answers (name -> UDP port on 127.0.0.1)."""

    processes: list[subprocess.Popen[bytes]]
    ports: dict[str, int]

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


def _stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_fleet(
    workdir: Path, devices: int, processes: int, moving: bool = True, snmpsim: Path = SNMPSIM
) -> Iterator[SimFleet]:
    """Routers 1..``devices`` spread round-robin over ``processes`` snmpsim processes; stopped at the end."""
    if not 1 <= processes <= devices:
        raise ValueError(f"processes: {processes} is not in 1..{devices}")
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    started: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for k in range(processes):
            home = workdir / f"snmpsim-{k}"
            (home / "cache").mkdir(parents=True, exist_ok=True)
            names = write_recordings(home / "data", range(k + 1, devices + 1, processes), moving)
            port = free_udp_port()
            command = [
                str(snmpsim), f"--data-dir={home / 'data'}", f"--cache-dir={home / 'cache'}",
                f"--agent-udpv4-endpoint=127.0.0.1:{port}", "--log-level=error",
            ]  # fmt: skip
            with (home / "snmpsim.log").open("wb") as log:
                started.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
            ports.update(dict.fromkeys(names, port))
        for k, process in enumerate(started):
            _wait_ready(process, ports, workdir / f"snmpsim-{k}")
        yield SimFleet(started, ports)
    finally:
        for process in started:
            _stop(process)
        for k in range(processes):
            shutil.rmtree(workdir / f"snmpsim-{k}" / "cache", ignore_errors=True)


def _wait_ready(process: subprocess.Popen[bytes], ports: dict[str, int], home: Path) -> None:
    """Until the process answers for the first of its recordings (it indexes them all at start)."""
    first = sorted(path.stem for path in (home / "data").glob("*.snmprec"))[0]
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not answers(ports[first], first):
        if process.poll() is not None or time.monotonic() > deadline:
            log = (home / "snmpsim.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"snmpsim did not answer on 127.0.0.1:{ports[first]}:\n{log}")


def exporter_config(
    names: Sequence[str], module: str = "if_mib_numeric", timeout_seconds: float = 2.0
) -> str:
    """An snmp.yml for prometheus-snmp-exporter 0.21 reading what fleetwatch's poller reads.

    0.21 keeps one ``auth`` per module, so each router gets its module ``<module>_<name>`` carrying
    its community; the modules differ in nothing else. Scalars are a GET, each column one walk;
    every interface metric is labelled ifIndex, ifName, ifDescr, ifAlias, as the stock if_mib does.
    """
    lookups = "".join(
        f"    - {{labels: [ifIndex], labelname: {label}, oid: {oid}, type: DisplayString}}\n"
        for label, oid in (
            ("ifAlias", f"{IFX_ENTRY}.18"),
            ("ifDescr", f"{IF_ENTRY}.2"),
            ("ifName", f"{IFX_ENTRY}.1"),
        )
    )
    metrics = [
        f"  - {{name: {name}, oid: {SYSTEM}.{n}, type: {kind}, help: {name}}}\n"
        for name, n, kind in (
            ("sysDescr", 1, "DisplayString"), ("sysObjectID", 2, "DisplayString"),
            ("sysUpTime", 3, "gauge"), ("sysName", 5, "DisplayString"),
        )
    ]  # fmt: skip
    metrics.append(f"  - {{name: ifNumber, oid: {IF_NUMBER}, type: gauge, help: ifNumber}}\n")
    for name, oid, kind in INTERFACE_METRICS:
        metrics.append(
            f"  - name: {name}\n    oid: {oid}\n    type: {kind}\n    help: {name}\n"
            f"    indexes: [{{labelname: ifIndex, type: gauge}}]\n    lookups:\n{lookups}"
        )
    body = (
        "  walk:\n" + "".join(f"  - {column}\n" for column in POLLED_COLUMNS)
        + "  get:\n" + "".join(f"  - {scalar}\n" for scalar in POLLED_SCALARS)
        + "  metrics:\n" + "".join(metrics)
        + f"  version: 2\n  max_repetitions: 25\n  retries: 1\n  timeout: {timeout_seconds:g}s\n"
    )  # fmt: skip
    modules = "".join(f"{module}_{name}:\n{body}  auth:\n    community: {name}\n" for name in names)
    return "# One module per router: snmp_exporter 0.21 has one community per module.\n" + modules
