"""Windows traceroute probes without privileges: IcmpSendEcho2/Icmp6SendEcho2 (iphlpapi.dll) with a TTL."""
# Any user may call the ICMP helper API: an echo request goes out with IP_OPTION_INFORMATION.Ttl set to the
# hop, and the call returns within its timeout with one reply structure whose Status says what answered:
# IP_TTL_EXPIRED_TRANSIT a router on the way, IP_SUCCESS the destination, IP_DEST_*_UNREACHABLE the end of
# the path, IP_REQ_TIMED_OUT nothing. The calls block, so a round runs one per target in a small thread
# pool; the rounds themselves are traceroute_hops.walk's. The ctypes functions come in an IcmpApi, so tests
# run this module anywhere against a fake of them.

from __future__ import annotations

import concurrent.futures
import ctypes
import ipaddress
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent.probes.connectivity.traceroute_hops import Hop

# IP_STATUS values (ipexport.h).
IP_SUCCESS = 0
IP_BUF_TOO_SMALL = 11001
IP_DEST_NET_UNREACHABLE = 11002  # IPv6: IP_DEST_NO_ROUTE
IP_DEST_HOST_UNREACHABLE = 11003  # IPv6: IP_DEST_ADDR_UNREACHABLE
IP_DEST_PROT_UNREACHABLE = 11004  # IPv6: IP_DEST_PROHIBITED
IP_DEST_PORT_UNREACHABLE = 11005
IP_REQ_TIMED_OUT = 11010
IP_BAD_ROUTE = 11012
IP_TTL_EXPIRED_TRANSIT = 11013  # IPv6: IP_HOP_LIMIT_EXCEEDED
IP_TTL_EXPIRED_REASSEM = 11014
IP_PARAM_PROBLEM = 11015
IP_BAD_DESTINATION = 11018
IP_DEST_UNREACHABLE = 11040
IP_TIME_EXCEEDED = 11041
IP_GENERAL_FAILURE = 11050
_UNREACHABLE = {
    IP_DEST_NET_UNREACHABLE: "destination network unreachable",
    IP_DEST_HOST_UNREACHABLE: "destination host unreachable",
    IP_DEST_PROT_UNREACHABLE: "destination protocol unreachable or prohibited",
    IP_DEST_PORT_UNREACHABLE: "destination port unreachable",
    IP_DEST_UNREACHABLE: "destination unreachable",
    IP_PARAM_PROBLEM: "parameter problem",
}
WINDOWS_AF_INET6 = 23
# Replies: the 64-bit ICMP_ECHO_REPLY is 40 bytes, ICMPV6_ECHO_REPLY 36, then the echoed data (and room for
# an ICMP error and an IO_STATUS_BLOCK, as the documentation asks).
REPLY_BYTES = 1024
REQUEST_DATA = b"fwtrace!" * 4
# Offsets in the reply structures (the same in the 32- and 64-bit layouts): ICMP_ECHO_REPLY.Address (IPAddr,
# network order) at 0 and .Status at 4; ICMPV6_ECHO_REPLY.Address (IPV6_ADDRESS_EX, packed: port, flowinfo,
# then sin6_addr at 6) and .Status at 28.
_V4_STATUS = struct.Struct("<4sI")
_V6_ADDRESS_OFFSET, _V6_STATUS_OFFSET = 6, 28
# A round waits this much longer than the calls' own timeout before it gives up on them.
GRACE_SECONDS = 0.5
MAX_THREADS = 16


class IP_OPTION_INFORMATION(ctypes.Structure):  # noqa: N801 - the Windows name
    _fields_ = (
        ("Ttl", ctypes.c_ubyte),
        ("Tos", ctypes.c_ubyte),
        ("Flags", ctypes.c_ubyte),
        ("OptionsSize", ctypes.c_ubyte),
        ("OptionsData", ctypes.c_void_p),
    )


class SOCKADDR_IN6(ctypes.Structure):  # noqa: N801 - the Windows name
    _fields_ = (
        ("sin6_family", ctypes.c_ushort),
        ("sin6_port", ctypes.c_ushort),
        ("sin6_flowinfo", ctypes.c_uint32),
        ("sin6_addr", ctypes.c_ubyte * 16),
        ("sin6_scope_id", ctypes.c_uint32),
    )


class MalformedReply(ValueError):
    """A reply buffer too short for the reply structure."""


