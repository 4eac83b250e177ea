"""ctypes layouts of the IP Helper API structures read for the DNS servers and default routes (Windows)."""

# From the Windows SDK headers (iptypes.h, ws2def.h, ws2ipdef.h, netioapi.h, ifdef.h), spelled with
# fixed-width types: ULONG and DWORD are 32 bits on Windows, so c_uint32, never c_ulong (64 bits on
# Linux); WCHAR strings are plain pointers (wchar_t is 4 bytes on Linux) and are not read. With these,
# the layouts are the same on 64-bit Linux as on 64-bit Windows, so the walks over them (iphlpapi_walk)
# are tested here on buffers built from these very structures. On 64-bit Windows:
# sizeof(IP_ADAPTER_ADDRESSES_LH) = 448, sizeof(MIB_IPFORWARD_ROW2) = 104.

from __future__ import annotations

import ctypes

# ruff: noqa: N801 - the Windows names

AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 23  # Windows's value (Linux's is 10)
GAA_FLAG_SKIP_ANYCAST = 0x0002
GAA_FLAG_SKIP_MULTICAST = 0x0004
IF_OPER_STATUS_UP = 1  # IfOperStatusUp
ERROR_SUCCESS = 0
ERROR_BUFFER_OVERFLOW = 111
ERROR_NO_DATA = 232
MAX_ADAPTER_ADDRESS_LENGTH = 8
MAX_DHCPV6_DUID_LENGTH = 130

ULONG = ctypes.c_uint32
ULONG64 = ctypes.c_uint64
ENUM = ctypes.c_int  # C enums are ints


class SOCKADDR(ctypes.Structure):
    _fields_ = (("sa_family", ctypes.c_ushort), ("sa_data", ctypes.c_char * 14))


class SOCKADDR_IN(ctypes.Structure):
    _fields_ = (
        ("sin_family", ctypes.c_ushort),
        ("sin_port", ctypes.c_ushort),  # network byte order
        ("sin_addr", ctypes.c_ubyte * 4),
        ("sin_zero", ctypes.c_char * 8),
    )


class SOCKADDR_IN6(ctypes.Structure):
    _fields_ = (
        ("sin6_family", ctypes.c_ushort),
        ("sin6_port", ctypes.c_ushort),
        ("sin6_flowinfo", ULONG),
        ("sin6_addr", ctypes.c_ubyte * 16),
        ("sin6_scope_id", ULONG),
    )


class SOCKADDR_INET(ctypes.Union):
    _fields_ = (("Ipv4", SOCKADDR_IN), ("Ipv6", SOCKADDR_IN6), ("si_family", ctypes.c_ushort))


class SOCKET_ADDRESS(ctypes.Structure):
    _fields_ = (("lpSockaddr", ctypes.POINTER(SOCKADDR)), ("iSockaddrLength", ctypes.c_int))


class GUID(ctypes.Structure):
    _fields_ = (
        ("Data1", ctypes.c_uint32),
        ("Data2", ctypes.c_uint16),
        ("Data3", ctypes.c_uint16),
        ("Data4", ctypes.c_ubyte * 8),
    )


class _LENGTH_AND_INDEX(ctypes.Structure):
    _fields_ = (("Length", ULONG), ("IfIndex", ULONG))


class _ALIGNED_HEADER(ctypes.Union):
    """``union { ULONGLONG Alignment; struct { ULONG Length; ULONG IfIndex (or Reserved); }; }``."""

    _anonymous_ = ("header",)
    _fields_ = (("Alignment", ULONG64), ("header", _LENGTH_AND_INDEX))


class IP_ADAPTER_DNS_SERVER_ADDRESS_XP(ctypes.Structure):
    pass


IP_ADAPTER_DNS_SERVER_ADDRESS_XP._anonymous_ = ("u",)
IP_ADAPTER_DNS_SERVER_ADDRESS_XP._fields_ = (
    ("u", _ALIGNED_HEADER),
    ("Next", ctypes.POINTER(IP_ADAPTER_DNS_SERVER_ADDRESS_XP)),
    ("Address", SOCKET_ADDRESS),
)


