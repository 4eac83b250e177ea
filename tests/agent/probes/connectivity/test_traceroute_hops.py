"""The hop logic of every platform's traceroute: rounds by TTL, silent hops, asking again, the deadline."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute_hops import (
    CUT_ERROR,
    ICMP_ERROR_INTERVAL_SECONDS,
    MAX_SILENT_HOPS,
    Hop,
    walk,
)

# No packet leaves the host in this file: the prober is scripted and the clock is fake.
TARGET = "192.0.2.10"


def transit(source: str) -> Hop:
    return Hop("transit", source, "time exceeded")


def unreachable(source: str) -> Hop:
    return Hop("unreachable", source, "ICMP 3/0 network unreachable")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedProber:
    """Answers from a table {target: {ttl: Hop}}; each round costs ``round_seconds`` of the fake clock.

    ``per_round`` caps the answers of one round (a router's ICMP rate limit shared by every target).
    """

    def __init__(
        self,
        table: dict[str, dict[int, Hop]],
        clock: FakeClock,
        round_seconds: float = 0.0,
        per_round: int = 1000,
    ) -> None:
        self.table = table
        self.clock = clock
        self.round_seconds = round_seconds
        self.per_round = per_round
        self.rounds: list[tuple[int, tuple[str, ...], float]] = []
        self.closed = False

    def round(self, targets: Sequence[str], ttl: int, timeout: float) -> dict[str, Hop]:
        self.rounds.append((ttl, tuple(targets), timeout))
        self.clock.now += self.round_seconds
        answers: dict[str, Hop] = {}
        for target in targets:
            hop = self.table.get(target, {}).get(ttl)
            if hop is not None and len(answers) < self.per_round:
                answers[target] = hop
        return answers

    def close(self) -> None:
        self.closed = True

    def ttls(self, target: str = TARGET) -> list[int]:
        return [ttl for ttl, targets, _ in self.rounds if target in targets]


def trace(
    table: dict[int, Hop], max_hops: int = 15, seconds: float = 60.0, round_seconds: float = 0.0
) -> tuple[PathResult, ScriptedProber]:
    clock = FakeClock()
    prober = ScriptedProber({TARGET: table}, clock, round_seconds)
    paths = walk(prober, [TARGET], max_hops, 0.5, clock() + seconds, clock, clock.sleep)
    return paths[TARGET], prober


@pytest.mark.parametrize(
    ("table", "expected", "ttls"),
    [
        pytest.param(
            {1: transit("10.0.0.1"), 2: transit("10.0.1.1"), 3: Hop("reached", TARGET, "echo reply")},
            PathResult(3, TARGET, True),
            [1, 2, 3],
            id="reached: stops at the destination",
        ),
        pytest.param(
            {1: transit("10.0.0.1"), 2: unreachable("10.0.1.1"), 3: Hop("reached", TARGET)},
            PathResult(2, "10.0.1.1", False),
            [1, 2],
            id="a router says unreachable: the path ends there",
        ),
        pytest.param(
            {1: transit("10.0.0.1"), 3: transit("10.0.2.1")},
            PathResult(3, "10.0.2.1", False),
            [1, 2, 2, 3, 4, 4, 5, 6],  # the first silent hop after an answer is asked again once
            id="one silent router is skipped, three silent hops end the trace",
        ),
        pytest.param({}, PathResult(), [1, 1, 2, 3], id="nothing answers"),
        pytest.param(
            {1: transit("10.0.0.1"), 2: Hop("reached", TARGET, "port unreachable")},
            PathResult(2, TARGET, True),
            [1, 2],
            id="UDP: port unreachable from the destination is the destination",
        ),
        pytest.param(
            {1: transit("10.0.0.1"), 2: unreachable(TARGET)},
            PathResult(2, TARGET, True),
            [1, 2],
            id="unreachable said by the target itself: reached",
        ),
    ],
)
def test_walk_follows_the_ttls(table: dict[int, Hop], expected: PathResult, ttls: list[int]) -> None:
    result, prober = trace(table)
    assert result == expected
    assert prober.ttls() == ttls


def test_unreachable_from_a_router_seen_before_names_its_own_hop() -> None:
    """A router that failed to resolve the next hop answers for later TTLs too: it stays hop 1."""
    result, _ = trace({1: transit("10.0.0.1"), 3: unreachable("10.0.0.1")})
    assert result == PathResult(1, "10.0.0.1", False)


def test_no_route_from_this_host_ends_at_hop_zero_without_an_error() -> None:
    result, prober = trace({1: Hop("local", "", "Network is unreachable")})
    assert result == PathResult(0, "", False, "")
    assert prober.ttls() == [1]


def test_a_send_error_ends_the_path_with_its_error_and_keeps_the_hops() -> None:
    local = Hop(
        "local", "", "Operation not permitted", "not_permitted: sending to x: Operation not permitted"
    )
    result, prober = trace({1: transit("10.0.0.1"), 2: local})
    assert result == PathResult(1, "10.0.0.1", False, local.error)
    assert prober.ttls() == [1, 2]


def test_max_hops_ends_a_path_that_answers_everywhere() -> None:
    result, prober = trace({ttl: transit(f"10.0.{ttl}.1") for ttl in range(1, 30)}, max_hops=4)
    assert result == PathResult(4, "10.0.4.1", False)
    assert prober.ttls() == [1, 2, 3, 4]
    assert {timeout for _, _, timeout in prober.rounds} == {0.5}


def test_the_deadline_cuts_a_long_path_and_keeps_its_hops() -> None:
    result, prober = trace({ttl: transit(f"10.0.{ttl}.1") for ttl in range(1, 65)}, 64, 3.0, 0.5)
    # Each round costs 0.5 s: rounds start at 0, 0.5 ... 2.5 s; the next would end after the 3 s.
    assert result == PathResult(6, "10.0.6.1", False, CUT_ERROR)
    assert prober.ttls() == [1, 2, 3, 4, 5, 6]


def test_a_path_that_ended_before_the_deadline_is_not_cut() -> None:
    clock = FakeClock()
    table = {
        "192.0.2.1": {1: unreachable("10.0.0.1")},
        "192.0.2.2": {t: transit("10.0.0.1") for t in range(1, 65)},
    }
    prober = ScriptedProber(table, clock, round_seconds=0.5)
    paths = walk(prober, list(table), 64, 0.5, clock() + 2.0, clock, clock.sleep)
    assert paths["192.0.2.1"] == PathResult(1, "10.0.0.1", False)
    assert paths["192.0.2.2"].error == CUT_ERROR


def test_no_retry_when_asking_again_would_pass_the_deadline() -> None:
    result, prober = trace(
        {1: transit("10.0.0.1")}, seconds=1.0 + ICMP_ERROR_INTERVAL_SECONDS, round_seconds=0.5
    )
    # TTL 2 is silent at 1.0 s: asking again would end at 2.55 s, after the deadline (2.05 s); TTL 3 and 4
    # still fit, and their silence ends the path before the deadline.
    assert prober.ttls() == [1, 2, 3, 4]
    assert result == PathResult(1, "10.0.0.1", False)


def test_every_target_gets_its_hop_behind_a_rate_limited_router() -> None:
    """One answer per round (a router's ICMP rate limit): each silent target is asked again while it helps."""
    clock = FakeClock()
    targets = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    behind = {1: transit("10.0.0.1"), 2: unreachable("10.0.0.1")}
    prober = ScriptedProber(dict.fromkeys(targets, behind), clock, per_round=1)
    paths = walk(prober, targets, 15, 0.5, clock() + 60.0, clock, clock.sleep)
    assert paths == dict.fromkeys(targets, PathResult(1, "10.0.0.1", False))
    assert [targets for ttl, targets, _ in prober.rounds if ttl == 1] == [
        tuple(targets),
        tuple(targets[1:]),
        tuple(targets[2:]),
    ]
    assert clock.now == pytest.approx(100.0 + 4 * ICMP_ERROR_INTERVAL_SECONDS)


def test_targets_are_traced_together_one_round_per_ttl() -> None:
    clock = FakeClock()
    table = {
        "192.0.2.1": {1: transit("10.0.0.1"), 2: Hop("reached", "192.0.2.1")},
        "192.0.2.2": {1: transit("10.0.0.1"), 2: transit("10.0.1.1"), 3: Hop("reached", "192.0.2.2")},
    }
    prober = ScriptedProber(table, clock)
    paths = walk(prober, [*table, "192.0.2.1"], 15, 0.5, clock() + 60.0, clock, clock.sleep)
    assert paths == {
        "192.0.2.1": PathResult(2, "192.0.2.1", True),
        "192.0.2.2": PathResult(3, "192.0.2.2", True),
    }
    assert [(ttl, targets) for ttl, targets, _ in prober.rounds] == [
        (1, ("192.0.2.1", "192.0.2.2")),
        (2, ("192.0.2.1", "192.0.2.2")),
        (3, ("192.0.2.2",)),
    ]


def test_silent_hops_limit_is_the_documented_one() -> None:
    result, prober = trace({1: transit("10.0.0.1")})
    assert MAX_SILENT_HOPS == 3
    assert prober.ttls() == [1, 2, 2, 3, 4]
    assert result == PathResult(1, "10.0.0.1", False)


def test_unreachable_from_the_target_in_another_spelling_is_reached() -> None:
    clock = FakeClock()
    prober = ScriptedProber({"2001:DB8:0::10": {1: unreachable("2001:db8::10")}}, clock)
    paths = walk(prober, ["2001:DB8:0::10"], 4, 0.5, clock() + 10.0, clock, clock.sleep)
    assert paths == {"2001:DB8:0::10": PathResult(1, "2001:db8::10", True)}
