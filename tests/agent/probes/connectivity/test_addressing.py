"""Target addresses: host and port, loopback for every kind, lookups bounded, addresses tried in turn."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.addressing import (
    Address,
    Attempt,
    CycleResolver,
    LookupFailed,
    LookupPool,
    is_loopback_host,
    literal,
    split_host_port,
    try_each,
)
from fleetwatch_agent.probes.connectivity.checks import is_loopback_target
from fleetwatch_agent.probes.connectivity.model import CheckResult, from_rtts
from fleetwatch_agent.probes.connectivity.targets import PlannedTarget

V4 = socket.AF_INET
V6 = socket.AF_INET6


@pytest.mark.parametrize(
    ("address", "default", "expected"),
    [
        ("10.0.0.1:443", None, ("10.0.0.1", 443)),
        ("collector.example:50051", None, ("collector.example", 50051)),
        ("[::1]:8080", None, ("::1", 8080)),
        ("[fd00::1]", 53, ("fd00::1", 53)),
        ("fd00::53", 53, ("fd00::53", 53)),  # a bare IPv6 literal: no port in it
        ("::1", 0, ("::1", 0)),
        ("10.0.0.53", 53, ("10.0.0.53", 53)),
        ("fe80::1%eth0", 53, ("fe80::1%eth0", 53)),
    ],
)
def test_host_and_port(address: str, default: int | None, expected: tuple[str, int]) -> None:
    assert split_host_port(address, default) == expected


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("10.0.0.1", "is not host:port"),
        ("::1", "is not host:port"),  # an IPv6 literal alone has no port: write [::1]:80
        ("10.0.0.1:http", "port"),
        ("10.0.0.1:0", "port"),
        ("[::1]x", "[address]:port"),
        ("[::1", "[address]:port"),
    ],
)
def test_addresses_without_a_usable_port(address: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[")):
        split_host_port(address, None)


def test_literals_need_no_lookup() -> None:
    assert literal("127.0.0.1") == Address(V4, "127.0.0.1")
    assert literal("::1") == Address(V6, "::1")
    assert literal("FD00:0::1") == Address(V6, "fd00::1")
    assert literal("portal.example") is None
    assert literal("1.2.3") is None  # inet_aton would take it; a target must be written out


@pytest.mark.parametrize(
    ("kind", "address", "loopback"),
    [
        ("icmp", "127.0.0.1", True),
        ("icmp", "::1", True),
        ("icmp", "[::1]", True),
        ("icmp", "localhost", True),
        ("icmp", "::ffff:127.0.0.1", True),
        ("tcp", "[::1]:50051", True),
        ("tcp", "127.0.0.2:80", True),
        ("dns", "::1", True),
        ("dns", "[::1]:5353", True),
        ("http", "http://[::1]:8080/health", True),
        ("http", "https://localhost/", True),
        ("icmp", "10.0.0.1", False),
        ("icmp", "fd00::1", False),
        ("tcp", "[fd00::1]:80", False),
        ("http", "http://portal.example/", False),
        ("tcp", "::1", False),  # not host:port: refused, never checked
    ],
)
def test_loopback_only_treats_ipv6_loopback_as_loopback_for_every_kind(
    kind: Any, address: str, loopback: bool
) -> None:
    assert is_loopback_target(PlannedTarget("t", kind, "custom", address)) is loopback
    assert is_loopback_host("::1") and not is_loopback_host("::2")


# ---- lookups ---------------------------------------------------------------------------------------


def test_a_hanging_lookup_ends_at_the_deadline_and_the_pool_stays_bounded() -> None:
    release = threading.Event()
    started: list[str] = []

    def hanging(host: str, *args: object) -> list[tuple[Any, ...]]:
        started.append(host)
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    pool = LookupPool(max_threads=2, getaddrinfo=hanging)

    async def resolve_three() -> list[BaseException | list[Address]]:
        deadline = aio.now() + 0.5
        return await asyncio.gather(
            *(pool.resolve(name, deadline) for name in ("a.test", "b.test", "c.test")), return_exceptions=True
        )

    try:
        began = time.monotonic()
        outcomes = aio.run(resolve_three())
        elapsed = time.monotonic() - began
    finally:
        release.set()
    assert 0.45 <= elapsed < 1.0
    assert all(isinstance(o, LookupFailed) and o.error == "timeout" for o in outcomes), outcomes
    assert len(started) == 2  # the third waited for a slot that never freed
    details = sorted(str(o) for o in outcomes)
    assert "every lookup slot is busy" in details[0] or "every lookup slot is busy" in details[-1]


def test_a_failed_lookup_is_a_dns_error_and_literals_skip_the_pool() -> None:
    def no_such_name(host: str, *args: object) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    pool = LookupPool(getaddrinfo=no_such_name)
    with pytest.raises(LookupFailed) as failed:
        aio.run(pool.resolve("nowhere.test", aio.now() + 2))
    expected = ("dns_error", "nowhere.test: Name or service not known")
    assert (failed.value.error, failed.value.detail) == expected
    assert aio.run(pool.resolve("::1", aio.now() + 2)) == [Address(V6, "::1")]


def test_addresses_come_in_the_resolvers_order_once_each() -> None:
    answer = [
        (V6, socket.SOCK_STREAM, 6, "", ("fd00::2", 0, 0, 0)),
        (V4, socket.SOCK_STREAM, 6, "", ("10.0.0.2", 0)),
        (V4, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 0)),
        (V4, socket.SOCK_STREAM, 6, "", ("10.0.0.2", 0)),
    ]
    pool = LookupPool(getaddrinfo=lambda *args: answer)
    found = aio.run(pool.resolve("multi.test", aio.now() + 2))
    assert [str(a) for a in found] == ["fd00::2", "10.0.0.2", "10.0.0.1"]


def test_a_name_shared_by_targets_is_looked_up_once_per_cycle() -> None:
    calls: list[str] = []

    async def resolve(host: str, deadline: float) -> list[Address]:
        calls.append(host)
        await asyncio.sleep(0.1)
        return [Address(V4, "127.0.0.1")]

    async def both() -> list[list[Address]]:
        cycle = CycleResolver(aio.now() + 5, resolve)
        return await asyncio.gather(cycle("portal.test", aio.now() + 5), cycle("portal.test", aio.now() + 1))

    assert aio.run(both()) == [[Address(V4, "127.0.0.1")]] * 2
    assert calls == ["portal.test"]


# ---- trying each address ----------------------------------------------------------------------------

DEAD, LIVE = Address(V4, "10.0.0.1"), Address(V6, "fd00::2")


def checker(answering: set[Address]) -> Any:
    async def check(address: Address) -> Attempt:
        if address in answering:
            return Attempt(from_rtts(3, [0.01, 0.02, 0.01], detail="fine"), True)
        return Attempt(CheckResult(False, 3, error="timeout", detail=f"no reply from {address}"), False)

    return check


def test_the_first_address_that_answers_gives_the_verdict_and_names_the_others() -> None:
    result = aio.run(try_each([DEAD, LIVE], checker({LIVE}), aio.now() + 5))
    assert (result.success, result.address, result.received) == (True, "fd00::2", 3)
    assert result.detail == "fine (after 10.0.0.1: timeout)"


def test_when_none_answers_the_first_addresses_error_is_kept_and_each_is_named() -> None:
    result = aio.run(try_each([DEAD, Address(V4, "10.0.0.3")], checker(set()), aio.now() + 5))
    assert (result.success, result.error, result.address) == (False, "timeout", "10.0.0.1")
    assert result.detail == (
        "10.0.0.1: timeout (no reply from 10.0.0.1); 10.0.0.3: timeout (no reply from 10.0.0.3)"
    )


def test_addresses_left_when_the_deadline_comes_are_named_untried() -> None:
    async def slow(address: Address) -> Attempt:
        await asyncio.sleep(0.2)
        return Attempt(CheckResult(False, 1, error="timeout"), False)

    result = aio.run(try_each([DEAD, LIVE], slow, aio.now() + 0.1))
    assert (result.error, result.address) == ("timeout", "10.0.0.1")
    assert result.detail.endswith("not tried in time: fd00::2")
