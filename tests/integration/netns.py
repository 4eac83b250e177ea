"""Small test networks of Linux network namespaces: a chain of hosts and routers, cut links, loss, delay.

``Network(("agent", "router", "server"))`` makes one namespace per role, named
``fwt-<pid>-<random>-<role>``, joined in a chain by veth pairs. Link ``i`` (between roles
``i`` and ``i + 1``) is 10.199.<i+1>.0/24, the left end .1 and the right end .2; each
interface is called ``to-<neighbour role>``. The two ends get a default route, the routers
between them forward and get a route to every subnet, so the first role reaches the last
one through all the others. Traffic never leaves these namespaces.

With ``ipv6=True`` links also get fd00:199:<i+1>::1 and ::2 and the same routes (see netns_extra.py).

Everything made (namespaces, processes, scripts, /etc/netns files) is removed by ``close()``,
which the context manager calls also when a test fails. ``sweep_stale()`` deletes "fwt-"
namespaces left by test processes that no longer run (killed before their teardown).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_PEERS_ENV, peers_required, require_program

PREFIX = "fwt-"
SUBNET = "10.199.{}.0/24"
SUBNET6 = "fd00:199:{}::/64"
COMMAND_TIMEOUT_SECONDS = 60.0
READY_TIMEOUT_SECONDS = 20.0

# Answers ICMP echo requests after a set delay, from a raw socket; the namespace's kernel must
# not answer itself (net.ipv4.icmp_echo_ignore_all=1). Self-contained on purpose: it shares no
# code with the agent it measures.
DELAY_RESPONDER = r"""
import heapq, select, socket, struct, sys, time

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

delay = float(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
print("ready", flush=True)
pending, counter = [], 0
while True:
    wait = max(0.0, pending[0][0] - time.monotonic()) if pending else None
    if select.select([sock], [], [], wait)[0]:
        data, (source, _) = sock.recvfrom(65535)
        icmp = data[(data[0] & 0x0F) * 4:]
        if len(icmp) >= 8 and icmp[0] == 8 and icmp[1] == 0:
            reply = b"\0\0\0\0" + icmp[4:]
            reply = reply[:2] + struct.pack("!H", checksum(reply)) + reply[4:]
            counter += 1
            heapq.heappush(pending, (time.monotonic() + delay, counter, source, reply))
    while pending and pending[0][0] <= time.monotonic():
        _, _, destination, reply = heapq.heappop(pending)
        sock.sendto(reply, (destination, 0))
"""


def unavailable(message: str) -> None:
    """Skip, or fail under FLEETWATCH_REQUIRE_PEERS=1: something a real-peer test needs is missing."""
    if peers_required():
        pytest.fail(f"{message}; {REQUIRE_PEERS_ENV} is set, so this is a failure")
    pytest.skip(message)


@functools.cache
def _refusal() -> str:
    """Why network namespaces cannot be used here ("" when they can); probed once per session."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespace tests need root"
    name = f"{PREFIX}{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"'ip netns add' is refused here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return ""


def require_netns() -> None:
    """Skip (or fail under FLEETWATCH_REQUIRE_PEERS=1) unless root may make network namespaces."""
    require_program("ip", "apt-get install iproute2")
    if reason := _refusal():
        unavailable(reason)


def _owner_alive(name: str) -> bool:
    pid = name.removeprefix(PREFIX).split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_namespace(name: str) -> None:
    """Kill what still runs in the namespace, then delete it."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def sweep_stale() -> list[str]:
    """Delete the "fwt-" namespaces whose test process is gone; returns their names."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    stale = [
        line.split()[0]
        for line in listed.stdout.splitlines()
        if line.startswith(PREFIX) and not _owner_alive(line.split()[0])
    ]
    for name in stale:
        _delete_namespace(name)
    return stale


@dataclass(frozen=True)
class Link:
    left: str  # role
    right: str
    left_address: str
    right_address: str
    left_address6: str = ""
    right_address6: str = ""

    @property
    def left_interface(self) -> str:
        return f"to-{self.right}"[:15]

    @property
    def right_interface(self) -> str:
        return f"to-{self.left}"[:15]


@dataclass(frozen=True)
class Route:
    role: str
    destination: str
    gateway: str
    link: int  # index of the link the gateway is on


