"""Linux traceroute probes without privileges: ICMP or UDP datagram sockets with a TTL, and IP_RECVERR."""
# Like tracepath: each target gets one datagram socket with IP_RECVERR (IPV6_RECVERR) set, and each probe is
# sent with IP_TTL (IPV6_UNICAST_HOPS) set to its hop. The ICMP errors routers send back (time exceeded,
# destination unreachable) land in the socket's error queue with the router's address; the destination's
# own answer (an echo reply, or ICMP port unreachable for UDP) ends the path. Neither root nor CAP_NET_RAW:
# - ICMP echo over an ICMP datagram socket ("ping socket") when the process's group is in
#   net.ipv4.ping_group_range (it covers IPv6 too); the same probes as ping and as the ICMP checks;
# - else UDP to ports 33434-33533, which any process may send.
# The rounds themselves (which TTL, who is asked again) are traceroute_hops.walk's.

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetwatch_agent.probes.connectivity.icmppacket import (
    UNREACHABLE_ERRNOS,
    build_echo_request,
    make_payload,
    parse_icmp,
    parse_icmp6,
)
from fleetwatch_agent.probes.connectivity.traceroute_hops import Hop
from fleetwatch_agent.probes.connectivity.traceroute_recverr import (
    IP_RECVERR,
    IPV6_RECVERR,
    PORT_SPAN,
    MalformedError,
    icmp_probe_of,
    parse_error_message,
    probe_port,
    udp_probe_of,
)

Protocol = Literal["auto", "icmp", "udp"]
PROTOCOLS: tuple[Protocol, ...] = ("auto", "icmp", "udp")
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
RECV_BYTES = 2048
ANCILLARY_BYTES = 512
# A socket's queues are read at most this many times per wake-up: unrelated traffic cannot hold a round.
MAX_READS = 64
UDP_PAYLOAD = bytes(32)
NONCE = b"fwtrace!"


@dataclass
class _Target:
    """One traced address: its socket, and the TTL of each probe sent (by sequence, or port offset)."""

    address: str
    sockaddr: tuple[Any, ...]
    sock: socket.socket
    icmp: bool
    v6: bool
    sent: dict[int, int] = field(default_factory=dict)
    number: int = 0

    def key(self) -> int:
        """What identifies the next probe in its answers: its echo sequence, or its port's offset."""
        return self.number & 0xFFFF if self.icmp else self.number % PORT_SPAN


def _bare(address: str) -> str:
    return address.split("%", 1)[0]


