"""One device's SNMPv1/v2c requests over a UDP socket of its own, in BER (ber.py); answers as plain values.

The poll of one device is a sequence of requests, one in flight at a time, so a session is a UDP
socket connected to the device: the kernel drops datagrams from any other address, and an answer
is the datagram that carries the request's id, version and community. An attempt waits
``timeout_seconds``; a retry sends the same request again (same id: a late answer to the first try
is as good). No answer after ``retries`` retries is a timeout, as is a wrong community (a device
says nothing to a community it does not know); a datagram that is not a readable response is
ignored while waiting, and named in the timeout's text when nothing better came.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Sequence

from fleetwatch_snmp import ber, errors
from fleetwatch_snmp.errors import PollError
from fleetwatch_snmp.oids import Oid
from fleetwatch_snmp.target import DeviceTarget
from fleetwatch_snmp.values import Answer

# Datagrams kept while no request waits for them (late answers, noise): the rest are dropped.
_MAX_QUEUED = 64


class _Datagrams(asyncio.DatagramProtocol):
    """The datagrams of a connected UDP socket, queued; the last socket error kept."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(_MAX_QUEUED)
        self.refused = False

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected socket: nothing listens there. Still a timeout for
        # the poll (as for pysnmp and net-snmp), with a better text.
        if isinstance(exc, ConnectionRefusedError):
            self.refused = True


class CommunitySession:
    """Requests to one device with an SNMPv1 or v2c community; ``open`` connects, ``close`` ends."""

    def __init__(
        self, transport: asyncio.DatagramTransport, datagrams: _Datagrams, target: DeviceTarget
    ) -> None:
        self._transport = transport
        self._datagrams = datagrams
        self._version = ber.VERSION_NUMBERS[target.credential.version]
        self._community = target.credential.community.encode()
        self._timeout = target.timeout_seconds
        self._attempts = target.retries + 1
        self._request_id = int.from_bytes(os.urandom(4), "big") % ber.MAX_REQUEST_ID

    @classmethod
    async def open(cls, target: DeviceTarget) -> CommunitySession:
        """A session with ``target`` (a v1 or v2c credential); a host name is looked up here."""
        family, address = await resolve(target.host, target.port)
        loop = asyncio.get_running_loop()
        transport, datagrams = await loop.create_datagram_endpoint(
            _Datagrams, remote_addr=address, family=family
        )
        return cls(transport, datagrams, target)

    def close(self) -> None:
        self._transport.close()

    async def get(self, oids: Sequence[Oid]) -> Answer:
        return await self._ask(ber.GET, oids)

    async def next(self, oids: Sequence[Oid]) -> Answer:
        return await self._ask(ber.GETNEXT, oids)

    async def bulk(self, oids: Sequence[Oid], max_repetitions: int) -> Answer:
        return await self._ask(ber.GETBULK, oids, max_repetitions)

    async def _ask(self, pdu_type: int, oids: Sequence[Oid], max_repetitions: int = 0) -> Answer:
        self._request_id = self._request_id % ber.MAX_REQUEST_ID + 1
        request_id = self._request_id
        message = ber.encode_request(
            self._version, self._community, pdu_type, request_id, oids, max_repetitions
        )
        unreadable: str | None = None
        loop = asyncio.get_running_loop()
        queue = self._datagrams.queue
        while not queue.empty():  # late answers to earlier requests
            queue.get_nowait()
        self._datagrams.refused = False
        for _attempt in range(self._attempts):
            self._transport.sendto(message)
            until = loop.time() + self._timeout
            while (left := until - loop.time()) > 0:
                try:
                    data = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                try:
                    response = ber.decode_response(data)
                except ber.BerError as exc:
                    unreadable = str(exc)
                    continue
                if (
                    response.request_id == request_id
                    and response.version == self._version
                    and response.community == self._community
                ):
                    return Answer(None, response.status, response.index, response.varbinds)
        if unreadable is not None:
            return Answer(PollError(errors.MALFORMED, f"unreadable answer: {unreadable}"), 0, 0, [])
        if self._datagrams.refused:
            return Answer(PollError(errors.TIMEOUT, "no answer: the device's SNMP port is closed"), 0, 0, [])
        return Answer(PollError(errors.TIMEOUT, errors.NO_ANSWER), 0, 0, [])


async def resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The address family and socket address of ``host`` (an IP literal, or a name looked up)."""
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _type, _proto, _name, sockaddr = found[0]
        return family, (str(sockaddr[0]), port)
    return (socket.AF_INET6 if literal.version == 6 else socket.AF_INET), (host, port)
