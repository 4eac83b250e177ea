"""The traceroute's public side: the limiter, run_traceroutes' contract, real traces on loopback, the CLI."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetwatch_agent.probes.connectivity import traceroute
from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute import PathLimiter, run_traceroute, run_traceroutes
from fleetwatch_agent.probes.connectivity.traceroute_hops import Hop

# Packets in this file go to 127.0.0.1 and ::1 only; the rest runs against a scripted prober.


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_allows_one_traceroute_per_target_per_interval() -> None:
    clock = FakeClock()
    limiter = PathLimiter(900.0, clock)
    assert limiter.allow("gateway")
    assert not limiter.allow("gateway")
    assert limiter.allow("collector")  # targets are limited separately
    clock.now += 899.0
    assert not limiter.allow("gateway")
    clock.now += 1.0
    assert limiter.allow("gateway")
    assert not limiter.allow("gateway")  # the interval starts again from the allowed one


def test_limiter_refusals_do_not_push_the_next_run_back() -> None:
    clock = FakeClock()
    limiter = PathLimiter(60.0, clock)
    assert limiter.allow("dns-1")
    for _ in range(5):
        clock.now += 10.0
        assert not limiter.allow("dns-1")
    clock.now += 10.0
    assert limiter.allow("dns-1")


def test_per_hop_timeout_fits_the_hops_in_the_budget_within_bounds() -> None:
    assert traceroute.per_hop_timeout(16, 10.0) == pytest.approx(0.625)
    assert traceroute.per_hop_timeout(1, 60.0) == traceroute.MAX_PER_HOP_SECONDS
    assert traceroute.per_hop_timeout(64, 1.0) == traceroute.MIN_PER_HOP_SECONDS


# ---- run_traceroutes against a scripted prober -----------------------------------------------------------


class Prober:
    """Every target: hop 1 a router, hop 2 the target itself."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.closed = False
        self.asked: list[tuple[int, tuple[str, ...], float]] = []

    def round(self, targets: Sequence[str], ttl: int, timeout: float) -> dict[str, Hop]:
        self.asked.append((ttl, tuple(targets), timeout))
        if self.fail:
            raise OSError(9, "Bad file descriptor")
        return {t: Hop("transit", "10.0.0.1") if ttl == 1 else Hop("reached", t) for t in targets}

    def close(self) -> None:
        self.closed = True


class Opener:
    def __init__(self, errors: dict[str, str] | None = None, fail: bool = False) -> None:
        self.prober = Prober(fail)
        self.errors = errors or {}
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, addresses: Sequence[str], protocol: str) -> tuple[Prober, dict[str, str]]:
        self.calls.append((list(addresses), protocol))
        return self.prober, {a: e for a, e in self.errors.items() if a in addresses}


def test_every_address_is_traced_once_in_the_same_rounds() -> None:
    opener = Opener()
    results = run_traceroutes(["10.9.0.1", "2001:db8::7", "10.9.0.1"], 15, 10.0, opener=opener)
    assert results == {
        "10.9.0.1": PathResult(2, "10.9.0.1", True),
        "2001:db8::7": PathResult(2, "2001:db8::7", True),
    }
    assert opener.calls == [(["10.9.0.1", "2001:db8::7"], "auto")]
    assert [ttl for ttl, _, _ in opener.prober.asked] == [1, 2]
    assert {timeout for _, _, timeout in opener.prober.asked} == {traceroute.per_hop_timeout(15, 10.0)}
    assert opener.prober.closed


def test_names_and_garbage_are_invalid_and_never_probed() -> None:
    opener = Opener()
    results = run_traceroutes(["portal.example", "10.9.0.300", ""], 5, 5.0, opener=opener)
    assert results == {
        "portal.example": PathResult(error="invalid_argument: portal.example: not an IP address"),
        "10.9.0.300": PathResult(error="invalid_argument: 10.9.0.300: not an IP address"),
        "": PathResult(error="invalid_argument: : not an IP address"),
    }
    assert opener.calls == []