def _open(address: str, protocol: Protocol) -> _Target | str:
    """A non-blocking socket with IP_RECVERR for ``address``, or the PathResult error why there is none."""
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(
            address, None, socket.AF_UNSPEC, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST
        )[0]
    except (OSError, UnicodeError) as exc:
        return f"invalid_argument: {address}: {exc}"
    v6 = family == socket.AF_INET6
    sock: socket.socket | None = None
    why = ""
    if protocol in ("auto", "icmp"):
        try:
            sock = socket.socket(
                family, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
            )
        except OSError as exc:
            why = f"ICMP datagram socket: {exc.strerror or exc} (net.ipv4.ping_group_range)"
            if protocol == "icmp":
                return f"not_permitted: {why}"
    icmp = sock is not None
    if sock is None:
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        except OSError as exc:
            return f"unsupported: {why + '; ' if why else ''}UDP socket: {exc.strerror or exc}"
    try:
        sock.setblocking(False)
        level, option = (socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else (socket.IPPROTO_IP, IP_RECVERR)
        sock.setsockopt(level, option, 1)
    except OSError as exc:
        sock.close()
        return f"unsupported: {'IPV6_RECVERR' if v6 else 'IP_RECVERR'}: {exc.strerror or exc}"
    return _Target(address, tuple(sockaddr), sock, icmp, v6)


class DatagramProber:
    """The Linux prober of traceroute_hops.walk (see the module comment)."""

    def __init__(self, targets: dict[str, _Target]) -> None:
        self._targets = targets

    @property
    def protocols(self) -> dict[str, str]:
        """{address: "icmp" or "udp"}: what each target is probed with."""
        return {a: "icmp" if t.icmp else "udp" for a, t in self._targets.items()}

    def close(self) -> None:
        for target in self._targets.values():
            target.sock.close()

    def round(self, targets: Sequence[str], ttl: int, timeout: float) -> dict[str, Hop]:
        """Send one probe with ``ttl`` to each target, and wait up to ``timeout`` for what answers them."""
        answers: dict[str, Hop] = {}
        waiting: dict[int, _Target] = {}
        for address in targets:
            target = self._targets.get(address)
            if target is None:
                continue
            # An answer to an earlier probe of this TTL may have arrived since: it counts, nothing is sent.
            hop = self._read(target, ttl) or self._send(target, ttl)
            if hop is not None:
                answers[address] = hop
            else:
                waiting[target.sock.fileno()] = target
        with selectors.DefaultSelector() as selector:
            for target in waiting.values():
                selector.register(target.sock, selectors.EVENT_READ, target)
            end = time.monotonic() + timeout
            while waiting and (left := end - time.monotonic()) > 0:
                for key, _ in selector.select(left):
                    target = key.data
                    hop = self._read(target, ttl)
                    if hop is not None:
                        answers[target.address] = hop
                        selector.unregister(target.sock)
                        del waiting[target.sock.fileno()]
        return answers

    def _send(self, target: _Target, ttl: int) -> Hop | None:
        """Send the next probe; a Hop only when this host could not send it."""
        # The queues were just read, which leaves no error pending; SO_ERROR clears one that came without a
        # queued message, so sendto cannot fail with an earlier probe's error.
        with contextlib.suppress(OSError):
            target.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        key = target.key()
        if target.icmp:
            packet = build_echo_request(0, key, make_payload(NONCE), target.v6)
            destination = target.sockaddr
        else:
            packet = UDP_PAYLOAD
            destination = (target.sockaddr[0], probe_port(target.number), *target.sockaddr[2:])
        target.number += 1
        target.sent[key] = ttl
        try:
            level, option = (
                (socket.IPPROTO_IPV6, IPV6_UNICAST_HOPS) if target.v6 else (socket.IPPROTO_IP, socket.IP_TTL)
            )
            target.sock.setsockopt(level, option, ttl)
            target.sock.sendto(packet, destination)
        except (BlockingIOError, InterruptedError):
            return None  # the send buffer is full: this probe is lost, like a dropped one
        except OSError as exc:
            what = exc.strerror or str(exc)
            if exc.errno in UNREACHABLE_ERRNOS:  # no route from this host: the path ends here, a diagnosis
                return Hop("local", "", what)
            code = "not_permitted" if exc.errno in (errno.EPERM, errno.EACCES) else "failed"
            return Hop("local", "", what, f"{code}: sending to {target.address}: {what}")
        return None

    def _read(self, target: _Target, ttl: int) -> Hop | None:
        """Read both queues of the target's socket; the first answer to a probe with ``ttl``, if any."""
        found: Hop | None = None
        if sys.platform == "win32":  # no error queue, nor recvmsg (this module is for Linux)
            return None
        for _ in range(MAX_READS):
            try:
                payload, ancillary, _, address = target.sock.recvmsg(
                    RECV_BYTES, ANCILLARY_BYTES, MSG_ERRQUEUE
                )
            except OSError:  # BlockingIOError: the error queue is empty
                break
            key = icmp_probe_of(payload) if target.icmp else udp_probe_of(address)
            for level, kind, data in ancillary:
                try:
                    hop = parse_error_message(level, kind, data)
                except MalformedError:
                    continue
                if hop is not None and found is None and key is not None and target.sent.get(key) == ttl:
                    found = hop
        for _ in range(MAX_READS):
            try:
                packet, peer = target.sock.recvfrom(RECV_BYTES)
            except BlockingIOError:
                break
            except OSError:  # an ICMP error also reported on the socket itself: read from the queue already
                continue
            source = _bare(str(peer[0]))
            if target.icmp:
                message = parse_icmp6(packet, source) if target.v6 else parse_icmp(packet)
                key = message.sequence if message is not None and message.kind == "echo_reply" else None
                detail = "echo reply"
            else:  # the destination answered a UDP probe: it listens on that port
                key, detail = udp_probe_of(peer), "UDP reply"
            if found is None and key is not None and target.sent.get(key) == ttl:
                found = Hop("reached", source, detail)
        return found


def open_prober(
    addresses: Sequence[str], protocol: Protocol = "auto"
) -> tuple[DatagramProber, dict[str, str]]:
    """A prober for ``addresses`` (IP literals), and {address: error} for those it cannot probe."""
    targets: dict[str, _Target] = {}
    errors: dict[str, str] = {}
    for address in addresses:
        opened = _open(address, protocol)
        if isinstance(opened, str):
            errors[address] = opened
        else:
            targets[address] = opened
    return DatagramProber(targets), errors