class Network:
    """A chain of namespaces, one per role; see the module docstring for the layout."""

    def __init__(self, roles: tuple[str, ...], ipv6: bool = False) -> None:
        if len(roles) < 2 or len(set(roles)) != len(roles):
            raise ValueError("a network needs at least two distinct roles")
        self.roles = roles
        self.ipv6 = ipv6
        tag = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.namespaces = {role: f"{tag}-{role}" for role in roles}
        self.links = [
            Link(a, b, f"10.199.{n}.1", f"10.199.{n}.2", f"fd00:199:{n}::1", f"fd00:199:{n}::2")
            for n, (a, b) in enumerate(itertools.pairwise(roles), 1)
        ]
        self.routes: list[Route] = []
        self._made: list[str] = []
        self._processes: list[subprocess.Popen[str]] = []
        self._down: set[int] = set()
        self._workdir = Path(tempfile.mkdtemp(prefix="fwt-netns-"))

    # ---- building and tearing down -------------------------------------------------------------

    def __enter__(self) -> Network:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _build(self) -> None:
        for role, name in self.namespaces.items():
            _ip("netns", "add", name)
            self._made.append(name)
            self.ip(role, "link", "set", "lo", "up")
            if self.ipv6:  # link-local addresses too: no duplicate address detection to wait for
                self.run(role, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        for i, link in enumerate(self.links):
            _ip(
                "link", "add", link.left_interface, "netns", self.namespaces[link.left], "type", "veth",
                "peer", "name", link.right_interface, "netns", self.namespaces[link.right],
            )  # fmt: skip
            self.ip(link.left, "addr", "add", f"{link.left_address}/24", "dev", link.left_interface)
            self.ip(link.right, "addr", "add", f"{link.right_address}/24", "dev", link.right_interface)
            if self.ipv6:
                self.ip(link.left, "addr", "add", f"{link.left_address6}/64", "dev", link.left_interface)
                self.ip(link.right, "addr", "add", f"{link.right_address6}/64", "dev", link.right_interface)
            self._set_link(i, "up")
        last = len(self.roles) - 1
        for index, role in enumerate(self.roles):
            if 0 < index < last:
                forwarding = ["net.ipv4.ip_forward=1", *["net.ipv6.conf.all.forwarding=1"] * self.ipv6]
                self.run(role, "sysctl", "-qw", *forwarding)
            for k in range(len(self.links)):
                if k in (index - 1, index):
                    continue  # directly connected
                if k > index:  # toward the right: the right neighbour's address on link `index`
                    route = Route(role, SUBNET.format(k + 1), self.links[index].right_address, index)
                else:
                    route = Route(role, SUBNET.format(k + 1), self.links[index - 1].left_address, index - 1)
                if index in (0, last):
                    route = Route(role, "default", route.gateway, route.link)
                if route not in self.routes:
                    self.routes.append(route)
        self._apply_routes()
        if self.ipv6:
            self._wait_ipv6_ready()

    def _wait_ipv6_ready(self) -> None:
        """Until every link has its carrier, IPv6 neighbour discovery fails (IPv4 does not wait)."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while any("NO-CARRIER" in self.run(role, "ip", "link").stdout for role in self.roles):
            if time.monotonic() > deadline:
                pytest.fail(f"links still without carrier after {READY_TIMEOUT_SECONDS:g} s")
            time.sleep(0.1)

    def _apply_routes(self) -> None:
        """(Re)install every route whose gateway's link is up (a link going down drops its routes)."""
        for route in self.routes:
            if route.link not in self._down:
                self.ip(route.role, "route", "replace", route.destination, "via", route.gateway)
                if self.ipv6:
                    self.ip(route.role, "-6", "route", "replace", *self._route6(route))

    def _route6(self, route: Route) -> tuple[str, str, str]:
        """The IPv6 twin of an IPv4 route: same link, same direction."""
        link = self.links[route.link]
        gateway = link.left_address6 if route.gateway == link.left_address else link.right_address6
        number = "" if route.destination == "default" else route.destination.split(".")[2]
        return (SUBNET6.format(number) if number else "default", "via", gateway)

    def close(self) -> None:
        """Stop the processes started here, delete the namespaces made here; safe to call twice."""
        for process in self._processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=COMMAND_TIMEOUT_SECONDS)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self._processes.clear()
        for name in reversed(self._made):
            _delete_namespace(name)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)  # see netns_extra.use_resolver
        self._made.clear()
        shutil.rmtree(self._workdir, ignore_errors=True)

    # ---- running things inside ----------------------------------------------------------------

    def address(self, role: str, toward: str) -> str:
        """The address of ``role``'s interface on its link to ``toward``."""
        for link in self.links:
            if (link.left, link.right) == (role, toward):
                return link.left_address
            if (link.left, link.right) == (toward, role):
                return link.right_address
        raise KeyError(f"no link between {role} and {toward}")

    def ip(self, role: str, *args: str) -> None:
        _ip("-n", self.namespaces[role], *args)

    def run(
        self, role: str, *command: str, check: bool = True, timeout: float = COMMAND_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside ``role``'s namespace and wait for it."""
        full = ["ip", "netns", "exec", self.namespaces[role], *command]
        result = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(full)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def python(
        self,
        role: str,
        code: str,
        *args: str,
        without_net_raw: bool = False,
        timeout: float = COMMAND_TIMEOUT_SECONDS,
    ) -> Any:
        """Run a Python snippet (this interpreter) in ``role``'s namespace; its last stdout line as JSON.

        ``without_net_raw`` drops CAP_NET_RAW from the capability bounding set first (setpriv):
        still root for files, but no raw sockets, like an unprivileged agent.
        """
        setpriv = require_program("setpriv", "apt-get install util-linux") if without_net_raw else ""
        prefix = [setpriv, "--bounding-set=-net_raw"] if without_net_raw else []
        result = self.run(role, *prefix, sys.executable, "-c", code, *args, timeout=timeout)
        lines = result.stdout.strip().splitlines()
        if not lines:
            pytest.fail(f"the snippet printed nothing:\n{result.stderr}")
        return json.loads(lines[-1])

    def spawn(self, role: str, *command: str) -> subprocess.Popen[str]:
        """Start ``command`` in ``role``'s namespace and wait until it prints its first line."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.namespaces[role], *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._processes.append(process)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_SECONDS)
        if not ready or not process.stdout.readline():
            process.kill()
            _, errors = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
            pytest.fail(f"{' '.join(command)} did not start in {role}: {errors}")
        return process

    # ---- impairments --------------------------------------------------------------------------

    def _set_link(self, index: int, state: str) -> None:
        link = self.links[index]
        self.ip(link.left, "link", "set", link.left_interface, state)
        self.ip(link.right, "link", "set", link.right_interface, state)

    def _link_index(self, a: str, b: str) -> int:
        for i, link in enumerate(self.links):
            if {link.left, link.right} == {a, b}:
                return i
        raise KeyError(f"no link between {a} and {b}")

    def cut(self, a: str, b: str) -> None:
        """Take both ends of the link a-b down, like a cable pulled out; routes over it go too."""
        index = self._link_index(a, b)
        self._set_link(index, "down")
        self._down.add(index)

    def restore(self, a: str, b: str) -> None:
        """Bring the link a-b back up and reinstall the routes over it."""
        index = self._link_index(a, b)
        self._set_link(index, "up")
        self._down.discard(index)
        self._apply_routes()

    def add_loss(self, role: str, probability: float, arriving_from: str) -> None:
        """Drop ICMP that ``role`` forwards from ``arriving_from`` with this probability (1 = all).

        One direction only: dropping both ways would lose 1 - (1 - p)**2 of the round trips.
        """
        rule = ["-A", "FORWARD", "-i", self.interface(role, arriving_from), "-p", "icmp"]
        if probability < 1:
            rule += ["-m", "statistic", "--mode", "random", "--probability", f"{probability:g}"]
        self.run(role, require_program("iptables", "apt-get install iptables"), *rule, "-j", "DROP")

    def interface(self, role: str, toward: str) -> str:
        """The name of ``role``'s interface toward its neighbour ``toward``."""
        link = self.links[self._link_index(role, toward)]
        return link.left_interface if link.left == role else link.right_interface

    def delay_responder(self, role: str, delay_seconds: float) -> None:
        """Answer echo requests to ``role`` after ``delay_seconds``, instead of its kernel."""
        self.run(role, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
        script = self._workdir / "delay_responder.py"
        script.write_text(DELAY_RESPONDER)
        self.spawn(role, sys.executable, str(script), f"{delay_seconds:g}")

    def allow_unprivileged_ping(self, role: str, allowed: bool) -> None:
        """Let every group (or none) open ICMP datagram sockets in ``role``'s namespace."""
        value = "0 2147483647" if allowed else "1 0"
        self.run(role, "sysctl", "-qw", f"net.ipv4.ping_group_range={value}")


def _ip(*args: str) -> None:
    result = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
