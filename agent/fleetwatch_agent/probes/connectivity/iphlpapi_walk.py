"""Walks over what the IP Helper API returns: adapters with their DNS servers, default routes (no calls)."""

# GetAdaptersAddresses fills one buffer with a linked list of IP_ADAPTER_ADDRESSES_LH, each with a linked
# list of DNS server addresses; GetIpForwardTable2 returns a MIB_IPFORWARD_TABLE2 of rows. The walks read
# them through the ctypes layouts of iphlpapi_types and return plain records, bounded so that a damaged
# list (a loop) cannot hold the probe. Choosing from the records is pure too: the DNS servers of the
# adapters that are up, and the IPv4 default route of the lowest metric (route metric + interface metric,
# as `route print` shows it).

from __future__ import annotations

import ctypes
import ipaddress
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent.probes.connectivity.iphlpapi_types import (
    AF_INET,
    AF_INET6,
    IF_OPER_STATUS_UP,
    IP_ADAPTER_ADDRESSES_LH,
    MIB_IPFORWARD_ROW2,
    MIB_IPFORWARD_TABLE2,
    SOCKADDR_IN,
    SOCKADDR_IN6,
    SOCKADDR_INET,
    SOCKET_ADDRESS,
)

MAX_ADAPTERS = 256
MAX_DNS_SERVERS = 32  # per adapter
MAX_ROUTES = 65_536


@dataclass(frozen=True)
class Adapter:
    name: str  # AdapterName: the adapter's GUID
    if_index: int  # IfIndex: its IPv4 interface
    ipv6_if_index: int
    up: bool  # OperStatus is IfOperStatusUp
    ipv4_metric: int
    ipv6_metric: int
    dns_servers: tuple[str, ...]  # in the adapter's order; IPv6 link-local with "%<scope id>"


@dataclass(frozen=True)
class Route:
    """A default route (destination prefix length 0)."""

    family: int  # 4 or 6
    next_hop: str  # the unspecified address (0.0.0.0, ::) for an on-link route
    interface_index: int
    metric: int  # the route's own metric; the interface's is added when choosing


def _address(family: int, pointer: Any, length: int) -> str | None:
    """The address of a sockaddr of ``family`` at ``pointer`` (None when too short or another family)."""
    if family == AF_INET and length >= ctypes.sizeof(SOCKADDR_IN):
        v4 = ctypes.cast(pointer, ctypes.POINTER(SOCKADDR_IN)).contents
        return str(ipaddress.IPv4Address(bytes(v4.sin_addr)))
    if family == AF_INET6 and length >= ctypes.sizeof(SOCKADDR_IN6):
        v6 = ctypes.cast(pointer, ctypes.POINTER(SOCKADDR_IN6)).contents
        address = ipaddress.IPv6Address(bytes(v6.sin6_addr))
        scoped = address.is_link_local and v6.sin6_scope_id
        return f"{address}%{v6.sin6_scope_id}" if scoped else str(address)
    return None


def socket_address_text(socket_address: SOCKET_ADDRESS) -> str | None:
    """The address a SOCKET_ADDRESS points to, as text; None when there is none or it is not IP."""
    pointer = socket_address.lpSockaddr
    if not pointer:
        return None
    return _address(pointer.contents.sa_family, pointer, socket_address.iSockaddrLength)


def sockaddr_inet_text(value: SOCKADDR_INET) -> str | None:
    return _address(value.si_family, ctypes.pointer(value), ctypes.sizeof(SOCKADDR_INET))


def walk_adapters(first: Any) -> list[Adapter]:
    """The adapters of the list starting at ``first`` (a POINTER(IP_ADAPTER_ADDRESSES_LH), maybe NULL)."""
    adapters: list[Adapter] = []
    node = first
    while node and len(adapters) < MAX_ADAPTERS:
        adapter: IP_ADAPTER_ADDRESSES_LH = node.contents
        servers: list[str] = []
        server = adapter.FirstDnsServerAddress
        while server and len(servers) < MAX_DNS_SERVERS:
            text = socket_address_text(server.contents.Address)
            if text is not None:
                servers.append(text)
            server = server.contents.Next
        adapters.append(
            Adapter(
                name=(adapter.AdapterName or b"").decode("ascii", "replace"),
                if_index=adapter.IfIndex,
                ipv6_if_index=adapter.Ipv6IfIndex,
                up=adapter.OperStatus == IF_OPER_STATUS_UP,
                ipv4_metric=adapter.Ipv4Metric,
                ipv6_metric=adapter.Ipv6Metric,
                dns_servers=tuple(servers),
            )
        )
        node = adapter.Next
    return adapters


def walk_default_routes(table: Any) -> list[Route]:
    """The default routes of a MIB_IPFORWARD_TABLE2 (a POINTER to it, maybe NULL), in table order."""
    if not table:
        return []
    count = min(int(table.contents.NumEntries), MAX_ROUTES)
    start = ctypes.addressof(table.contents) + MIB_IPFORWARD_TABLE2.Table.offset
    rows = (MIB_IPFORWARD_ROW2 * count).from_address(start)
    routes = []
    for row in rows:
        if row.DestinationPrefix.PrefixLength != 0:
            continue
        family = row.NextHop.si_family
        next_hop = sockaddr_inet_text(row.NextHop)
        if next_hop is not None:
            routes.append(Route(4 if family == AF_INET else 6, next_hop, row.InterfaceIndex, row.Metric))
    return routes


def dns_servers(adapters: list[Adapter]) -> list[str]:
    """The DNS servers of the adapters that are up, in order (duplicates and placeholders stay)."""
    return [server for adapter in adapters if adapter.up for server in adapter.dns_servers]


def default_gateway(routes: list[Route], adapters: list[Adapter]) -> str | None:
    """The next hop of the IPv4 default route of the lowest metric, over an interface that is up."""
    interfaces = {adapter.if_index: adapter for adapter in adapters}
    best: tuple[int, str] | None = None
    for route in routes:
        adapter = interfaces.get(route.interface_index)
        if route.family != 4 or route.next_hop == "0.0.0.0" or (adapter is not None and not adapter.up):
            continue
        metric = route.metric + (adapter.ipv4_metric if adapter is not None else 0)
        if best is None or metric < best[0]:
            best = (metric, route.next_hop)
    return best[1] if best else None
