"""ICMP echo check over IPv4 and IPv6: round-trip times and loss of a short burst of pings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import sys

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.addressing import SYSTEM, Address, Attempt, LookupFailed, try_each
from fleetwatch_agent.probes.connectivity.icmppacket import (
    DEST_UNREACHABLE,
    DEST_UNREACHABLE_V6,
    ECHO_REPLY,
    ECHO_REPLY_V6,
    NONCE_BYTES,
    TIME_EXCEEDED,
    TIME_EXCEEDED_V6,
    Burst,
    IcmpMessage,
    Kind,
    build_echo_request,
    make_payload,
    parse_extended_error,
    parse_icmp,
    parse_icmp6,
)
from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason, from_rtts

RECV_BYTES = 4096
MAX_READS = 256
# Linux: raw socket options that drop ICMP types we never read (bit set = type blocked).
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
# Linux: deliver ICMP errors for a datagram socket to its error queue (not in Python 3.11's socket).
IP_RECVERR = 11
IPV6_RECVERR = 25
# The wait for a name lookup when icmp_echo is called directly (the probe passes its deadline).
LOOKUP_SECONDS = 5.0


def _blocked(*allowed: int, words: int) -> bytes:
    mask = [0xFFFFFFFF] * words
    for kind in allowed:
        mask[kind >> 5] &= ~(1 << (kind & 31)) & 0xFFFFFFFF
    return struct.pack(f"={words}I", *mask)


def open_icmp_socket(family: int = socket.AF_INET) -> tuple[socket.socket, bool] | str:
    """(socket, is_raw) for sending echo requests of ``family``, or why none can be opened."""
    # An unprivileged datagram socket first (Linux needs the process's group in net.ipv4.ping_group_range,
    # which covers IPv6 too; macOS allows it), else a raw socket (root or CAP_NET_RAW; an administrator on
    # Windows).
    v6 = family == socket.AF_INET6
    protocol = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM, protocol)
    except OSError as dgram_error:
        try:
            sock = socket.socket(family, socket.SOCK_RAW, protocol)
        except OSError as raw_error:
            dgram_why = dgram_error.strerror or str(dgram_error)
            return f"datagram socket: {dgram_why}; raw socket: {raw_error.strerror or raw_error}"
        if sys.platform.startswith("linux"):  # only an optimisation: unrelated packets are ignored anyway
            with contextlib.suppress(OSError):
                if v6:
                    allowed = _blocked(ECHO_REPLY_V6, DEST_UNREACHABLE_V6, TIME_EXCEEDED_V6, words=8)
                    sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, allowed)
                else:
                    sock.setsockopt(
                        SOL_RAW, ICMP_FILTER, _blocked(ECHO_REPLY, DEST_UNREACHABLE, TIME_EXCEEDED, words=1)
                    )
        return sock, True
    if sys.platform.startswith("linux"):  # without it, routers' "unreachable" answers end as timeouts
        with contextlib.suppress(OSError):
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
    return sock, False


def _drain_errors(sock: socket.socket, burst: Burst, v6: bool) -> None:
    """Linux datagram sockets: ICMP errors about our requests wait in the socket's error queue."""
    if sys.platform == "win32":  # no error queue (nor recvmsg)
        return
    flag = getattr(socket, "MSG_ERRQUEUE", 0)
    level, option = (socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else (socket.SOL_IP, IP_RECVERR)
    unreachable, exceeded = (
        (DEST_UNREACHABLE_V6, TIME_EXCEEDED_V6) if v6 else (DEST_UNREACHABLE, TIME_EXCEEDED)
    )
    for _ in range(MAX_READS if flag and not burst.raw else 0):
        try:
            packet, ancillary, _, _ = sock.recvmsg(RECV_BYTES, 1024, flag)
        except OSError:  # BlockingIOError: queue empty
            break
        for cmsg_level, cmsg_type, data in ancillary:
            error = parse_extended_error(data) if (cmsg_level, cmsg_type) == (level, option) else None
            if error is None or error[1] not in (unreachable, exceeded) or len(packet) < 8:
                continue
            # The error queue returns our own request: its sequence says which one failed.
            sequence = struct.unpack("!H", packet[6:8])[0]
            kind: Kind = "unreachable" if error[1] == unreachable else "time_exceeded"
            burst.on_message(IcmpMessage(kind, error[2], 0, sequence, b"", error[3]), aio.now())


def _drain(sock: socket.socket, burst: Burst, v6: bool) -> None:
    """Read what is queued (replies, then Linux's error queue) without blocking, at most MAX_READS."""
    # The bound keeps a flood of unrelated ICMP from holding the burst past its deadline.
    for _ in range(MAX_READS):
        try:
            packet, peer = sock.recvfrom(RECV_BYTES)
        except BlockingIOError:
            break
        except OSError as exc:  # an ICMP error reported on the socket itself
            burst.on_socket_error(exc)
            continue
        message = parse_icmp6(packet, str(peer[0]).split("%")[0]) if v6 else parse_icmp(packet)
        burst.on_message(message, aio.now())
    _drain_errors(sock, burst, v6)


async def ping(address: Address, count: int, timeout: float, interval: float, deadline: float) -> Attempt:
    """One burst to ``address``: ``count`` echo requests ``interval`` apart, then ``timeout`` for the last."""
    # Ends at the burst's end or at ``deadline``, whichever comes first. The address answered when an echo
    # reply came; "unsupported" when no ICMP socket of its family can be opened.
    v6 = address.family == socket.AF_INET6
    opened = open_icmp_socket(address.family)
    if isinstance(opened, str):
        need = (
            "root or net.ipv4.ping_group_range"
            if sys.platform.startswith("linux")
            else "administrator rights"
        )
        detail = f"ICMP{'v6' if v6 else ''} needs {need} ({opened})"
        return Attempt(CheckResult(False, error="unsupported", detail=detail), False)
    sock, raw = opened
    loop = asyncio.get_running_loop()
    burst = Burst(int.from_bytes(os.urandom(2), "big"), os.urandom(NONCE_BYTES), raw)
    woken = asyncio.Event()

    def on_readable() -> None:
        _drain(sock, burst, v6)
        woken.set()

    with sock:
        sock.setblocking(False)
        payload = make_payload(burst.nonce)
        start = aio.now()
        end = min(deadline, start + (count - 1) * interval + timeout)
        sequence = 0
        loop.add_reader(sock.fileno(), on_readable)
        try:
            while True:
                now = aio.now()
                if sequence < count and now >= start + sequence * interval and now < end:
                    packet = build_echo_request(burst.identifier, sequence, payload, v6)
                    try:
                        sock.sendto(packet, address.sockaddr())
                        burst.sent_at[sequence] = aio.now()
                    except OSError as exc:
                        burst.on_socket_error(exc)
                    sequence += 1
                    continue
                if now >= end or (sequence >= count and not burst.outstanding()):
                    break
                wake = end if sequence >= count else min(end, start + sequence * interval)
                woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), max(0.0, wake - now))
        finally:
            loop.remove_reader(sock.fileno())
    return Attempt(_verdict(burst, sequence, str(address), timeout), bool(burst.rtts))