@pytest.mark.parametrize(
    ("max_hops", "timeout", "protocol"),
    [(0, 5.0, "auto"), (256, 5.0, "auto"), (5, 0.0, "auto"), (5, 5.0, "tcp")],
)
def test_invalid_settings_are_invalid_arguments(max_hops: int, timeout: float, protocol: str) -> None:
    opener = Opener()
    result = run_traceroutes(["10.9.0.1"], max_hops, timeout, protocol=protocol, opener=opener)["10.9.0.1"]
    assert result.error.startswith("invalid_argument: max_hops must be 1..255")
    assert opener.calls == []


def test_more_than_the_maximum_of_addresses_are_refused_as_busy() -> None:
    addresses = [f"10.9.{n // 250}.{n % 250 + 1}" for n in range(traceroute.MAX_ADDRESSES + 2)]
    opener = Opener()
    results = run_traceroutes(addresses, 5, 5.0, opener=opener)
    assert len(opener.calls[0][0]) == traceroute.MAX_ADDRESSES
    busy = [a for a, r in results.items() if r.error.startswith("busy: ")]
    assert busy == addresses[traceroute.MAX_ADDRESSES :]


def test_addresses_the_platform_cannot_probe_carry_its_error() -> None:
    opener = Opener({"10.9.0.2": "not_permitted: ICMP datagram socket: Permission denied"})
    results = run_traceroutes(["10.9.0.1", "10.9.0.2"], 5, 5.0, protocol="icmp", opener=opener)
    assert results["10.9.0.2"] == PathResult(error="not_permitted: ICMP datagram socket: Permission denied")
    assert results["10.9.0.1"] == PathResult(2, "10.9.0.1", True)
    assert all("10.9.0.2" not in targets for _, targets, _ in opener.prober.asked)


def test_a_socket_failing_mid_way_is_a_failed_diagnosis_not_an_exception() -> None:
    opener = Opener(fail=True)
    assert run_traceroutes(["10.9.0.1"], 5, 5.0, opener=opener) == {
        "10.9.0.1": PathResult(error="failed: Bad file descriptor")
    }
    assert opener.prober.closed


def test_a_name_that_does_not_resolve_is_a_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*_: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    assert run_traceroute("portal.example") == PathResult(
        error="dns_error: portal.example: [Errno -2] Name or service not known"
    )


# ---- real traces on loopback (Linux) ---------------------------------------------------------------------

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux datagram sockets")


def ping_sockets_allowed() -> bool:
    """Whether this process may open ICMP datagram sockets (net.ipv4.ping_group_range)."""
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    return any(low <= group <= high for group in {os.getgid(), *os.getgroups()})


@linux_only
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_udp_probes_reach_loopback_at_the_first_hop(address: str) -> None:
    """Loopback's port unreachable comes back through the error queue: reached, hop 1, no privilege used."""
    assert run_traceroutes([address], 4, 5.0, protocol="udp") == {address: PathResult(1, address, True)}


@linux_only
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_icmp_probes_follow_ping_group_range(address: str) -> None:
    result = run_traceroutes([address], 4, 5.0, protocol="icmp")[address]
    if ping_sockets_allowed():
        assert result == PathResult(1, address, True)
    else:
        assert result.error.startswith("not_permitted: ICMP datagram socket: "), result
        assert "ping_group_range" in result.error


@linux_only
def test_auto_traces_loopback_either_way_and_localhost_by_name() -> None:
    assert run_traceroutes(["127.0.0.1"], 4, 5.0) == {"127.0.0.1": PathResult(1, "127.0.0.1", True)}
    result = run_traceroute("localhost", 4, 5.0)
    assert result.reached and result.hops == 1 and result.last_hop in ("127.0.0.1", "::1"), result


@linux_only
def test_the_command_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = traceroute.main(["127.0.0.1", "::1", "--max-hops", "3", "--timeout", "4", "--protocol", "udp"])
    printed = json.loads(capsys.readouterr().out)
    assert status == 0
    assert printed == {
        "127.0.0.1": {"hops": 1, "last_hop": "127.0.0.1", "reached": True, "error": ""},
        "::1": {"hops": 1, "last_hop": "::1", "reached": True, "error": ""},
    }
