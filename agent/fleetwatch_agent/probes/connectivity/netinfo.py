"""Where the network is, as the workstation sees it: default gateway and DNS servers."""
# Parsing is pure (tested on recorded outputs); the readers below it are the only I/O. Linux: /proc/net/route
# and /etc/resolv.conf. Windows: `route print -4` and Get-DnsClientServerAddress through PowerShell (both
# outputs in English on every locale). DNS servers of both families are listed; the default gateway is the
# IPv4 one.

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import subprocess
import sys
from pathlib import Path

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
    # Windows lists fec0:0:0:ffff::1-3 on interfaces without an IPv6 DNS server: placeholders of the
    # deprecated site-local prefix, never real servers, so they are left out.
    try:
        value = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        return []
    values = value if isinstance(value, list) else [value]
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
    if sys.platform == "win32":
        return parse_route_print(_run(["route", "print", "-4"], timeout))
    try:
        return parse_proc_net_route(Path("/proc/net/route").read_text())
    except OSError:
        return None


def dns_servers(timeout: float = 5.0) -> list[str]:
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