def parse_reply(buffer: bytes, v6: bool) -> tuple[int, str]:
    """(Status, the answering address) of the first ICMP_ECHO_REPLY or ICMPV6_ECHO_REPLY in ``buffer``."""
    if v6:
        if len(buffer) < _V6_STATUS_OFFSET + 4:
            raise MalformedReply(f"ICMPV6_ECHO_REPLY needs {_V6_STATUS_OFFSET + 4} bytes, got {len(buffer)}")
        raw = buffer[_V6_ADDRESS_OFFSET : _V6_ADDRESS_OFFSET + 16]
        (status,) = struct.unpack_from("<I", buffer, _V6_STATUS_OFFSET)
        return status, socket.inet_ntop(socket.AF_INET6, raw)
    if len(buffer) < _V4_STATUS.size:
        raise MalformedReply(f"ICMP_ECHO_REPLY needs {_V4_STATUS.size} bytes, got {len(buffer)}")
    raw4, status = _V4_STATUS.unpack_from(buffer)
    return status, socket.inet_ntop(socket.AF_INET, raw4)


def hop_of_status(status: int, source: str) -> Hop | None:
    """The hop one IP_STATUS reports (``source``: the reply's address); None for no answer."""
    unspecified = not source or ipaddress.ip_address(source).is_unspecified
    if status == IP_SUCCESS:
        return Hop("reached", source, "echo reply")
    if status in (IP_TTL_EXPIRED_TRANSIT, IP_TIME_EXCEEDED):
        return None if unspecified else Hop("transit", source, "TTL expired in transit")
    if status in (IP_REQ_TIMED_OUT, IP_TTL_EXPIRED_REASSEM):
        return None
    if status in _UNREACHABLE:
        what = f"IP_STATUS {status} {_UNREACHABLE[status]}"
        return Hop("local", "", what) if unspecified else Hop("unreachable", source, what)
    return Hop("local", "", f"IP_STATUS {status}", f"failed: IcmpSendEcho2 answered IP_STATUS {status}")


@dataclass(frozen=True)
class IcmpApi:
    """The iphlpapi.dll functions used (tests pass fakes with the same signatures)."""

    create_file: Callable[[], Any]  # IcmpCreateFile() -> HANDLE
    create_file6: Callable[[], Any]  # Icmp6CreateFile() -> HANDLE
    send_echo2: Callable[..., int]  # IcmpSendEcho2(Handle, Event, ApcRoutine, ApcContext, Dest, ...) -> DWORD
    send_echo2_v6: Callable[..., int]  # Icmp6SendEcho2(Handle, Event, Apc, Context, Source, Dest, ...)
    close_handle: Callable[[Any], Any]  # IcmpCloseHandle(HANDLE) -> BOOL
    last_error: Callable[[], int]  # ctypes.get_last_error


INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value


def iphlpapi() -> IcmpApi | str:
    """The real functions, or why there are none (not Windows, no iphlpapi.dll)."""
    if sys.platform != "win32":
        return f"unsupported: IcmpSendEcho2 exists on Windows only, not {sys.platform}"
    try:
        dll = ctypes.WinDLL("iphlpapi.dll", use_last_error=True)
    except OSError as exc:
        return f"unsupported: iphlpapi.dll: {exc}"
    handle, dword, word, pointer = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint16, ctypes.c_void_p
    options = ctypes.POINTER(IP_OPTION_INFORMATION)
    address6 = ctypes.POINTER(SOCKADDR_IN6)
    for create in (dll.IcmpCreateFile, dll.Icmp6CreateFile):
        create.restype, create.argtypes = handle, []
    dll.IcmpCloseHandle.restype, dll.IcmpCloseHandle.argtypes = ctypes.c_int, [handle]
    dll.IcmpSendEcho2.restype = dword
    dll.IcmpSendEcho2.argtypes = [
        handle,
        handle,
        pointer,
        pointer,
        dword,
        pointer,
        word,
        options,
        pointer,
        dword,
        dword,
    ]
    dll.Icmp6SendEcho2.restype = dword
    dll.Icmp6SendEcho2.argtypes = [
        handle, handle, pointer, pointer, address6, address6, pointer, word, options, pointer, dword, dword,
    ]  # fmt: skip
    return IcmpApi(
        dll.IcmpCreateFile,
        dll.Icmp6CreateFile,
        dll.IcmpSendEcho2,
        dll.Icmp6SendEcho2,
        dll.IcmpCloseHandle,
        ctypes.get_last_error,
    )


