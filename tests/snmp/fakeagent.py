"""A small SNMPv2c agent on 127.0.0.1 for the cases real agents do not show: bad GETBULK, silence.

It serves a fixed set of objects to GET and GETNEXT; GETBULK gets what ``bulk`` says: ``"answer"``
(correctly), ``"error"`` (genErr), ``"garbage"`` (variables that do not increase), ``"empty"`` (no
variables) or ``"ignore"`` (no answer). ``silent=True`` reads every datagram and answers none;
``v1_style=True`` answers a GET of a missing object with noSuchName, as SNMPv1 agents (and some v2c
ones) do.
"""

from __future__ import annotations

import bisect
import socket
import threading
from collections import Counter
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

Oid = tuple[int, ...]
NO_SUCH_NAME = 2
GEN_ERR = 5


def router_objects(interfaces: int = 3) -> dict[Oid, Any]:
    """A router's system group and ifTable/ifXTable rows (ethernet, up, 64-bit counters)."""
    objects: dict[Oid, Any] = {
        (1, 3, 6, 1, 2, 1, 1, 1, 0): v2c.OctetString(b"fake router"),
        (1, 3, 6, 1, 2, 1, 1, 2, 0): v2c.ObjectIdentifier((1, 3, 6, 1, 4, 1, 99999, 1)),
        (1, 3, 6, 1, 2, 1, 1, 3, 0): v2c.TimeTicks(12345),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): v2c.OctetString(b"fake-router"),
        (1, 3, 6, 1, 2, 1, 2, 1, 0): v2c.Integer(interfaces),  # ifNumber
    }
    for index in range(1, interfaces + 1):
        row = {
            (2, 2, 1, 1): v2c.Integer(index),
            (2, 2, 1, 2): v2c.OctetString(f"port{index}".encode()),
            (2, 2, 1, 3): v2c.Integer(6),
            (2, 2, 1, 5): v2c.Gauge32(100_000_000),
            (2, 2, 1, 7): v2c.Integer(1),
            (2, 2, 1, 8): v2c.Integer(1),
            (2, 2, 1, 10): v2c.Counter32(1000 * index),
            (2, 2, 1, 16): v2c.Counter32(2000 * index),
            (31, 1, 1, 1, 1): v2c.OctetString(f"Gi0/{index}".encode()),
            (31, 1, 1, 1, 6): v2c.Counter64(10**12 + index),
            (31, 1, 1, 1, 10): v2c.Counter64(2 * 10**12 + index),
            (31, 1, 1, 1, 15): v2c.Gauge32(1000),
        }
        for column, value in row.items():
            objects[(1, 3, 6, 1, 2, 1, *column, index)] = value
    return objects


class FakeAgent:
    """The agent, served from a thread; ``requests`` counts the PDUs received by type."""

    def __init__(
        self,
        objects: dict[Oid, Any],
        community: str = "fake",
        bulk: str = "answer",
        silent: bool = False,
        v1_style: bool = False,
    ) -> None:
        self.objects = objects
        self.community = community
        self.bulk = bulk
        self.silent = silent
        self.v1_style = v1_style
        self.requests: Counter[str] = Counter()
        self.repetitions: list[int] = []  # max-repetitions of each GETBULK
        self._oids = sorted(objects)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> FakeAgent:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.silent:
                self.requests["ignored"] += 1
                continue
            reply = self._answer(data)
            if reply is not None:
                self._socket.sendto(reply, peer)

    def _answer(self, data: bytes) -> bytes | None:
        message, _rest = decoder.decode(data, asn1Spec=v2c.Message())
        if bytes(v2c.apiMessage.get_community(message)) != self.community.encode():
            return None
        request = v2c.apiMessage.get_pdu(message)
        response = v2c.apiMessage.get_response(message)
        pdu = v2c.apiMessage.get_pdu(response)
        asked = [tuple(oid) for oid, _value in v2c.apiPDU.get_varbinds(request)]
        if request.isSameTypeWith(v2c.GetRequestPDU()):
            self.requests["get"] += 1
            answer = [(oid, self.objects.get(oid, v2c.NoSuchObject(""))) for oid in asked]
            missing = [position for position, oid in enumerate(asked, start=1) if oid not in self.objects]
            if self.v1_style and missing:
                v2c.apiPDU.set_error_status(pdu, NO_SUCH_NAME)
                v2c.apiPDU.set_error_index(pdu, missing[0])
                answer = [(oid, v2c.null) for oid in asked]
        elif request.isSameTypeWith(v2c.GetNextRequestPDU()):
            self.requests["getnext"] += 1
            answer = [self._next(oid) for oid in asked]
        elif request.isSameTypeWith(v2c.GetBulkRequestPDU()):
            self.requests["getbulk"] += 1
            self.repetitions.append(int(v2c.apiBulkPDU.get_max_repetitions(request)))
            if self.bulk == "ignore":
                return None
            if self.bulk == "error":
                v2c.apiPDU.set_error_status(pdu, GEN_ERR)
                v2c.apiPDU.set_error_index(pdu, 1)
                answer = [(oid, v2c.null) for oid in asked]
            elif self.bulk == "garbage":
                answer = [(oid, v2c.Integer(7)) for oid in asked] * 2
            elif self.bulk == "empty":
                answer = []
            else:
                answer = self._bulk(asked, int(v2c.apiBulkPDU.get_max_repetitions(request)))
        else:
            return None
        v2c.apiPDU.set_varbinds(pdu, answer)
        encoded: bytes = encoder.encode(response)
        return encoded

    def _next(self, oid: Oid) -> tuple[Oid, Any]:
        position = bisect.bisect_right(self._oids, oid)
        if position == len(self._oids):
            return oid, v2c.EndOfMibView("")
        following = self._oids[position]
        return following, self.objects[following]

    def _bulk(self, asked: list[Oid], repetitions: int) -> list[tuple[Oid, Any]]:
        rows, current = [], list(asked)
        for _ in range(repetitions):
            row = [self._next(oid) for oid in current]
            rows.extend(row)
            current = [oid for oid, _value in row]
        return rows
