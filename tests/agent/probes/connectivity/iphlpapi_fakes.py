"""Fakes of GetAdaptersAddresses and GetIpForwardTable2: buffers HAND-BUILT from the documented layout."""

# Windows cannot run here. The fakes lay out what iphlpapi.dll returns with the same ctypes structures the
# agent reads (iphlpapi_types, from iptypes.h and netioapi.h): GetAdaptersAddresses fills the caller's buffer
# with IP_ADAPTER_ADDRESSES_LH records, each followed by its IP_ADAPTER_DNS_SERVER_ADDRESS_XP nodes and
# their SOCKADDR_IN/SOCKADDR_IN6, linked by absolute addresses into that buffer, and answers
# ERROR_BUFFER_OVERFLOW with the size needed when the buffer is short; GetIpForwardTable2 returns a table it
# allocated, which FreeMibTable must be given back. None of these bytes were recorded on Windows.

from __future__ import annotations

import ctypes
import ipaddress
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent.probes.connectivity.iphlpapi_types import (
    AF_INET,
    AF_INET6,
    ERROR_BUFFER_OVERFLOW,
    ERROR_SUCCESS,
    IF_OPER_STATUS_UP,
    IP_ADAPTER_ADDRESSES_LH,
    IP_ADAPTER_DNS_SERVER_ADDRESS_XP,
    MIB_IPFORWARD_ROW2,
    MIB_IPFORWARD_TABLE2,
    SOCKADDR,
    SOCKADDR_IN,
    SOCKADDR_IN6,
    SOCKADDR_INET,
)

IF_OPER_STATUS_DOWN = 2


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    if_index: int
    up: bool
    ipv4_metric: int
    dns: tuple[str, ...] = ()  # "fe80::1%12": a scope id


@dataclass(frozen=True)
class RouteSpec:
    prefix: str  # "0.0.0.0/0", "192.0.2.0/24", "::/0"
    next_hop: str
    if_index: int
    metric: int


def _fill_sockaddr(buffer: Any, offset: int, text: str) -> int:
    """A SOCKADDR_IN or SOCKADDR_IN6 for ``text`` at ``offset``; returns its size."""
    address, _, scope = text.partition("%")
    parsed = ipaddress.ip_address(address)
    if parsed.version == 4:
        v4 = SOCKADDR_IN.from_buffer(buffer, offset)
        v4.sin_family = AF_INET
        ctypes.memmove(ctypes.addressof(v4.sin_addr), parsed.packed, 4)
        return ctypes.sizeof(SOCKADDR_IN)
    v6 = SOCKADDR_IN6.from_buffer(buffer, offset)
    v6.sin6_family = AF_INET6
    ctypes.memmove(ctypes.addressof(v6.sin6_addr), parsed.packed, 16)
    v6.sin6_scope_id = int(scope or 0)
    return ctypes.sizeof(SOCKADDR_IN6)


def write_adapters(buffer: Any, specs: list[AdapterSpec]) -> int:
    """Lay ``specs`` out in ``buffer`` as GetAdaptersAddresses does; returns the bytes used."""
    base = ctypes.addressof(buffer)
    used = 0

    def take(size: int) -> int:
        nonlocal used
        start = (used + 7) // 8 * 8
        used = start + size
        if used > ctypes.sizeof(buffer):
            raise ValueError("buffer too short")
        return start

    offsets = [take(ctypes.sizeof(IP_ADAPTER_ADDRESSES_LH)) for _ in specs]
    for i, spec in enumerate(specs):
        adapter = IP_ADAPTER_ADDRESSES_LH.from_buffer(buffer, offsets[i])
        adapter.Length = ctypes.sizeof(IP_ADAPTER_ADDRESSES_LH)
        adapter.IfIndex = spec.if_index
        adapter.Ipv6IfIndex = spec.if_index
        adapter.OperStatus = IF_OPER_STATUS_UP if spec.up else IF_OPER_STATUS_DOWN
        adapter.Ipv4Metric = spec.ipv4_metric
        adapter.Ipv6Metric = spec.ipv4_metric
        name = spec.name.encode("ascii") + b"\0"
        at = take(len(name))
        ctypes.memmove(base + at, name, len(name))
        adapter.AdapterName = ctypes.cast(base + at, ctypes.c_char_p)
        if i + 1 < len(specs):
            adapter.Next = ctypes.cast(base + offsets[i + 1], ctypes.POINTER(IP_ADAPTER_ADDRESSES_LH))
        previous = None
        for server in spec.dns:
            node_at = take(ctypes.sizeof(IP_ADAPTER_DNS_SERVER_ADDRESS_XP))
            node = IP_ADAPTER_DNS_SERVER_ADDRESS_XP.from_buffer(buffer, node_at)
            node.Length = ctypes.sizeof(IP_ADAPTER_DNS_SERVER_ADDRESS_XP)
            sockaddr_at = take(ctypes.sizeof(SOCKADDR_IN6))
            node.Address.iSockaddrLength = _fill_sockaddr(buffer, sockaddr_at, server)
            node.Address.lpSockaddr = ctypes.cast(base + sockaddr_at, ctypes.POINTER(SOCKADDR))
            pointer = ctypes.cast(base + node_at, ctypes.POINTER(IP_ADAPTER_DNS_SERVER_ADDRESS_XP))
            if previous is None:
                adapter.FirstDnsServerAddress = pointer
            else:
                previous.Next = pointer
            previous = node
    return used


