"""The Windows traceroute (IcmpSendEcho2 with a TTL) against fakes of the iphlpapi.dll functions."""
# Windows cannot run here. The fakes take the arguments the module passes to the real functions (ctypes
# objects: the TTL in IP_OPTION_INFORMATION, IPAddr, SOCKADDR_IN6, the reply buffer) and write into the reply
# buffer structures HAND-MADE from the documented layouts (ipexport.h): ICMP_ECHO_REPLY (64-bit: Address,
# Status, RoundTripTime, DataSize, Reserved, Data pointer, IP_OPTION_INFORMATION; 40 bytes) and
# ICMPV6_ECHO_REPLY (IPV6_ADDRESS_EX packed to 1 byte: port, flowinfo, sin6_addr, scope id; then Status at
# 28 and RoundTripTime; 36 bytes). None of these bytes were recorded on Windows.

from __future__ import annotations

import ctypes
import socket
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from fleetwatch_agent.probes.connectivity import traceroute, traceroute_windows
from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute_hops import Hop, walk
from fleetwatch_agent.probes.connectivity.traceroute_windows import (
    INVALID_HANDLE_VALUE,
    IP_DEST_HOST_UNREACHABLE,
    IP_DEST_NET_UNREACHABLE,
    IP_GENERAL_FAILURE,
    IP_OPTION_INFORMATION,
    IP_REQ_TIMED_OUT,
    IP_SUCCESS,
    IP_TTL_EXPIRED_TRANSIT,
    SOCKADDR_IN6,
    IcmpApi,
    MalformedReply,
    hop_of_status,
    open_prober,
    parse_reply,
)

TARGET, TARGET6 = "192.0.2.10", "2001:db8:5::10"
ROUTER, ROUTER6 = "198.51.100.1", "2001:db8:1::1"


def echo_reply(status: int, address: str, rtt: int = 3) -> bytes:
    """A hand-made 64-bit ICMP_ECHO_REPLY."""
    options = struct.pack("<BBBB4xQ", 64, 0, 0, 0, 0)  # IP_OPTION_INFORMATION: Ttl, Tos, Flags, Size, Data
    return (
        struct.pack("<4sIIHH", socket.inet_aton(address), status, rtt, 32, 0) + struct.pack("<Q", 0) + options
    )


def echo_reply_v6(status: int, address: str, rtt: int = 3) -> bytes:
    """A hand-made ICMPV6_ECHO_REPLY: packed IPV6_ADDRESS_EX (26 bytes), 2 bytes of padding, Status, RTT."""
    address_ex = struct.pack("<HI16sI", 0, 0, socket.inet_pton(socket.AF_INET6, address), 0)
    return address_ex + b"\0\0" + struct.pack("<II", status, rtt)


Answer = tuple[int, int, str]  # (return value of the call, Status or last error, address in the reply)


class FakeIphlpapi:
    """Fakes of IcmpCreateFile, Icmp6CreateFile, IcmpSendEcho2, Icmp6SendEcho2, IcmpCloseHandle."""

    def __init__(
        self, answers: dict[tuple[str, int], Answer], barrier: threading.Barrier | None = None
    ) -> None:
        self.answers = answers
        self.barrier = barrier
        self.calls: list[dict[str, Any]] = []
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.refuse_handles = False
        self._errors = threading.local()
        self._lock = threading.Lock()

    def api(self) -> IcmpApi:
        return IcmpApi(
            self.create_file, self.create_file, self.send_echo2, self.send_echo2_v6, self.close, self.error
        )

    def create_file(self) -> int | None:
        if self.refuse_handles:
            self._errors.value = 5  # ERROR_ACCESS_DENIED
            return INVALID_HANDLE_VALUE
        with self._lock:
            self.opened.append(1000 + len(self.opened))
            return self.opened[-1]

    def close(self, handle: int) -> int:
        self.closed.append(handle)
        return 1

    def error(self) -> int:
        return int(getattr(self._errors, "value", 0))

    def send_echo2(
        self, handle: int, event: None, apc: None, context: None, destination: int, *rest: Any
    ) -> int:
        address = socket.inet_ntoa(struct.pack("=I", destination))
        return self._answer(handle, (event, apc, context), address, False, *rest)

    def send_echo2_v6(
        self, handle: int, event: None, apc: None, context: None, source: Any, destination: Any, *rest: Any
    ) -> int:
        assert source.contents.sin6_family == 23 and bytes(source.contents.sin6_addr) == bytes(16)
        assert destination.contents.sin6_family == 23
        address = socket.inet_ntop(socket.AF_INET6, bytes(destination.contents.sin6_addr))
        return self._answer(handle, (event, apc, context), address, True, *rest)

    def _answer(
        self,
        handle: int,
        asynchronous: tuple[None, None, None],
        address: str,
        v6: bool,
        data: Any,
        size: int,
        options: Any,
        reply: Any,
        reply_size: int,
        timeout: int,
    ) -> int:
        ttl = options.contents.Ttl
        with self._lock:
            self.calls.append(
                {
                    "handle": handle,
                    "address": address,
                    "ttl": ttl,
                    "timeout": timeout,
                    "data": data.raw[:size],
                }
            )
        assert asynchronous == (None, None, None)  # synchronous calls: no event, no APC routine
        assert reply_size == ctypes.sizeof(reply) >= 40 + size + 8
        if self.barrier is not None:
            self.barrier.wait()
        returned, status, source = self.answers.get((address, ttl), (0, IP_REQ_TIMED_OUT, ""))
        if source:
            structure = echo_reply_v6(status, source) if v6 else echo_reply(status, source)
            ctypes.memmove(reply, structure, len(structure))
        if returned == 0:
            self._errors.value = status
        return returned


