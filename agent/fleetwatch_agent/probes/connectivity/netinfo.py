"""Where the network is, as the workstation sees it: default gateway and DNS servers."""
# Parsing is pure (tested on recorded outputs); the readers below it are the only I/O. Linux: /proc/net/route
# and /etc/resolv.conf. Windows: the IP Helper API in-process (netinfo_windows), or as a fallback `route print
# -4` and Get-DnsClientServerAddress through PowerShell (both outputs in English on every locale), a process
# each. The probe chooses its Reader once when it starts (choose_reader). DNS servers of both families are
# listed; the default gateway is the IPv4 one.

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fleetwatch_agent.probes.connectivity import iphlpapi_walk, netinfo_windows
from fleetwatch_agent.probes.connectivity.model import NETWORK_SOURCES
from fleetwatch_agent.probes.connectivity.netinfo_windows import IpHelper

log = logging.getLogger(__name__)

RTF_GATEWAY = 0x2
WINDOWS_PLACEHOLDERS = ipaddress.IPv6Network("fec0:0:0:ffff::/64")
_WINDOWS_DEFAULT_ROUTE = re.compile(
    r"^\s*0\.0\.0\.0\s+0\.0\.0\.0\s+(\d{1,3}(?:\.\d{1,3}){3})\s+\S+\s+(\d+)\s*$", re.M
)


def parse_proc_net_route(text: str) -> str | None:
    """The default gateway from /proc/net/route (the route with the lowest metric wins)."""
    best: tuple[int, str] | None = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination, gateway, flags = int(fields[1], 16), int(fields[2], 16), int(fields[3], 16)
            metric = int(fields[6])
        except ValueError:
            continue
        if destination != 0 or not flags & RTF_GATEWAY or gateway == 0:
            continue
        address = socket.inet_ntoa(struct.pack("<I", gateway))
        if best is None or metric < best[0]:
            best = (metric, address)
    return best[1] if best else None


def parse_resolv_conf(text: str) -> list[str]:
    """IPv4 and IPv6 name servers listed in resolv.conf, in order, without duplicates."""
    # A link-local IPv6 server is kept only with its interface ("fe80::1%eth0"): without one it
    # cannot be reached, and glibc cannot use it either.
    servers: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver" and _server(fields[1]) and fields[1] not in servers:
            servers.append(fields[1])
    return servers


def parse_route_print(text: str) -> str | None:
    """The default gateway from Windows `route print -4` (lowest metric wins; on-link skipped)."""
    routes = [(int(metric), gateway) for gateway, metric in _WINDOWS_DEFAULT_ROUTE.findall(text)]
    return min(routes)[1] if routes else None


def parse_dns_client_json(text: str) -> list[str]:
    """Servers from `Get-DnsClientServerAddress ... | ConvertTo-Json` (string or list), IPv4 and IPv6."""
    try:
        value = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        return []
    return usable_dns_servers(value if isinstance(value, list) else [value])


def usable_dns_servers(values: Iterable[object]) -> list[str]:
    """The servers a DNS query can go to, in order, once each (Windows's placeholders left out)."""
    # Windows lists fec0:0:0:ffff::1-3 on interfaces without an IPv6 DNS server: placeholders of the
    # deprecated site-local prefix, never real servers, so they are left out.
    servers: list[str] = []
    for item in values:
        if isinstance(item, str) and _server(item) and not _placeholder(item) and item not in servers:
            servers.append(item)
    return servers


def _server(text: str) -> bool:
    """Whether ``text`` is an IP address a DNS query can be sent to (IPv6 link-local: with its scope)."""
    address, _, scope = text.partition("%")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (parsed.version == 6 and parsed.is_link_local and not scope)


def _placeholder(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in WINDOWS_PLACEHOLDERS
    except ValueError:
        return False


def _run(command: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def default_gateway(timeout: float = 5.0) -> str | None:
    """Linux: /proc/net/route; Windows: `route print` (a process: the fallback of the IP Helper reader)."""
    if sys.platform == "win32":
        return parse_route_print(_run(["route", "print", "-4"], timeout))
    try:
        return parse_proc_net_route(Path("/proc/net/route").read_text())
    except OSError:
        return None


def dns_servers(timeout: float = 5.0) -> list[str]:
    """Linux: /etc/resolv.conf; Windows: PowerShell (a process: the fallback of the IP Helper reader)."""
    if sys.platform == "win32":
        script = (
            "Get-DnsClientServerAddress | "
            "Select-Object -ExpandProperty ServerAddresses | ConvertTo-Json -Compress"
        )
        return parse_dns_client_json(
            _run(["powershell", "-NoProfile", "-NonInteractive", "-Command", script], timeout)
        )
    try:
        return parse_resolv_conf(Path("/etc/resolv.conf").read_text())
    except OSError:
        return []


Source = Literal["files", "iphlpapi", "commands"]
SourceSetting = Literal["auto", "iphlpapi", "commands"]


@dataclass(frozen=True)
class Reader:
    """Where the default gateway and the DNS servers are read, chosen once when the probe starts."""

    source: Source
    note: str = ""  # why, when it is not what was asked for or the IP Helper API cannot be used
    api: IpHelper | None = None  # the IP Helper API (None: the platform's files or commands)

    def describe(self) -> str:
        name = NETWORK_SOURCES[self.source]
        return f"{name} ({self.note})" if self.note else name

    def default_gateway(self, timeout: float) -> str | None:
        if self.source != "iphlpapi":
            return default_gateway(timeout)
        if self.api is None:
            return None
        try:
            return iphlpapi_walk.default_gateway(self.api.default_routes(), self.api.adapters())
        except OSError as exc:
            log.debug("connectivity: no default gateway from the IP Helper API: %s", exc)
            return None

    def dns_servers(self, timeout: float) -> list[str]:
        if self.source != "iphlpapi":
            return dns_servers(timeout)
        if self.api is None:
            return []
        try:
            return usable_dns_servers(iphlpapi_walk.dns_servers(self.api.adapters()))
        except OSError as exc:
            log.debug("connectivity: no DNS servers from the IP Helper API: %s", exc)
            return []


def choose_reader(
    setting: SourceSetting,
    open_api: Callable[[], IpHelper | str] = netinfo_windows.open_api,
    windows: bool = sys.platform == "win32",
) -> Reader:
    """Linux: the files. Windows, ``auto``: the IP Helper API when it answers now, else the commands."""
    reader = _choose(setting, open_api) if windows else Reader("files")
    log.info("connectivity: default gateway and DNS servers read from %s", reader.describe())
    return reader


def _choose(setting: SourceSetting, open_api: Callable[[], IpHelper | str]) -> Reader:
    if setting == "commands":
        return Reader("commands", 'windows_source = "commands"')
    opened = open_api()
    problem = opened if isinstance(opened, str) else ""
    if isinstance(opened, IpHelper):
        try:
            opened.adapters()
            opened.default_routes()
        except OSError as exc:
            problem = str(exc)
    if isinstance(opened, IpHelper) and not problem:
        return Reader("iphlpapi", api=opened)
    if setting == "iphlpapi":  # no fallback when asked for: no gateway and no DNS servers, and why
        return Reader("iphlpapi", f"IP Helper API unavailable: {problem}")
    return Reader("commands", f"IP Helper API unavailable at start: {problem}")
