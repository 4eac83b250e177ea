"""The IP Helper API calls (iphlpapi.dll through ctypes) that list adapters and default routes on Windows."""

# GetAdaptersAddresses (adapters, their DNS servers and interface metrics) and GetIpForwardTable2 (the
# routes) answer in-process in well under a millisecond, where `route print` and PowerShell cost a process
# each. Any user may call them. The walks over their answers are iphlpapi_walk's; this module only calls,
# and is imported anywhere (the DLL is loaded in open_api, on Windows only). The calls get real pointers,
# not byref(), so that tests can pass Python functions in their place.

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent.probes.connectivity.iphlpapi_types import (
    AF_UNSPEC,
    ERROR_BUFFER_OVERFLOW,
    ERROR_NO_DATA,
    ERROR_SUCCESS,
    GAA_FLAG_SKIP_ANYCAST,
    GAA_FLAG_SKIP_MULTICAST,
    IP_ADAPTER_ADDRESSES_LH,
    MIB_IPFORWARD_TABLE2,
)
from fleetwatch_agent.probes.connectivity.iphlpapi_walk import (
    Adapter,
    Route,
    walk_adapters,
    walk_default_routes,
)

GAA_FLAGS = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST
# The documentation's advice: start with 15 KB, which fits most hosts in one call.
INITIAL_BUFFER_BYTES = 15_000
MAX_ATTEMPTS = 3  # the list may grow between the sizing call and the next one


@dataclass(frozen=True)
class IpHelper:
    """The two reads; each raises OSError when its call fails."""

    adapters: Callable[[], list[Adapter]]
    default_routes: Callable[[], list[Route]]


def read_adapters(get_adapters_addresses: Callable[..., int]) -> list[Adapter]:
    """GetAdaptersAddresses(AF_UNSPEC, skip anycast and multicast) walked, growing the buffer as asked."""
    size = ctypes.c_uint32(INITIAL_BUFFER_BYTES)
    for _ in range(MAX_ATTEMPTS):
        buffer = ctypes.create_string_buffer(size.value)
        code = get_adapters_addresses(AF_UNSPEC, GAA_FLAGS, None, buffer, ctypes.pointer(size))
        if code == ERROR_SUCCESS:
            return walk_adapters(ctypes.cast(buffer, ctypes.POINTER(IP_ADAPTER_ADDRESSES_LH)))
        if code == ERROR_NO_DATA:
            return []
        if code != ERROR_BUFFER_OVERFLOW:
            raise OSError(code, f"GetAdaptersAddresses failed with error {code}")
    raise OSError(ERROR_BUFFER_OVERFLOW, "GetAdaptersAddresses: the adapter list kept growing")


def read_default_routes(get_table: Callable[..., int], free_table: Callable[[Any], None]) -> list[Route]:
    """GetIpForwardTable2(AF_UNSPEC) walked for its default routes; the table is freed after."""
    table = ctypes.POINTER(MIB_IPFORWARD_TABLE2)()
    code = get_table(AF_UNSPEC, ctypes.pointer(table))
    if code != ERROR_SUCCESS:
        raise OSError(code, f"GetIpForwardTable2 failed with error {code}")
    try:
        return walk_default_routes(table)
    finally:
        free_table(table)


def open_api() -> IpHelper | str:
    """iphlpapi.dll's two reads, or why they cannot be had (not Windows, the DLL or a function missing)."""
    if sys.platform != "win32":
        return f"the IP Helper API exists on Windows only, not {sys.platform}"
    try:
        dll = ctypes.WinDLL("iphlpapi.dll")
        get_adapters = dll.GetAdaptersAddresses
        get_table = dll.GetIpForwardTable2
        free_table = dll.FreeMibTable
    except (OSError, AttributeError) as exc:
        return f"iphlpapi.dll: {exc}"
    get_adapters.restype = ctypes.c_uint32
    get_adapters.argtypes = (
        ctypes.c_uint32,
        ctypes.c_uint32,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint32),
    )
    get_table.restype = ctypes.c_uint32
    get_table.argtypes = (ctypes.c_uint16, ctypes.POINTER(ctypes.POINTER(MIB_IPFORWARD_TABLE2)))
    free_table.restype = None
    free_table.argtypes = (ctypes.c_void_p,)
    return IpHelper(
        adapters=lambda: read_adapters(get_adapters),
        default_routes=lambda: read_default_routes(get_table, free_table),
    )
