"""Host and port helpers shared by the transport, the probes and the collector."""

from __future__ import annotations

import ipaddress


def host_of(address: str) -> str:
    """The host of host:port (or of a bare host); brackets of [IPv6]:port removed."""
    host, sep, port = address.rpartition(":")
    return host.strip("[]") if sep and port.isdigit() else address


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is localhost or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