class IP_ADAPTER_ADDRESSES_LH(ctypes.Structure):
    pass


IP_ADAPTER_ADDRESSES_LH._anonymous_ = ("u",)
IP_ADAPTER_ADDRESSES_LH._fields_ = (
    ("u", _ALIGNED_HEADER),
    ("Next", ctypes.POINTER(IP_ADAPTER_ADDRESSES_LH)),
    ("AdapterName", ctypes.c_char_p),
    ("FirstUnicastAddress", ctypes.c_void_p),
    ("FirstAnycastAddress", ctypes.c_void_p),
    ("FirstMulticastAddress", ctypes.c_void_p),
    ("FirstDnsServerAddress", ctypes.POINTER(IP_ADAPTER_DNS_SERVER_ADDRESS_XP)),
    ("DnsSuffix", ctypes.c_void_p),
    ("Description", ctypes.c_void_p),
    ("FriendlyName", ctypes.c_void_p),
    ("PhysicalAddress", ctypes.c_ubyte * MAX_ADAPTER_ADDRESS_LENGTH),
    ("PhysicalAddressLength", ULONG),
    ("Flags", ULONG),
    ("Mtu", ULONG),
    ("IfType", ULONG),
    ("OperStatus", ENUM),
    ("Ipv6IfIndex", ULONG),
    ("ZoneIndices", ULONG * 16),
    ("FirstPrefix", ctypes.c_void_p),
    ("TransmitLinkSpeed", ULONG64),
    ("ReceiveLinkSpeed", ULONG64),
    ("FirstWinsServerAddress", ctypes.c_void_p),
    ("FirstGatewayAddress", ctypes.c_void_p),
    ("Ipv4Metric", ULONG),
    ("Ipv6Metric", ULONG),
    ("Luid", ULONG64),  # NET_LUID
    ("Dhcpv4Server", SOCKET_ADDRESS),
    ("CompartmentId", ctypes.c_uint32),
    ("NetworkGuid", GUID),
    ("ConnectionType", ENUM),
    ("TunnelType", ENUM),
    ("Dhcpv6Server", SOCKET_ADDRESS),
    ("Dhcpv6ClientDuid", ctypes.c_ubyte * MAX_DHCPV6_DUID_LENGTH),
    ("Dhcpv6ClientDuidLength", ULONG),
    ("Dhcpv6Iaid", ULONG),
    ("FirstDnsSuffix", ctypes.c_void_p),
)


class IP_ADDRESS_PREFIX(ctypes.Structure):
    _fields_ = (("Prefix", SOCKADDR_INET), ("PrefixLength", ctypes.c_ubyte))


class MIB_IPFORWARD_ROW2(ctypes.Structure):
    _fields_ = (
        ("InterfaceLuid", ULONG64),
        ("InterfaceIndex", ULONG),
        ("DestinationPrefix", IP_ADDRESS_PREFIX),
        ("NextHop", SOCKADDR_INET),
        ("SitePrefixLength", ctypes.c_ubyte),
        ("ValidLifetime", ULONG),
        ("PreferredLifetime", ULONG),
        ("Metric", ULONG),
        ("Protocol", ENUM),
        ("Loopback", ctypes.c_ubyte),
        ("AutoconfigureAddress", ctypes.c_ubyte),
        ("Publish", ctypes.c_ubyte),
        ("Immortal", ctypes.c_ubyte),
        ("Age", ULONG),
        ("Origin", ENUM),
    )


class MIB_IPFORWARD_TABLE2(ctypes.Structure):
    """``NumEntries`` rows follow from ``Table`` on (declared with one, as ANYSIZE_ARRAY)."""

    _fields_ = (("NumEntries", ULONG), ("Table", MIB_IPFORWARD_ROW2 * 1))