def prober_for(fake: FakeIphlpapi, addresses: Sequence[str]) -> traceroute_windows.EchoProber:
    prober, errors = open_prober(addresses, fake.api())
    assert errors == {}
    return prober


# ---- pure: reply structures and statuses -------------------------------------------------------------


def test_parse_reply_reads_the_documented_offsets() -> None:
    assert parse_reply(echo_reply(IP_TTL_EXPIRED_TRANSIT, ROUTER), False) == (IP_TTL_EXPIRED_TRANSIT, ROUTER)
    assert parse_reply(echo_reply_v6(IP_SUCCESS, TARGET6), True) == (IP_SUCCESS, TARGET6)
    # ICMP_ECHO_REPLY32 (a 32-bit process) has Address and Status at the same offsets.
    reply32 = struct.pack("<4sIIHHI", socket.inet_aton(ROUTER), IP_TTL_EXPIRED_TRANSIT, 1, 32, 0, 0) + bytes(
        8
    )
    assert parse_reply(reply32, False) == (IP_TTL_EXPIRED_TRANSIT, ROUTER)


@pytest.mark.parametrize(("buffer", "v6"), [(b"", False), (bytes(7), False), (bytes(31), True)])
def test_short_reply_buffers_are_a_clean_error(buffer: bytes, v6: bool) -> None:
    with pytest.raises(MalformedReply):
        parse_reply(buffer, v6)


@pytest.mark.parametrize(
    ("status", "source", "expected"),
    [
        (IP_SUCCESS, TARGET, Hop("reached", TARGET, "echo reply")),
        (IP_TTL_EXPIRED_TRANSIT, ROUTER, Hop("transit", ROUTER, "TTL expired in transit")),
        (IP_TTL_EXPIRED_TRANSIT, ROUTER6, Hop("transit", ROUTER6, "TTL expired in transit")),
        (IP_REQ_TIMED_OUT, "", None),
        (IP_REQ_TIMED_OUT, "0.0.0.0", None),
        (
            IP_DEST_HOST_UNREACHABLE,
            ROUTER,
            Hop("unreachable", ROUTER, "IP_STATUS 11003 destination host unreachable"),
        ),
        (
            IP_DEST_NET_UNREACHABLE,
            ROUTER6,
            Hop("unreachable", ROUTER6, "IP_STATUS 11002 destination network unreachable"),
        ),
        # no router named: this host has no route, the path ends here without a hop
        (
            IP_DEST_NET_UNREACHABLE,
            "0.0.0.0",
            Hop("local", "", "IP_STATUS 11002 destination network unreachable"),
        ),
        (IP_DEST_HOST_UNREACHABLE, "::", Hop("local", "", "IP_STATUS 11003 destination host unreachable")),
        (
            IP_GENERAL_FAILURE,
            "",
            Hop("local", "", "IP_STATUS 11050", "failed: IcmpSendEcho2 answered IP_STATUS 11050"),
        ),
    ],
)
def test_statuses_are_hops(status: int, source: str, expected: Hop | None) -> None:
    assert hop_of_status(status, source) == expected


def test_structures_have_the_windows_layout() -> None:
    pointer = ctypes.sizeof(ctypes.c_void_p)
    assert ctypes.sizeof(IP_OPTION_INFORMATION) == 2 * pointer  # 4 bytes, padding, OptionsData
    assert IP_OPTION_INFORMATION.OptionsData.offset == pointer
    assert ctypes.sizeof(SOCKADDR_IN6) == 28
    assert SOCKADDR_IN6.sin6_addr.offset == 8 and SOCKADDR_IN6.sin6_scope_id.offset == 24


# ---- the prober against the fake functions --------------------------------------------------------------