def _verdict(burst: Burst, sent: int, target: str, timeout: float) -> CheckResult:
    error: ErrorReason = ""
    detail = ""
    if not burst.rtts:
        if burst.unreachable:
            error, detail = "unreachable", burst.unreachable
        elif burst.other_error and not burst.sent_at:
            error, detail = "other", burst.other_error
        else:
            error, detail = "timeout", f"no reply from {target} within {timeout:g} s"
    return from_rtts(sent, burst.rtts, error, detail)


def icmp_echo(
    address: str, count: int = 5, timeout: float = 1.0, interval: float = 0.2, deadline: float | None = None
) -> CheckResult:
    """Ping ``address`` (an IPv4 or IPv6 literal, or a name): one burst to each address until one answers."""
    # Replies are matched by sequence, payload nonce and, on raw sockets, identifier; anything else on the
    # socket is ignored. RTTs use the monotonic clock. No answer at all gives "unreachable" when a router said
    # so (ICMP destination unreachable / time exceeded, or ENETUNREACH from the local stack), else "timeout".
    # A name is looked up first ("dns_error" when it has no address); each burst takes at most (count - 1) *
    # interval + timeout, and everything ends by ``deadline`` (monotonic seconds; by default the bursts of two
    # addresses after a lookup).
    if not 1 <= count <= 0xFFFF or timeout <= 0 or interval < 0:
        return CheckResult(False, error="other", detail="count must be 1..65535, timeout > 0, interval >= 0")
    burst_seconds = (count - 1) * interval + timeout
    until = deadline if deadline is not None else aio.now() + LOOKUP_SECONDS + 2 * burst_seconds

    async def check() -> CheckResult:
        try:
            addresses = await SYSTEM.resolve(address, until)
        except LookupFailed as exc:
            return CheckResult(False, count, error=exc.error, detail=exc.detail)
        return await try_each(addresses, lambda a: ping(a, count, timeout, interval, until), until)

    return aio.run(check())
