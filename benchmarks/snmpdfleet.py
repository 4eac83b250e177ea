"""Simulated routers served by net-snmp snmpd in a network namespace of their own, with moving counters.

``network(name)`` makes two namespaces: ``name``, the routers' side, whose interfaces are ``lo`` and
23 veth ends (``wan0``, ``uplink0``, ``lan0``...; IANAifType 24 and 6 in snmpd's ifTable), and
``name-far``, holding the other ends. Link ``i`` is 198.18.i.0/24 (RFC 2544's benchmarking range,
inside the namespaces only): .1 on the routers' side, .2 on the far side. Some links are down as on a
real router (admin down: both ends; oper down: the far end down). Two small UDP senders, one per
side, make the octet and packet counters move in both directions. ``close`` (the context manager's
end) kills whatever still runs in the namespaces and deletes them.

``running_fleet`` runs snmpd processes (in the current namespace, or through ``ip netns exec``),
each answering for several routers on one UDP port per router on 127.0.0.1; a router's community is
its name. Every router of a namespace shows the same interfaces; sysName tells the processes apart.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SNMPD = "/usr/sbin/snmpd"
# The MIB modules snmpd loads (-I): rocommunity is vacm_conf's; nothing else is initialised.
MODULES = ("system_mib", "vacm_conf", "ifTable", "ifXTable")
# snmpd's default, 100 variables per GETBULK answer, would cut the pollers' requests short (fleetwatch
# asks up to 20 columns x 25 rows): this lets every request the pollers make be answered whole.
MAX_GETBULK_VARBINDS = 1000
START_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 60.0
SUBNET = "198.18.{}.{}"
LOOPBACK_TYPE, ETHERNET_TYPE = 24, 6  # IANAifType of lo and of a veth in snmpd's ifTable


@dataclass(frozen=True)
class Link:
    """One veth of the routers' side: name, states, traffic in each direction (packets/s) and packet size."""

    name: str
    in_rate: float = 0.0
    out_rate: float = 0.0
    size: int = 512
    admin_up: bool = True
    oper_up: bool = True  # False: the far end is down (no carrier)

    @property
    def carries(self) -> bool:
        return self.admin_up and self.oper_up


def _links() -> tuple[Link, ...]:
    links = [
        Link("wan0", 40, 25, 1200), Link("wan1"),  # the backup WAN link: up, idle
        Link("uplink0", 30, 30, 1400), Link("uplink1", 10, 10, 1400),
    ]  # fmt: skip
    for n in range(16):
        rng = random.Random(n)
        links.append(
            Link(
                f"lan{n}", rng.uniform(2, 12), rng.uniform(2, 12), rng.randrange(80, 1400),
                admin_up=n != 3, oper_up=n not in (7, 11, 14),
            )
        )  # fmt: skip
    links += [Link("mgmt0", 1, 1, 120), Link("dmz0", 5, 8, 700), Link("voice0", 20, 20, 200)]
    return tuple(links)


LINKS = _links()
IF_TYPES = (LOOPBACK_TYPE, *(ETHERNET_TYPE for _ in LINKS))
INTERFACES = len(IF_TYPES)  # 24, with lo


def reported_interfaces(excluded_types: frozenset[int]) -> int:
    """How many of a router's interfaces a poller reports when it leaves these IANAifTypes out."""
    return sum(1 for if_type in IF_TYPES if if_type not in excluded_types)


def device_name(number: int) -> str:
    """The name (and community) of router ``number`` (1-based): ``rtr-001``, as snmpfleet names them."""
    return f"rtr-{number:03d}"


def address(link: int, far: bool) -> str:
    """The address of link ``link`` (1-based) on the routers' side or on the far side."""
    return SUBNET.format(link, 2 if far else 1)


def link_commands(far_namespace: str) -> tuple[list[str], list[str]]:
    """The ``ip -batch`` lines that build the links: (in the routers' namespace, in the far one)."""
    near, far = ["link set lo up"], ["link set lo up"]
    for number, link in enumerate(LINKS, start=1):
        peer = f"far-{link.name}"
        near.append(f"link add {link.name} type veth peer name {peer} netns {far_namespace}")
        near.append(f"address add {address(number, False)}/24 dev {link.name}")
        far.append(f"address add {address(number, True)}/24 dev {peer}")
        if link.admin_up:
            near.append(f"link set {link.name} up")
            if link.oper_up:
                far.append(f"link set {peer} up")
    return near, far


def traffic(far: bool) -> list[str]:
    """The sender's arguments on one side: ``address:packets-per-second:size`` of each busy link."""
    return [
        f"{address(number, not far)}:{link.in_rate if far else link.out_rate:g}:{link.size}"
        for number, link in enumerate(LINKS, start=1)
        if link.carries and (link.in_rate if far else link.out_rate) > 0
    ]


def send(targets: Sequence[str], tick: float = 0.1, port: int = 9) -> None:
    """Send UDP datagrams to each ``address:rate:size`` at its rate, until killed (the discard port)."""
    parsed = [(host, float(rate), int(size)) for host, rate, size in (t.split(":") for t in targets)]
    owed = [0.0] * len(parsed)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while True:
            for i, (host, rate, size) in enumerate(parsed):
                owed[i] += rate * tick
                while owed[i] >= 1:
                    owed[i] -= 1
                    with contextlib.suppress(OSError):  # a link going down, a full queue
                        sock.sendto(bytes(size), (host, port))
            time.sleep(tick)