@dataclass(frozen=True)
class _Target:
    address: str
    handle: Any
    v6: bool


class EchoProber:
    """The Windows prober of traceroute_hops.walk: one IcmpSendEcho2 per target and round, in threads."""

    def __init__(self, api: IcmpApi, targets: dict[str, _Target]) -> None:
        self._api = api
        self._targets = targets
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(MAX_THREADS, len(targets))), thread_name_prefix="traceroute"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # every call ends by its own timeout
        for target in self._targets.values():
            self._api.close_handle(target.handle)

    def round(self, targets: Sequence[str], ttl: int, timeout: float) -> dict[str, Hop]:
        """One echo request with ``ttl`` to each target at once; what answered each within ``timeout``."""
        milliseconds = max(1, int(timeout * 1000))
        calls = {
            self._pool.submit(self._echo, self._targets[address], ttl, milliseconds): address
            for address in targets
            if address in self._targets
        }
        done, _ = concurrent.futures.wait(calls, timeout=timeout + GRACE_SECONDS)
        answers: dict[str, Hop] = {}
        for call in done:
            hop = call.result()
            if hop is not None:
                answers[calls[call]] = hop
        return answers

    def _echo(self, target: _Target, ttl: int, milliseconds: int) -> Hop | None:
        options = IP_OPTION_INFORMATION(Ttl=ttl)
        reply = ctypes.create_string_buffer(REPLY_BYTES)
        data = ctypes.create_string_buffer(REQUEST_DATA, len(REQUEST_DATA))
        common = (data, len(REQUEST_DATA), ctypes.pointer(options), reply, REPLY_BYTES, milliseconds)
        try:
            if target.v6:
                source = SOCKADDR_IN6(sin6_family=WINDOWS_AF_INET6)
                destination = _sockaddr6(target.address)
                count = self._api.send_echo2_v6(
                    target.handle,
                    None,
                    None,
                    None,
                    ctypes.pointer(source),
                    ctypes.pointer(destination),
                    *common,
                )
            else:
                (destination4,) = struct.unpack("=I", socket.inet_aton(target.address))
                count = self._api.send_echo2(target.handle, None, None, None, destination4, *common)
            status, source_address = parse_reply(reply.raw, target.v6)
        except (OSError, ValueError, ctypes.ArgumentError):  # ValueError: MalformedReply, a bad address
            return None
        if count == 0:
            # No reply structure: the status is the thread's last error (IP_REQ_TIMED_OUT when nothing came).
            error = self._api.last_error()
            if error == IP_SUCCESS:
                return None
            if status != error:
                status, source_address = error, ""
        return hop_of_status(status, source_address)


def _sockaddr6(address: str) -> SOCKADDR_IN6:
    parsed = ipaddress.IPv6Address(address)
    scope = int(parsed.scope_id) if parsed.scope_id and parsed.scope_id.isdigit() else 0
    raw = (ctypes.c_ubyte * 16).from_buffer_copy(parsed.packed)
    return SOCKADDR_IN6(sin6_family=WINDOWS_AF_INET6, sin6_addr=raw, sin6_scope_id=scope)


def open_prober(addresses: Sequence[str], api: IcmpApi | None = None) -> tuple[EchoProber, dict[str, str]]:
    """A prober for ``addresses`` (IP literals), and {address: error} for those it cannot probe."""
    found = api if api is not None else iphlpapi()
    if isinstance(found, str):
        return EchoProber(_UNAVAILABLE, {}), dict.fromkeys(addresses, found)
    targets: dict[str, _Target] = {}
    errors: dict[str, str] = {}
    for address in addresses:
        v6 = ":" in address
        handle = (found.create_file6 if v6 else found.create_file)()
        if handle in (None, 0, INVALID_HANDLE_VALUE):
            errors[address] = f"failed: Icmp{'6' if v6 else ''}CreateFile: error {found.last_error()}"
        else:
            targets[address] = _Target(address, handle, v6)
    return EchoProber(found, targets), errors


def _none(*_: object) -> None:
    return None


_UNAVAILABLE = IcmpApi(_none, _none, lambda *_: 0, lambda *_: 0, _none, lambda: 0)
