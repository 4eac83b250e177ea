"""The gate's bookkeeping without gRPC: pools, eviction, newest-first reads, peers, certificate names;
and the pieces it relies on (token buckets that wait, token uses, host name and sequence rules)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.auth import Identity
from fleetwatch_collector.callpools import AgentCalls, Evicted, OpenCalls, Refused, Streams
from fleetwatch_collector.checks import Rejection
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.gate import certificate_matches, peer_host
from fleetwatch_collector.ratelimit import RateLimiter
from fleetwatch_collector.store import Store
from tests.collector.support import host_info, valid_report

SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.0.0.5:51234", "10.0.0.5"),
        ("ipv6:[::1]:443", "::1"),
        ("unix:/run/x.sock", "unix:/run/x.sock"),
    ],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host


def test_agent_calls_evict_the_agents_oldest_waiting_call() -> None:
    calls = AgentCalls(total=10, per_agent=2)
    first, second = calls.admit("a", 0.0), calls.admit("a", 1.0)
    third = calls.admit("a", 2.0)  # replaces the oldest, still waiting for its message
    assert first.evicted and not second.evicted and calls.count == 2
    second.phase = third.phase = "handling"
    with pytest.raises(Refused) as info:
        calls.admit("a", 3.0)
    assert info.value.reason == "agent_busy"
    assert calls.admit("b", 3.0).key == "b"  # other agents are not affected


def test_agent_calls_refuse_beyond_the_total() -> None:
    calls = AgentCalls(total=2, per_agent=2)
    calls.admit("a", 0.0)
    calls.admit("b", 0.0)
    with pytest.raises(Refused) as info:
        calls.admit("c", 0.0)
    assert info.value.reason == "busy" and info.value.retry_after > 0


def test_open_calls_read_newest_first_and_evict_old_readers() -> None:
    async def scenario() -> None:
        clock = Clock()
        pool = OpenCalls(total=10, per_peer=10, reads=1, grace=1.0, clock=clock)
        silent = pool.admit("10.0.0.1", clock())
        await pool.turn(silent, clock() + 10)  # reads; never finishes its message
        waiting = pool.admit("10.0.0.1", clock())
        newest = pool.admit("10.0.0.2", clock())
        # The newest waits for the grace of the old reader, then takes its place.
        clock.now += 1.0
        await asyncio.wait_for(pool.turn(newest, clock() + 10), 1.0)
        assert silent.evicted and pool.reading == 1
        pool.done_reading(newest)
        await asyncio.wait_for(pool.turn(waiting, clock() + 10), 1.0)
        assert not waiting.evicted

    asyncio.run(scenario())


def test_open_calls_per_peer_replace_their_oldest_waiting() -> None:
    pool = OpenCalls(total=100, per_peer=2, reads=1, grace=1.0, clock=time.monotonic)
    a, b = pool.admit("p", 0.0), pool.admit("p", 0.0)
    c = pool.admit("p", 0.0)
    assert a.evicted and not b.evicted and not c.evicted
    assert pool.waiting == 2

    async def evicted_turn() -> None:
        with pytest.raises(Evicted):
            await pool.turn(a, time.monotonic() + 1)

    asyncio.run(evicted_turn())


def test_open_calls_refuse_when_no_call_waits() -> None:
    async def scenario() -> None:
        pool = OpenCalls(total=1, per_peer=1, reads=1, grace=1.0, clock=time.monotonic)
        reader = pool.admit("p", 0.0)
        await pool.turn(reader, time.monotonic() + 1)
        with pytest.raises(Refused) as info:
            pool.admit("p", 0.0)
        assert info.value.reason == "peer_busy"
        with pytest.raises(Refused) as info:
            pool.admit("q", 0.0)
        assert info.value.reason == "busy"

    asyncio.run(scenario())


def test_open_calls_time_out() -> None:
    async def scenario() -> None:
        pool = OpenCalls(total=5, per_peer=5, reads=1, grace=60.0, clock=time.monotonic)
        reader = pool.admit("p", 0.0)
        await pool.turn(reader, time.monotonic() + 1)
        late = pool.admit("p", 0.0)
        with pytest.raises(TimeoutError):
            await pool.turn(late, time.monotonic() + 0.05)

    asyncio.run(scenario())


def test_watch_streams_are_bounded() -> None:
    streams = Streams(total=2, per_peer=1)
    streams.enter("a")
    with pytest.raises(Refused):
        streams.enter("a")
    streams.enter("b")
    with pytest.raises(Refused):
        streams.enter("c")
    streams.leave("a")
    streams.enter("c")


@pytest.mark.parametrize(
    ("names", "matches"),
    [
        ({"a-1"}, True),
        ({"pc-7", "urn:fleetwatch:agent:a-1"}, True),
        ({"pc-7"}, True),  # the certificate it enrolled with
        ({"pc-8"}, False),
        (set(), False),
    ],
)
def test_certificate_names_the_agent(names: set[str], matches: bool) -> None:
    assert certificate_matches(names, Identity("a-1", None, 0.0, "pc-7")) is matches
    assert certificate_matches(names - {"pc-7"}, Identity("a-1", None)) is (
        names & {"a-1", "urn:fleetwatch:agent:a-1"} != set()
    )


def test_rate_limiter_lets_callers_wait_their_turn() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=2, clock=clock)
    assert limiter.reserve("p", 1.0) == 0.0
    assert limiter.reserve("p", 1.0) == 0.0
    assert limiter.reserve("p", 1.0) == pytest.approx(0.5)  # taken now, usable in 0.5 s
    assert limiter.reserve("p", 0.5) is None  # would be 1.0 s: nothing taken
    limiter.refund("p")
    assert limiter.reserve("p", 1.0) == pytest.approx(0.5)


def test_rate_limiter_forgets_full_buckets_beyond_its_size() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, max_keys=10)
    for i in range(10):
        limiter.acquire(f"k{i}")
    clock.now += 10  # all refilled
    limiter.acquire("new")
    assert len(limiter) <= 10


def test_tokens_enrol_at_most_their_uses(tmp_path: Path) -> None:
    store = Store(tmp_path / "collector.sqlite")
    try:
        token = enrolment.create_token(store, SITE, 0.0, None, max_uses=2)
        first = enrolment.enrol(store, token, 0.0, hostname="pc-1", certificate_name="cert-1")
        second = enrolment.enrol(store, token, 0.0, hostname="pc-1")
        assert second.duplicate_of == first.agent_id and first.duplicate_of is None
        with pytest.raises(enrolment.EnrolmentError) as info:
            enrolment.enrol(store, token, 0.0)
        assert info.value.reason == "token_exhausted"
        (listed,) = enrolment.list_tokens(store)
        assert (listed.enrolments, listed.max_uses) == (2, 2)
        cred = enrolment.credential(store, first.agent_id)
        assert cred is not None and (cred.hostname, cred.certificate_name) == ("pc-1", "cert-1")
        with pytest.raises(enrolment.EnrolmentError) as info:
            enrolment.enrol(store, "fwt1." + "x" * 200 + ".y", 0.0)
        assert info.value.reason == "token_malformed"
    finally:
        store.close()


def test_host_label_follows_a_rename_unless_another_agent_of_the_site_has_the_name() -> None:
    fleet = FleetState()

    def push(agent_id: str, seq: int, hostname: str) -> str | None:
        report = valid_report(seq)
        report.host.CopyFrom(host_info(hostname))
        return fleet.apply(
            agent_id, [report], seq, SITE, hostname="" if seq > 1 else hostname
        ).hostname_change

    assert push("a", 1, "pc-a") is None and push("b", 1, "pc-b") is None
    assert push("a", 2, "pc-renamed") == "applied"
    assert push("b", 2, "pc-renamed") == "conflict"
    assert push("b", 3, "pc-renamed") is None  # the same claim again: counted once
    a, b = fleet.get("a"), fleet.get("b")
    assert a is not None and b is not None and (a.hostname, b.hostname) == ("pc-renamed", "pc-b")


def test_sequence_numbers_cannot_jump_beyond_what_the_agent_made() -> None:
    clock = Clock()
    fleet = FleetState(clock=clock)
    first = valid_report(10)
    fleet.apply("a", [first], 10)
    jump = valid_report(10 + 10**8)
    with pytest.raises(Rejection) as info:
        fleet.apply("a", [jump], jump.seq)
    assert info.value.reason == "invalid_seq"
    clock.now += 10**8  # a long silence makes room for that many reports
    assert fleet.apply("a", [jump], jump.seq).applied == 1
    restart = valid_report(1)
    restart.seq = restart.collected_unix_ms - 1000  # numbered from its clock: accepted, reported
    result = fleet.apply("a", [restart], restart.seq)
    assert result.applied == 1 and result.seq_restart
