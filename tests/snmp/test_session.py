"""Answers as plain values; addresses as pysnmp transport domains."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pysnmp.proto import rfc1902, rfc1905

from fleetwatch_snmp.engines import UDP, UDP6
from fleetwatch_snmp.session import plain, resolve
from fleetwatch_snmp.values import Missing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (rfc1902.Integer32(-5), -5),
        (rfc1902.Counter32(4294967295), 4294967295),
        (rfc1902.Counter64(2**64 - 1), 2**64 - 1),
        (rfc1902.Gauge32(1000), 1000),
        (rfc1902.TimeTicks(123), 123),
        (rfc1902.OctetString(b"\xffGi0/1"), b"\xffGi0/1"),
        (rfc1902.IpAddress("127.0.0.1"), b"\x7f\x00\x00\x01"),
        (rfc1902.ObjectIdentifier((1, 3, 6, 1, 4, 1, 9)), "1.3.6.1.4.1.9"),
        (rfc1905.NoSuchObject(""), Missing.NO_SUCH_OBJECT),
        (rfc1905.NoSuchInstance(""), Missing.NO_SUCH_INSTANCE),
        (rfc1905.EndOfMibView(""), Missing.END_OF_MIB_VIEW),
    ],
)
def test_answers_as_plain_values(value: Any, expected: object) -> None:
    assert plain(value) == expected


def test_address_literals_as_transport_domains() -> None:
    assert asyncio.run(resolve("127.0.0.1", 1161)) == (UDP, ("127.0.0.1", 1161))
    assert asyncio.run(resolve("::1", 161)) == (UDP6, ("::1", 161))