def test_a_round_sends_the_ttl_to_each_target_and_reads_each_reply() -> None:
    fake = FakeIphlpapi(
        {
            (TARGET, 2): (1, IP_TTL_EXPIRED_TRANSIT, ROUTER),
            (TARGET6, 2): (1, IP_TTL_EXPIRED_TRANSIT, ROUTER6),
            ("192.0.2.11", 2): (1, IP_SUCCESS, "192.0.2.11"),
        }
    )
    prober = prober_for(fake, [TARGET, TARGET6, "192.0.2.11", "192.0.2.12"])
    answers = prober.round([TARGET, TARGET6, "192.0.2.11", "192.0.2.12"], 2, 0.25)
    prober.close()
    assert answers == {
        TARGET: Hop("transit", ROUTER, "TTL expired in transit"),
        TARGET6: Hop("transit", ROUTER6, "TTL expired in transit"),
        "192.0.2.11": Hop("reached", "192.0.2.11", "echo reply"),
    }
    assert sorted((c["address"], c["ttl"], c["timeout"]) for c in fake.calls) == [
        ("192.0.2.10", 2, 250),
        ("192.0.2.11", 2, 250),
        ("192.0.2.12", 2, 250),
        (TARGET6, 2, 250),
    ]
    assert {c["data"] for c in fake.calls} == {traceroute_windows.REQUEST_DATA}
    assert len(set(fake.opened)) == 4 and sorted(fake.closed) == sorted(fake.opened)


def test_the_calls_of_a_round_run_at_the_same_time() -> None:
    """Each fake call waits until all three are under way: a round that called them one by one would fail."""
    targets = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    fake = FakeIphlpapi(
        {(t, 1): (1, IP_TTL_EXPIRED_TRANSIT, ROUTER) for t in targets}, threading.Barrier(3, timeout=10)
    )
    prober = prober_for(fake, targets)
    try:
        assert prober.round(targets, 1, 5.0) == dict.fromkeys(
            targets, Hop("transit", ROUTER, "TTL expired in transit")
        )
    finally:
        prober.close()


def test_no_reply_structure_takes_the_status_from_the_last_error() -> None:
    fake = FakeIphlpapi(
        {
            ("192.0.2.1", 1): (0, IP_TTL_EXPIRED_TRANSIT, ROUTER),  # 0 returned, the status in the buffer too
            ("192.0.2.2", 1): (0, IP_REQ_TIMED_OUT, ""),
            ("192.0.2.3", 1): (0, IP_SUCCESS, ""),  # 0 returned and no error: nothing to read
            ("192.0.2.4", 1): (0, IP_GENERAL_FAILURE, ""),
        }
    )
    targets = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    prober = prober_for(fake, targets)
    answers = prober.round(targets, 1, 0.1)
    prober.close()
    assert answers == {
        "192.0.2.1": Hop("transit", ROUTER, "TTL expired in transit"),
        "192.0.2.4": Hop("local", "", "IP_STATUS 11050", "failed: IcmpSendEcho2 answered IP_STATUS 11050"),
    }


def test_handles_that_cannot_be_opened_are_errors_of_their_addresses() -> None:
    fake = FakeIphlpapi({})
    fake.refuse_handles = True
    prober, errors = open_prober([TARGET, TARGET6], fake.api())
    prober.close()
    assert errors == {TARGET: "failed: IcmpCreateFile: error 5", TARGET6: "failed: Icmp6CreateFile: error 5"}


@pytest.mark.skipif(sys.platform == "win32", reason="the real iphlpapi.dll is there")
def test_without_windows_every_address_is_unsupported() -> None:
    prober, errors = open_prober([TARGET])
    prober.close()
    assert errors[TARGET].startswith("unsupported: IcmpSendEcho2 exists on Windows only")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_walk_over_the_windows_prober_names_the_breaking_hop() -> None:
    """Hop 1 answers, hop 2 says host unreachable: the same PathResult as the Linux probes give."""
    fake = FakeIphlpapi(
        {
            (TARGET, 1): (1, IP_TTL_EXPIRED_TRANSIT, ROUTER),
            (TARGET, 2): (1, IP_DEST_HOST_UNREACHABLE, "198.51.100.2"),
            (TARGET6, 1): (1, IP_TTL_EXPIRED_TRANSIT, ROUTER6),
        }
    )
    clock = FakeClock()
    prober = prober_for(fake, [TARGET, TARGET6])
    try:
        paths = walk(prober, [TARGET, TARGET6], 8, 0.05, 60.0, clock, clock.sleep)
    finally:
        prober.close()
    assert paths == {TARGET: PathResult(2, "198.51.100.2", False), TARGET6: PathResult(1, ROUTER6, False)}
    assert [c["ttl"] for c in fake.calls if c["address"] == TARGET6] == [1, 2, 2, 3, 4]


def test_run_traceroutes_with_the_windows_prober() -> None:
    fake = FakeIphlpapi(
        {(TARGET, 1): (1, IP_TTL_EXPIRED_TRANSIT, ROUTER), (TARGET, 2): (1, IP_SUCCESS, TARGET)}
    )
    opener: Callable[[Sequence[str], str], Any] = lambda addresses, _: open_prober(addresses, fake.api())  # noqa: E731
    assert traceroute.run_traceroutes([TARGET], 8, 4.0, opener=opener) == {
        TARGET: PathResult(2, TARGET, True)
    }
    assert {c["timeout"] for c in fake.calls} == {500}  # per_hop_timeout(8, 4.0)
