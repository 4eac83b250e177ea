"""Rendezvous hashing: the same order everywhere, an even spread, and only the agents of a change move."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from fleetwatch_proto.rendezvous import home, ranked, weight

AGENTS = [f"a-{n:016x}" for n in range(4130)]
COLLECTORS = ["collector-1.tinh.local:50051", "collector-2.tinh.local:50051", "collector-3.tinh.local:50051"]


def test_a_ranking_is_every_member_once_whatever_the_order_given() -> None:
    first = ranked("a-0123456789abcdef", COLLECTORS)
    assert sorted(first) == sorted(COLLECTORS)
    assert ranked("a-0123456789abcdef", reversed(COLLECTORS)) == first
    assert ranked("a-0123456789abcdef", [*COLLECTORS, COLLECTORS[0]]) == first
    assert home("a-0123456789abcdef", COLLECTORS) == first[0]


def test_the_ranking_is_the_same_in_another_process() -> None:
    """No per-process salt (Python's hash() has one): agents and collectors must agree."""
    script = (
        "from fleetwatch_proto.rendezvous import ranked; import sys; print(ranked(sys.argv[1], sys.argv[2:]))"
    )
    ours = [str(ranked(agent, COLLECTORS)) for agent in AGENTS[:3]]
    theirs = [
        subprocess.run(
            [sys.executable, "-c", script, agent, *COLLECTORS], capture_output=True, text=True, check=True
        ).stdout.strip()
        for agent in AGENTS[:3]
    ]
    assert theirs == ours


@pytest.mark.parametrize("count", [2, 3, 5])
def test_agents_spread_evenly(count: int) -> None:
    members = [f"c{n}:50051" for n in range(count)]
    homes = Counter(home(agent, members) for agent in AGENTS)
    fair = len(AGENTS) / count
    assert set(homes) == set(members)
    assert all(abs(n - fair) < 0.1 * fair for n in homes.values()), homes


def test_removing_a_collector_moves_only_its_agents_and_spreads_them() -> None:
    before = {agent: home(agent, COLLECTORS) for agent in AGENTS}
    gone = COLLECTORS[1]
    after = {agent: home(agent, [c for c in COLLECTORS if c != gone]) for agent in AGENTS}
    moved = [agent for agent in AGENTS if before[agent] != after[agent]]
    assert {before[agent] for agent in moved} == {gone}
    assert all(before[agent] != gone or after[agent] == ranked(agent, COLLECTORS)[1] for agent in AGENTS)
    spread = Counter(after[agent] for agent in moved)
    assert min(spread.values()) > 0.4 * len(moved)  # not all on one survivor


def test_adding_a_collector_takes_its_share_and_moves_nobody_else() -> None:
    before = {agent: home(agent, COLLECTORS) for agent in AGENTS}
    added = "collector-4.tinh.local:50051"
    after = {agent: home(agent, [*COLLECTORS, added]) for agent in AGENTS}
    moved = [agent for agent in AGENTS if before[agent] != after[agent]]
    assert all(after[agent] == added for agent in moved)
    assert abs(len(moved) - len(AGENTS) / 4) < 0.1 * len(AGENTS) / 4


def test_weights_are_64_bit_and_depend_on_both() -> None:
    assert 0 <= weight("a", "b") < 2**64
    assert weight("a", "b") != weight("b", "a")
    assert weight("ab", "c") != weight("a", "bc")  # the separator keeps the two apart
    with pytest.raises(ValueError, match="no member"):
        home("a", [])