def describe(processes: int, moving: bool) -> str:
    """What serves the routers, for a benchmark's results."""
    version = subprocess.run([SNMPD, "-v"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"version:\s*(\S+)", version)
    traffic = (
        f"counters moved by UDP senders, {sum(link.in_rate for link in LINKS):.0f} packets/s in and "
        f"{sum(link.out_rate for link in LINKS):.0f} out over the links"
    )
    down = sum(not link.carries for link in LINKS)
    return (
        f"{processes} net-snmp snmpd {found.group(1) if found else ''} processes in a network namespace "
        f"of their own (each router shows the namespace's interfaces: lo and {len(LINKS)} veth, {down} of "
        f"them down; {traffic if moving else 'static counters'}; GETBULK answers of up to "
        f"{MAX_GETBULK_VARBINDS} varbinds)"
    )


def _run(command: Sequence[str], stdin: str | None = None) -> None:
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for its parent to reap it, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _kill(pid: int, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it still runs after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """A child process ended (SIGTERM, SIGKILL after 5 s) and reaped."""
    _kill(process.pid)
    process.wait()


def delete_namespace(name: str) -> None:
    """End what still runs in namespace ``name`` (started there by this module's users), then delete it."""
    found = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
    for pid in found.stdout.split():
        _kill(int(pid))
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@dataclass
class Lab:
    """The routers' namespace, the far one, and the traffic senders (one in each)."""

    name: str
    far: str
    senders: list[subprocess.Popen[bytes]]

    def prefix(self) -> list[str]:
        """The command prefix that runs a program in the routers' namespace."""
        return ["ip", "netns", "exec", self.name]


@contextlib.contextmanager
def network(name: str, moving: bool = True) -> Iterator[Lab]:
    """The two namespaces and their links, the senders running when ``moving``; all deleted at the end."""
    far = f"{name}-far"
    made: list[str] = []
    lab = Lab(name, far, [])
    try:
        for namespace in (name, far):
            _run(["ip", "netns", "add", namespace])
            made.append(namespace)
        near_lines, far_lines = link_commands(far)
        _run(["ip", "-n", name, "-batch", "-"], "\n".join(near_lines) + "\n")
        _run(["ip", "-n", far, "-batch", "-"], "\n".join(far_lines) + "\n")
        if moving:
            for namespace, is_far in ((name, False), (far, True)):
                command = [sys.executable, __file__, "send", *traffic(is_far)]
                lab.senders.append(subprocess.Popen(["ip", "netns", "exec", namespace, *command]))
        yield lab
    finally:
        for sender in lab.senders:
            _stop(sender)
        for namespace in reversed(made):
            delete_namespace(namespace)


def snmpd_config(ports: dict[str, int], sys_name: str, persistent_dir: Path) -> str:
    """The snmpd.conf of one process answering for ``ports`` (router name -> UDP port on 127.0.0.1)."""
    lines = [
        "[snmp] persistentDir " + str(persistent_dir),
        "agentaddress " + ",".join(f"udp:127.0.0.1:{port}" for port in sorted(ports.values())),
        f"sysName {sys_name}",
        "sysContact noc@example.net",
        "sysLocation simulated branch routers",
        "dontLogTCPWrappersConnects yes",
        f"maxGetbulkResponses {MAX_GETBULK_VARBINDS}",
        *(f"rocommunity {name} 127.0.0.1" for name in sorted(ports)),
    ]
    return "\n".join(lines) + "\n"


@dataclass
class SnmpdFleet:
    """Running snmpd processes and where each router answers (name -> UDP port on 127.0.0.1)."""

    processes: list[subprocess.Popen[bytes]]
    ports: dict[str, int]

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


def _free_udp_ports(count: int) -> list[int]:
    """``count`` distinct UDP ports on 127.0.0.1 that were free a moment ago (in this namespace)."""
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            ports.add(int(sock.getsockname()[1]))
    return sorted(ports)


@contextlib.contextmanager
def running_fleet(
    workdir: Path, devices: int, processes: int, prefix: Sequence[str] = (), snmpd: str = SNMPD
) -> Iterator[SnmpdFleet]:
    """Routers 1..``devices`` spread round-robin over ``processes`` snmpd processes; stopped at the end.

    ``prefix`` runs them elsewhere (``Lab.prefix()``); the ports are then picked free here, which a
    fresh namespace's loopback has anyway.
    """
    if not 1 <= processes <= devices:
        raise ValueError(f"processes: {processes} is not in 1..{devices}")
    free = iter(_free_udp_ports(devices))
    ports = {device_name(number): next(free) for number in range(1, devices + 1)}
    started: list[subprocess.Popen[bytes]] = []
    try:
        for k in range(processes):
            home = workdir / f"snmpd-{k}"
            (home / "persist").mkdir(parents=True, exist_ok=True)
            mine = {name: ports[name] for name in map(device_name, range(k + 1, devices + 1, processes))}
            config = home / "snmpd.conf"
            config.write_text(snmpd_config(mine, f"fleet-snmpd-{k}", home / "persist"))
            options = ["-f", "-Lo", "-C", "-c", str(config), "-m", "", "-I", ",".join(MODULES)]
            command = [*prefix, snmpd, *options]
            env = {**os.environ, "SNMP_PERSISTENT_DIR": str(home / "persist")}
            with (home / "snmpd.log").open("wb") as log:
                started.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        for k, process in enumerate(started):
            _wait_ready(process, workdir / f"snmpd-{k}" / "snmpd.log")
        yield SnmpdFleet(started, ports)
    finally:
        for process in started:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    """Until snmpd logs its version line, which it does once every address is bound."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while b"NET-SNMP version" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"snmpd did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    text = log.read_text(errors="replace")
    if "Warning" in text or "Error" in text:  # an unknown token: a module left out by -I
        raise RuntimeError(f"snmpd complained about its configuration:\n{text[-2000:]}")


if __name__ == "__main__" and sys.argv[1:2] == ["send"]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the whole group: network() ends it
    send(sys.argv[2:])
