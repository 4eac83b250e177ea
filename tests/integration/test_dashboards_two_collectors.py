"""The dashboards count an agent once while two collectors show it (docs/decisions.md, "Several
collectors": an agent moving between members is exposed by both for up to handover_seconds).

One Prometheus scrapes one collector that shows the whole fleet; another scrapes two members,
one agent (a2) on both with the same reports. Every aggregating query of the fleet and host
dashboards, the project's recording rules included, must answer the same from both.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_program
from tests.e2e.support import ProcessGroup, wait_until
from tests.integration.dashboards_json import load_dashboards, panel_queries, substitute
from tests.integration.dashboards_members import FLEET, serving
from tests.integration.dashboards_prometheus import PrometheusServer, start_prometheus

DASHBOARDS = load_dashboards()
# The dashboards over agents' series (the collector's is per member by design, the routers' have
# no device in this fleet).
COMPARED = (
    "fleetwatch-antivirus.json",
    "fleetwatch-connectivity.json",
    "fleetwatch-host.json",
    "fleetwatch-overview.json",
)
VALUES = {"district": "h-1", "site": "xa-1", "host": "pc-2"}
ALL = {**VALUES, "district": ".*", "site": ".*"}
# A plain selector shows each series as it is (a label of the host's info): nothing summed.
PLAIN_SELECTOR = re.compile(r"^[\w:]+\{[^}]*\}$")
# The agents' counters step from 0 this long after both servers first scraped (so both have the
# 0 at a step of the panels' subqueries, 5 s), and the comparison starts this long after the
# step: the increases the dashboards show are not 0.
STEP_AFTER_SECONDS = 7.0
SETTLE_SECONDS = 12.0
# Increases are extrapolated from each server's own scrapes: close, never twice as much.
RELATIVE = 0.3

Answer = dict[frozenset[tuple[str, str]], float]


@dataclass(frozen=True)
class Pair:
    one: PrometheusServer
    two: PrometheusServer


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    prometheus = require_program("prometheus", "apt-get install prometheus")
    tmp: Path = tmp_path_factory.mktemp("two-collectors")
    group = ProcessGroup(tmp / "logs")
    stepped = threading.Event()
    a1, a2, a3 = FLEET
    with ExitStack() as stack:
        whole = stack.enter_context(serving(FLEET, stepped))
        c1 = stack.enter_context(serving((a1, a2), stepped))
        c2 = stack.enter_context(serving((a2, a3), stepped))
        try:
            servers = Pair(
                start_prometheus(group, prometheus, tmp / "one", whole),
                start_prometheus(group, prometheus, tmp / "two", c1, c2),
            )
            for server, targets in ((servers.one, 1), (servers.two, 2)):
                wait_until(
                    lambda: answer(server, "count(up == 1)") == {frozenset(): targets},  # noqa: B023
                    "the first scrapes",
                    watch=(server.process,),
                )
            time.sleep(STEP_AFTER_SECONDS)
            stepped.set()
            time.sleep(SETTLE_SECONDS)
            yield servers
        finally:
            group.stop_all()


def answer(server: PrometheusServer, expr: str) -> Answer:
    """Labels (but the metric name) -> value of each series of the instant query ``expr``."""
    return {
        frozenset((k, v) for k, v in s["metric"].items() if k != "__name__"): float(s["value"][1])
        for s in server.result(expr)
    }


def same(one: Answer, two: Answer) -> bool:
    if one.keys() != two.keys():
        return False
    return all(
        (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=RELATIVE, abs=1e-9)
        for a, b in ((one[k], two[k]) for k in one)
    )


def compared_queries() -> list[tuple[str, str]]:
    queries = []
    for name in COMPARED:
        for query in panel_queries(name, DASHBOARDS[name]):
            if PLAIN_SELECTOR.match(query.expr.strip()):
                continue
            for values in (VALUES, ALL):
                queries.append((f"{query} {values['site']}", substitute(query.expr, values)))
    return queries


@pytest.mark.peer("prometheus")
def test_the_fleet_really_shows_an_agent_twice(pair: Pair) -> None:
    """The premise: summed as they are, the series count a2 twice."""
    assert answer(pair.one, "count(fleetwatch_agent_up)") == {frozenset(): 3}
    assert answer(pair.two, "count(fleetwatch_agent_up)") == {frozenset(): 4}
    assert answer(pair.two, 'sum(fleetwatch_antivirus_state{state="outdated"})') == {frozenset(): 2}


@pytest.mark.peer("prometheus")
def test_every_dashboard_query_counts_an_agent_once(pair: Pair) -> None:
    queries = compared_queries()
    assert len(queries) > 60, len(queries)
    differ, answered = [], 0
    for description, expr in queries:
        one, two = answer(pair.one, expr), answer(pair.two, expr)
        answered += bool(one)
        if not same(one, two):
            differ.append(f"{description}:\n    {expr}\n    one collector: {one}\n    two: {two}")
    assert not differ, "\n".join(differ)
    assert answered > 50, answered


@pytest.mark.peer("prometheus")
def test_the_indicators_are_the_fleets(pair: Pair) -> None:
    """The values themselves, from the two members: 2 of 3 hosts protected, 2 of 3 up."""
    for server in (pair.one, pair.two):
        assert answer(server, "province:fleetwatch_antivirus_protected:ratio") == {
            frozenset(): pytest.approx(2 / 3)
        }
        assert answer(server, "province:fleetwatch_antivirus_state:count") == {
            frozenset({("state", "protected")}): 2,
            frozenset({("state", "outdated")}): 1,
            frozenset({("state", "disabled")}): 0,
        }
        up = answer(server, "site:fleetwatch_agent_up:ratio")
        assert {dict(k)["site"]: v for k, v in up.items()} == {"xa-1": 1, "xa-2": 0}
        # The agents' counters moved: the increases compared are not all 0.
        threats = next(
            q
            for q in panel_queries("fleetwatch-antivirus.json", DASHBOARDS["fleetwatch-antivirus.json"])
            if q.panel.endswith("Mã độc phát hiện / Threats detected")
        )
        assert answer(server, substitute(threats.expr, ALL))[frozenset()] >= 10
