"""Edge outages end to end, in network namespaces: a real agent loses its server while its collector is
down too, and the outage still arrives once, with its duration, and is not counted again after restarts.

Layout (tests/integration/netns.py): agent ns <-> router ns <-> server ns, 10.199.x.x addresses. The
collector and the agent both run inside the agent namespace, so the agent reaches the collector on that
namespace's 127.0.0.1 and /metrics is fetched from inside it too (the host's loopback is another one).
The agent's one target is the server's address, checked over ICMP; cutting the router <-> server link
takes it away (the router answers "destination unreachable", or stays silent once its ICMP error rate
limit is spent: either way the check fails).

tests/conftest.py sets FLEETWATCH_LOOPBACK_ONLY=1 for every agent; the agent here must check a 10.199.x.x
address inside the test's own namespaces, so it alone runs under ``env -u FLEETWATCH_LOOPBACK_ONLY``.
It checks no gateway, no collector and no DNS server: no traffic leaves the namespaces.

How exact an outage's duration is: the agent marks a target "down since" the first cycle that sees it
fail and "up" at the first cycle that sees it back (agent/fleetwatch_agent/probes/connectivity/
outages.py). Each end lies within one interval after the real event (the next cycle), plus the time
the check itself takes (a burst of 3 pings: 0.4 s with answers, 0.9 s without) and scheduling slack;
so the measured duration is the cut-to-restore time within ± 2 intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.samples import Sample

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.conftest import require_program
from tests.e2e.outage_lab import INTERVAL_SECONDS, TARGET, Lab, failure_reasons, server_status
from tests.e2e.support import ProcessGroup, value_of
from tests.integration import netns

pytestmark = [pytest.mark.e2e, pytest.mark.peer("netns")]

OUTAGE_WITH_COLLECTOR_DOWN_SECONDS = 6.0
RECOVERED_WITH_COLLECTOR_DOWN_SECONDS = 3.0
# See the module docstring.
DURATION_TOLERANCE_SECONDS = 2 * INTERVAL_SECONDS


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    netns.require_netns()
    netns.sweep_stale()


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """Builds the namespaces; stops every process (SIGTERM first) before deleting them."""
    made: list[tuple[netns.Network, ProcessGroup]] = []

    def make(*, traceroute: bool) -> Lab:
        network = netns.Network(("agent", "router", "server")).__enter__()
        group = ProcessGroup(tmp_path / "logs")
        made.append((network, group))
        lab = Lab(network, group, tmp_path, traceroute)
        lab.collector_dir.mkdir()
        return lab

    try:
        yield make
    finally:
        for network, group in made:
            try:
                group.stop_all()
            finally:
                network.close()


def test_outage_during_a_collector_outage_arrives_once_with_its_duration(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(traceroute=False)
    lab.start_collector()
    lab.enroll()
    lab.start_agent()

    # 1. The server is up.
    lab.wait(lambda: lab.value("fleetwatch_connectivity_up", target=TARGET) == 1, "server up")

    # 2. Cut router <-> server: the next cycles see the server down, with a reason.
    cut_at = time.time()  # the first `ip link set down` already breaks the path
    lab.network.cut("router", "server")

    def down_with_reason() -> set[str] | None:
        samples = lab.samples()
        if value_of(samples, "fleetwatch_connectivity_up", target=TARGET) != 0:
            return None
        return failure_reasons(samples) or None

    reasons = lab.wait(down_with_reason, "server down with a failure reason")
    assert reasons in ({"timeout"}, {"unreachable"}), reasons
    assert lab.value("fleetwatch_connectivity_outages_total", target=TARGET) is None, "no outage ended yet"

    # 3. The collector goes away too; the outage ends while it is away.
    lab.stop_collector()
    time.sleep(OUTAGE_WITH_COLLECTOR_DOWN_SECONDS)
    lab.network.restore("router", "server")
    restored_at = time.time()  # routes are back once restore() returns
    time.sleep(RECOVERED_WITH_COLLECTOR_DOWN_SECONDS)
    assert lab.agent_runs[-1].returncode is None, lab.describe()
    lab.start_collector()

    # 4. The backlog drains: the outage is counted once, with the time between cut and restore.
    def drained() -> list[Sample] | None:
        samples = lab.samples()
        ended = value_of(samples, "fleetwatch_connectivity_outages_total", target=TARGET)
        queued = value_of(samples, "fleetwatch_agent_spool_reports")
        up = value_of(samples, "fleetwatch_connectivity_up", target=TARGET)
        return samples if ended is not None and queued is not None and queued <= 1 and up == 1 else None

    samples = lab.wait(drained, "the backlog delivered and the server up again")
    assert value_of(samples, "fleetwatch_connectivity_outages_total", target=TARGET) == 1, lab.describe()
    measured = value_of(samples, "fleetwatch_connectivity_outage_seconds_total", target=TARGET)
    real = restored_at - cut_at
    assert measured is not None
    print(f"outage measured {measured:.3f} s, cut to restore {real:.3f} s")
    assert abs(measured - real) <= DURATION_TOLERANCE_SECONDS, (
        f"outage measured {measured:.3f} s, cut to restore took {real:.3f} s "
        f"(tolerance ± {DURATION_TOLERANCE_SECONDS:g} s)"
    )

    # 5. The agent restarts: the ended outage is not counted again.
    reports_before = value_of(samples, "fleetwatch_agent_reports_total")
    assert reports_before is not None
    lab.stop_agent()
    lab.start_agent()

    def reporting_again() -> list[Sample] | None:
        samples = lab.samples()
        total = value_of(samples, "fleetwatch_agent_reports_total")
        return samples if total is not None and total >= reports_before + 3 else None

    samples = lab.wait(reporting_again, "three reports of the restarted agent")
    assert value_of(samples, "fleetwatch_connectivity_up", target=TARGET) == 1
    assert value_of(samples, "fleetwatch_connectivity_outages_total", target=TARGET) == 1, lab.describe()
    assert value_of(samples, "fleetwatch_connectivity_outage_seconds_total", target=TARGET) == measured


def test_traceroute_of_the_failing_cycle_names_the_router_and_keeps_the_outage_exact(
    make_lab: Callable[..., Lab],
) -> None:
    """With traceroute on (its defaults: once per target per 900 s, 15 hops, 10 s), the path to where
    it breaks is diagnosed after the first failing cycle's report (in the background) and rides in
    the next report made after it finished (with this 1 s interval, a few cycles later): hop 1, the
    router, beyond which the pings are dropped. The collector is down during the outage, so every
    report of it stays in the agent's spool, where the test reads it.

    The router drops the pings silently here. A cut it answers with "unreachable" would spend its
    ICMP error budget (1 error per second to the agent) on the pings of every following cycle at
    this 1 s interval, before any traceroute could ask; at the default 15 s interval the budget
    refills between cycles (tests/e2e/test_connectivity_deadlines_netns.py).

    Fails with the code of 4a66a40 on both counts, every run here:
    - the path is empty (hops 0): the failed burst has just spent the router's ICMP error budget for
      the agent's address (Linux: net.ipv4.icmp_ratelimit, 1 error per second per host after a small
      burst), so the traceroute that follows at once hears nothing from it. Alone, or 1 s after the
      burst, the same traceroute names the router (tests/integration/test_connectivity_netns.py).
    - the outage is ~3 s short: "down since" is stamped when collect() ends, after the traceroute
      (~2.4 s here, up to timeout_seconds / 3), while "up" is stamped after a quick successful burst.
    Both pass with the fixes proposed with this test: stamp outages at the start of collect(), and
    wait ~1 s before a traceroute.
    """
    lab = make_lab(traceroute=True)
    # As the agent's package does (net.ipv4.ping_group_range): the traceroute then sends ICMP echo like the
    # check (without it, UDP probes, which this ICMP-only drop lets through to the server).
    lab.network.allow_unprivileged_ping("agent", True)
    lab.start_collector()
    lab.enroll()
    lab.start_agent()
    lab.wait(lambda: lab.value("fleetwatch_connectivity_up", target=TARGET) == 1, "server up")
    lab.stop_collector()

    iptables = require_program("iptables", "apt-get install iptables")
    drop = ("FORWARD", "-i", lab.network.interface("router", "agent"), "-p", "icmp", "-j", "DROP")
    cut_at = time.time()
    lab.network.run("router", iptables, "-A", *drop)

    def diagnosed_after_the_first_failure() -> pb.TargetResult | None:
        statuses = [server_status(report) for report in lab.spooled_reports()]
        failing = [i for i, status in enumerate(statuses) if status is not None and not status.success]
        later = statuses[failing[0] + 1 :] if failing else []
        return next((s for s in later if s is not None and s.path_diagnosed), None)

    failed = lab.wait(diagnosed_after_the_first_failure, "a report with the path after the first failure")
    time.sleep(max(0.0, cut_at + OUTAGE_WITH_COLLECTOR_DOWN_SECONDS - time.time()))
    lab.network.run("router", iptables, "-D", *drop)
    restored_at = time.time()

    def outage_event() -> pb.Outage | None:
        for report in lab.spooled_reports():
            for event in report.events:
                if event.HasField("outage") and event.outage.target == TARGET:
                    return event.outage
        return None

    outage = lab.wait(outage_event, "a spooled report with the outage event")
    lab.start_collector()
    ended = lab.wait(
        lambda: lab.value("fleetwatch_connectivity_outages_total", target=TARGET),
        "the outage counted by the collector",
    )
    measured = lab.value("fleetwatch_connectivity_outage_seconds_total", target=TARGET)

    router = lab.network.address("router", "agent")
    real = restored_at - cut_at
    problems = []
    if not (failed.path_diagnosed and failed.path_hops == 1 and failed.path_last_hop == router):
        problems.append(
            f"the path diagnosed after the first failure: hops={failed.path_hops} "
            f"last_hop={failed.path_last_hop!r}, not hop 1 = the router {router} "
            f"(check: {pb.ProbeError.Name(failed.error)} {failed.detail!r})"
        )
    if ended != 1 or measured is None or abs(measured - real) > DURATION_TOLERANCE_SECONDS:
        problems.append(
            f"{ended} outage(s) of {measured} s counted, cut to restore took {real:.3f} s "
            f"(tolerance ± {DURATION_TOLERANCE_SECONDS:g} s); the agent stamped the start "
            f"{outage.start_unix_ms / 1000 - cut_at:+.3f} s after the cut and the end "
            f"{outage.end_unix_ms / 1000 - restored_at:+.3f} s after the restore"
        )
    assert not problems, "\n".join(problems)