class FakeGetAdaptersAddresses:
    """GetAdaptersAddresses over ``specs``; ``error`` is returned instead when set."""

    def __init__(self, specs: list[AdapterSpec], error: int | None = None) -> None:
        self.specs = specs
        self.error = error
        self.calls: list[tuple[int, int, int]] = []  # (family, flags, buffer size offered)

    def needed(self) -> int:
        return write_adapters(ctypes.create_string_buffer(1 << 16), self.specs)

    def __call__(self, family: int, flags: int, reserved: None, buffer: Any, size: Any) -> int:
        self.calls.append((family, flags, size[0]))
        if self.error is not None:
            return self.error
        if size[0] < self.needed():
            size[0] = self.needed()
            return ERROR_BUFFER_OVERFLOW
        write_adapters(buffer, self.specs)
        return ERROR_SUCCESS


def _fill_sockaddr_inet(value: SOCKADDR_INET, text: str) -> None:
    parsed = ipaddress.ip_address(text)
    if parsed.version == 4:
        value.Ipv4.sin_family = AF_INET
        ctypes.memmove(ctypes.addressof(value.Ipv4.sin_addr), parsed.packed, 4)
    else:
        value.Ipv6.sin6_family = AF_INET6
        ctypes.memmove(ctypes.addressof(value.Ipv6.sin6_addr), parsed.packed, 16)


class FakeRouteTable:
    """GetIpForwardTable2 and FreeMibTable over ``specs``: every table handed out must come back."""

    def __init__(self, specs: list[RouteSpec], error: int | None = None) -> None:
        self.specs = specs
        self.error = error
        self.tables: dict[int, Any] = {}  # address -> buffer, while handed out
        self.families: list[int] = []

    def get(self, family: int, table: Any) -> int:
        self.families.append(family)
        if self.error is not None:
            return self.error
        count = len(self.specs)
        offset = MIB_IPFORWARD_TABLE2.Table.offset
        buffer = ctypes.create_string_buffer(offset + max(count, 1) * ctypes.sizeof(MIB_IPFORWARD_ROW2))
        MIB_IPFORWARD_TABLE2.from_buffer(buffer).NumEntries = count
        for row, spec in zip(
            (MIB_IPFORWARD_ROW2 * count).from_buffer(buffer, offset), self.specs, strict=True
        ):
            network = ipaddress.ip_network(spec.prefix)
            _fill_sockaddr_inet(row.DestinationPrefix.Prefix, str(network.network_address))
            row.DestinationPrefix.PrefixLength = network.prefixlen
            _fill_sockaddr_inet(row.NextHop, spec.next_hop)
            row.InterfaceIndex = spec.if_index
            row.Metric = spec.metric
        self.tables[ctypes.addressof(buffer)] = buffer
        table[0] = ctypes.cast(buffer, ctypes.POINTER(MIB_IPFORWARD_TABLE2))
        return ERROR_SUCCESS

    def free(self, table: Any) -> None:
        del self.tables[ctypes.addressof(table.contents)]
