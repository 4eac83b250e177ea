"""Two collector processes of one cluster and a simulated fleet spread over them by rendezvous hashing: each
agent on exactly one collector, its home; moved to the other within a bound when its home dies and back
when it returns, exposed by both only briefly; the threat and outage counters exact through the moves."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.transport import Identity, Transport
from fleetwatch_proto import rendezvous
from fleetwatch_proto.sites import load_inventory
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim.fleet import load_identities, run_fleet
from fleetwatch_sim.scenario import Incident, Scenario
from tests.e2e.cluster_support import OUTAGES, THREATS, Counts, Member, View, member_config
from tests.e2e.support import (
    ProcessGroup,
    run_command,
    two_free_ports,
    wait_until,
)

pytestmark = pytest.mark.e2e

AGENTS = 200
SITES = 8  # the first sites of the built-in inventory: 25 agents each
INTERVAL = 2.0  # seconds between an agent's reports
TIMEOUT = 2.0  # collector.timeout_seconds of the agents: the longest a call to a dead collector takes
RETRY = INTERVAL / 4  # the simulator's longest backoff before it tries again within a cycle
FAILBACK = 6.0  # collector.failback_seconds of the agents
HANDOVER = 6.0  # [cluster] handover_seconds of the collectors
CHECK = 0.5  # [fleet] check_seconds of the collectors: how often they hand agents over
SCRAPE = 2.0  # one scrape of both collectors, and a loaded machine's scheduling
STALENESS = 300.0  # Prometheus' staleness period
# The bounds the test asserts, from the settings.
FAILOVER_BOUND = TIMEOUT + RETRY + INTERVAL + SCRAPE  # its next Push fails, the retry goes to the second
FAILBACK_BOUND = FAILBACK + INTERVAL + SCRAPE  # from its home being back: its next failback attempt
HANDOVER_BOUND = HANDOVER + CHECK + SCRAPE  # from its first report at home: the second hides it
# The scenario, in seconds from the start of the simulation: a threat on every host, an outage of two
# sites' WAN (counted when it ends), and later a threat on the first 3 hosts of every site, while the
# first collector is down.
SECOND_THREAT_AT = 40.0
DARK_SITES = 2


class RecordingTransport(Transport):
    """The fleet's transport, keeping each agent's totals from its newest report a collector acknowledged:
    what the agent counted, as far as it delivered it."""

    def __init__(self, section: CollectorSection) -> None:
        super().__init__(section)
        self.acked: dict[str, tuple[int, pb.Totals]] = {}

    async def push_request(self, identity: Identity, request: pb.PushRequest) -> pb.PushResponse:
        response = await super().push_request(identity, request)
        if request.reports:
            newest = max(request.reports, key=lambda r: r.seq)
            known = self.acked.get(identity.agent_id)
            if known is None or newest.seq > known[0]:
                self.acked[identity.agent_id] = (newest.seq, newest.totals)
        return response

    def counted(self) -> tuple[Counts, Counts]:
        """Threats by product and outages by target of every agent, from its newest acknowledged report."""
        acked = dict(self.acked)  # one copy: the simulation's thread adds to it
        threats = {a: {k: float(v) for k, v in t.threats.items() if v} for a, (_, t) in acked.items()}
        outages = {a: {k: float(v) for k, v in t.outages.items() if v} for a, (_, t) in acked.items()}
        return threats, outages


class Simulation:
    """The simulated fleet in a thread of its own, over one transport with spread = "rendezvous"."""

    def __init__(self, addresses: list[str], token: str, state_file: Path) -> None:
        section = dataclasses.replace(
            CollectorSection(),
            addresses=tuple(addresses),
            spread="rendezvous",
            timeout_seconds=TIMEOUT,
            failback_seconds=FAILBACK,
            tls="off",
        )
        section.validate()
        inventory = load_inventory(None)
        self.inventory = dataclasses.replace(inventory, sites=inventory.sites[:SITES])
        self.dark = {s.slug for s in self.inventory.sites[:DARK_SITES]}
        incidents = [Incident("threat", 1.0, float("inf"))]
        incidents += [Incident("site_dark", 3.0, 7.0, site) for site in sorted(self.dark)]
        incidents.append(Incident("threat", SECOND_THREAT_AT, float("inf"), hosts=3))
        self.scenario = Scenario("two collectors", tuple(incidents))
        self.section = section
        self.transport = RecordingTransport(section)
        self.token = token
        self.state_file = state_file
        self.started = 0.0  # monotonic time of the scenario's start (the identities are saved just before)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.error: BaseException | None = None

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            await run_fleet(
                self.section, AGENTS, INTERVAL, None, 7, self.token, self.state_file, self._stop,
                self.inventory, self.scenario, transport=self.transport,
            )  # fmt: skip
        except BaseException as exc:
            self.error = exc
            raise

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: self.state_file.exists() or self.error, "the fleet to enrol", 120.0)
        assert self.error is None, repr(self.error)
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30.0)

    def agents(self) -> dict[str, tuple[str, int]]:
        """Agent id -> (site, index within the site) of every simulated agent."""
        found = {}
        for key, identity in load_identities(self.state_file).items():
            site, _, number = key.removeprefix("sim-").rpartition("-")
            found[identity.agent_id] = (site, int(number) - 1)
        assert len(found) == AGENTS
        return found

    def expected(self, second_threat: bool) -> tuple[dict[str, float], dict[str, float]]:
        """Threats and outages of each agent by the scenario (any product; target "collector")."""
        threats: dict[str, float] = {}
        outages: dict[str, float] = {}
        for agent_id, (site, index) in self.agents().items():
            threats[agent_id] = 1.0 + (1.0 if second_threat and index < 3 else 0.0)
            outages[agent_id] = 1.0 if site in self.dark else 0.0
        return threats, outages


@pytest.fixture
def cluster(processes: ProcessGroup, tmp_path: Path) -> Iterator[tuple[Member, Member, str]]:
    key = tmp_path / "cluster.key"
    key.write_bytes(os.urandom(64))
    key.chmod(0o600)
    ports = [two_free_ports() for _ in range(2)]
    while ports[1][0] in ports[0] or ports[1][1] in ports[0]:
        ports[1] = two_free_ports()
    addresses = [f"127.0.0.1:{grpc}" for grpc, _ in ports]
    members = [
        Member(
            processes,
            member_config(tmp_path, f"c{i + 1}", ports[i], addresses, key, CHECK, HANDOVER),
            addresses[i],
            f"127.0.0.1:{ports[i][1]}",
        )
        for i in range(2)
    ]  # fmt: skip
    for m in members:
        m.start()
    made = run_command(
        "fleetwatch-collector", "token", "create", "--any-site", "--config", str(members[0].config)
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("fw1."), token  # signed: every member enrols with it
    yield members[0], members[1], token


def total(counts: Counts, agent_id: str) -> float:
    return sum(counts.get(agent_id, {}).values())


def check_counts(views: list[View], sim: Simulation, *, exact_sum: bool) -> None:
    """The counters of every agent, from the collectors, equal what the agent counted (its newest
    acknowledged totals). ``exact_sum``: no agent is on two collectors, so the plain sum over them is
    exact, for each agent and for the fleet; otherwise the max over them (a "max by agent" query)."""
    threats, outages = sim.transport.counted()
    assert len(threats) == AGENTS
    for name, counted in ((THREATS, threats), (OUTAGES, outages)):
        shown: Counts = {}
        for view in views:
            for agent_id, values in (view.threats if name == THREATS else view.outages).items():
                into = shown.setdefault(agent_id, {})
                for key, value in values.items():
                    into[key] = into.get(key, 0.0) + value if exact_sum else max(into.get(key, 0.0), value)
        wrong = {a: (shown.get(a, {}), c) for a, c in counted.items() if shown.get(a, {}) != c}
        assert not wrong, f"{name}: {len(wrong)} agents shown != counted, e.g. {list(wrong.items())[:3]}"
        assert set(shown) <= set(counted), f"{name}: agents nobody simulated"
        assert sum(total(shown, a) for a in shown) == sum(total(counted, a) for a in counted)


def settled(sim: Simulation, second_threat: bool) -> bool:
    """Every agent delivered the counts the scenario gives it so far."""
    threats, outages = sim.transport.counted()
    want_threats, want_outages = sim.expected(second_threat)
    return len(threats) == AGENTS and all(
        total(threats, a) == want_threats[a] and total(outages, a) == want_outages[a] for a in want_threats
    )


@dataclass
class Run:
    """The cluster, the fleet, and each agent's home by rendezvous hashing over the members."""

    c1: Member
    c2: Member
    sim: Simulation
    home: dict[str, str]

    @property
    def of_c1(self) -> set[str]:
        return {a for a, h in self.home.items() if h == self.c1.address}

    def steady(self, second_threat: bool) -> tuple[View, View] | None:
        """Both views when every agent is up at its home and nowhere else, its counts delivered."""
        views = self.c1.view(), self.c2.view()
        at = {
            a: [m.address for m, v in zip((self.c1, self.c2), views, strict=True) if a in v.up]
            for a in self.home
        }
        up = all(views[0].up.get(a, 0) + views[1].up.get(a, 0) == 1 for a in self.home)
        placed = all(at[a] == [h] for a, h in self.home.items())
        return views if up and placed and settled(self.sim, second_threat) else None

    def wait_steady(self, second_threat: bool, timeout: float) -> None:
        """(a): each agent's series on exactly one collector, its home; the sums over both exact."""
        views = wait_until(lambda: self.steady(second_threat), "every agent at its home only", timeout, 0.5)
        check_counts(list(views), self.sim, exact_sum=True)

    def fail_over(self) -> None:
        """(b): the first collector dies; its agents show up at the second within FAILOVER_BOUND."""
        self.c1.runs[-1].kill()
        killed = time.monotonic()
        moved: dict[str, float] = {}
        while len(moved) < len(self.of_c1) and time.monotonic() - killed < 10 * FAILOVER_BOUND:
            view = self.c2.view()
            now = time.monotonic()
            moved.update({a: now - killed for a in self.of_c1 - set(moved) if view.up.get(a) == 1})
            time.sleep(0.2)
        assert len(moved) == len(self.of_c1), f"{len(self.of_c1) - len(moved)} agents never moved"
        slowest = max(moved.values())
        assert slowest <= FAILOVER_BOUND, f"an agent took {slowest:.1f}s to move, bound {FAILOVER_BOUND}s"
        assert self.sim.elapsed() < SECOND_THREAT_AT, "the second threat must come while c1 is down"
        # The second threat, counted by the second collector only: exact there.
        wait_until(
            lambda: self.sim.elapsed() > SECOND_THREAT_AT and settled(self.sim, True),
            "the threats",
            60.0,
            0.2,
        )
        view = self.c2.view()
        assert set(view.up) == set(self.home)
        check_counts([view], self.sim, exact_sum=True)

    def fail_back(self) -> float:
        """(c): the first collector returns; its agents come back within FAILBACK_BOUND, the second
        stops exposing each within HANDOVER_BOUND of its return; the longest time one was on both."""
        ready = self.c1.start()
        back: dict[str, float] = {}  # agent -> when it was first seen up at its home again
        gone: dict[str, float] = {}  # agent -> when the second stopped exposing it, after that
        both: dict[str, float] = {}  # agent -> when it was first seen on both
        overlap: dict[str, float] = {}  # agent -> how long it was seen on both
        mine = self.of_c1
        while len(gone) < len(mine) and time.monotonic() - ready < 3 * (FAILBACK_BOUND + HANDOVER_BOUND):
            v1, v2 = self.c1.view(), self.c2.view()
            now = time.monotonic()
            check_counts([v1, v2], self.sim, exact_sum=False)
            for a in mine:
                if a in v1.up and a in v2.up:
                    both.setdefault(a, now)
                elif a in both:
                    overlap.setdefault(a, now - both[a])
                if v1.up.get(a) == 1:
                    back.setdefault(a, now)
                if a in back and a not in v2.up:
                    gone.setdefault(a, now)
            time.sleep(0.2)
        assert len(gone) == len(mine), f"{len(mine) - len(gone)} agents still at the second collector"
        slowest_back = max(back.values()) - ready
        assert slowest_back <= FAILBACK_BOUND, f"an agent came back after {slowest_back:.1f}s"
        slowest_gone = max(gone[a] - back[a] for a in mine)
        assert slowest_gone <= HANDOVER_BOUND, f"an agent stayed {slowest_gone:.1f}s at the second"
        return max(overlap.values(), default=0.0)


def test_two_collectors_share_the_fleet_through_a_failover_and_back(
    cluster: tuple[Member, Member, str], tmp_path: Path
) -> None:
    c1, c2, token = cluster
    members = [c1.address, c2.address]
    sim = Simulation(members, token, tmp_path / "sim-identities.json")
    sim.start()
    try:
        run = Run(c1, c2, sim, {a: rendezvous.home(a, members) for a in sim.agents()})
        assert 50 < len(run.of_c1) < 150  # the fleet is spread
        run.wait_steady(False, 120.0)
        assert sim.elapsed() < SECOND_THREAT_AT - 2 * INTERVAL, "the fleet took too long to start"
        run.fail_over()
        longest_overlap = run.fail_back()
        assert longest_overlap <= FAILBACK_BOUND + HANDOVER_BOUND < STALENESS
        run.wait_steady(True, 30.0)  # (d) back to (a), the second threats included
        threats, outages = sim.transport.counted()
        want_threats, want_outages = sim.expected(True)
        assert sum(total(threats, a) for a in threats) == sum(want_threats.values())
        assert sum(total(outages, a) for a in outages) == sum(want_outages.values()) > 0
    finally:
        sim.close()
