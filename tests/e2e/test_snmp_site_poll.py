"""A site's router polled at the site survives a WAN outage: a real agent polls a real snmpd while the
collector is down, an interface of the router goes down and up again meanwhile, and once the collector is
back every spooled report arrives with its device, each counted once, the two link changes too; sending
the spooled reports again changes no count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.agent.probes.snmp.snmpd import COMMUNITY, Snmpd
from tests.e2e.delivery_checks import (
    agent_value,
    assert_delivered_once,
    require_spool_log,
    stop_when_drained,
    wait_reporting,
)
from tests.e2e.fault_processes import DEADLINE_SECONDS, Agent, Collector, make_agent, start_collector
from tests.e2e.support import ProcessGroup, auth_metadata, create_token, read_credential, value_of, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.peer("snmpd")]

SITE = "xa-tan-my-chanh"
DEVICE = "r1"
IFNAME = "lo"  # ifIndex 1, made an up/down Ethernet interface by the test's snmpd (snmpd.py)


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    daemon = Snmpd(tmp_path / "snmpd")
    daemon.start(lo_up=True)
    try:
        yield daemon
    finally:
        daemon.stop()


def enable_snmp(agent: Agent, snmpd: Snmpd, folder: Path) -> None:
    """The agent at "the site": its snmp probe polls the site's router (the test's snmpd) every interval."""
    folder.mkdir()
    secret = folder / "site.community"
    secret.write_text(COMMUNITY + "\n", encoding="utf-8")
    secret.chmod(0o600)
    with agent.config.open("a", encoding="utf-8") as config:
        config.write(
            f"""
[probes.snmp]
enabled = true
# Within the agent's 1 s interval: a poll of snmpd on loopback takes milliseconds.
timeout_seconds = 0.9
deadline_seconds = 0.8
request_timeout_seconds = 0.3
retries = 1
credentials_dir = "{folder}"

[probes.snmp.credentials.site]
version = "2c"
community_file = "site.community"

[[probes.snmp.devices]]
name = "{DEVICE}"
address = "{snmpd.address}"
credential = "site"
"""
        )


def spooled_reports(data_dir: Path) -> dict[int, pb.Report]:
    """The reports in the agent's spool now, by seq (read beside the running agent: SQLite WAL)."""
    db = sqlite3.connect(f"file:{data_dir / 'spool.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        return {
            int(seq): pb.Report.FromString(body) for seq, body in db.execute("SELECT seq, body FROM reports")
        }
    finally:
        db.close()


def link_changes(reports: dict[int, pb.Report]) -> list[tuple[int, str, str, bool]]:
    """(seq, device, interface, up) of every LinkChange event in ``reports``, by seq."""
    return [
        (seq, event.link_change.device, event.link_change.interface, event.link_change.up)
        for seq, report in sorted(reports.items())
        for event in report.events
        if event.HasField("link_change")
    ]


def wait_spooled_change(agent: Agent, up: bool) -> dict[int, pb.Report]:
    def seen() -> dict[int, pb.Report] | None:
        reports = spooled_reports(agent.data_dir)
        return reports if any(c[1:] == (DEVICE, IFNAME, up) for c in link_changes(reports)) else None

    state = "up" if up else "down"
    return wait_until(seen, f"a spooled LinkChange {IFNAME} {state}", DEADLINE_SECONDS, 0.2, (agent.process,))


def netdev(collector: Collector, name: str, agent_id: str, **labels: str) -> float | None:
    return value_of(collector.samples(), name, agent_id=agent_id, device=DEVICE, **labels)


def resend(collector: Collector, agent_id: str, secret: str, reports: dict[int, pb.Report]) -> int:
    """Push ``reports`` again with the agent's credential, as an agent whose acknowledgement was lost."""
    seqs = sorted(reports)
    request = pb.PushRequest(reports=[reports[s] for s in seqs], oldest_held_seq=seqs[0])
    with grpc.insecure_channel(collector.grpc_address) as channel:
        stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
        response = stub.Push(request, metadata=auth_metadata(agent_id, secret), timeout=10)
    return int(response.acked_seq)


def test_router_reports_spooled_during_an_outage_arrive_once_with_their_link_changes(
    processes: ProcessGroup, tmp_path: Path, snmpd: Snmpd
) -> None:
    data_dir = tmp_path / "collector-data"
    token = create_token(data_dir, SITE)
    collector = start_collector(processes, data_dir)
    agent = make_agent(processes, tmp_path, "site-agent", collector, token)
    enable_snmp(agent, snmpd, tmp_path / "snmp-secrets")
    agent.start()
    agent_id, _ = wait_reporting(collector, agent)
    require_spool_log(agent)
    wait_until(
        lambda: netdev(collector, "fleetwatch_netdev_if_oper_up", agent_id, ifname=IFNAME) == 1,
        f"the collector showing {DEVICE} {IFNAME} up",
        DEADLINE_SECONDS, 0.2, (collector.process, agent.process),
    )  # fmt: skip
    assert netdev(collector, "fleetwatch_netdev_up", agent_id) == 1
    changes_before = (
        netdev(collector, "fleetwatch_netdev_if_oper_changes_total", agent_id, ifname=IFNAME) or 0
    )

    # The WAN is down: the collector is unreachable. The router's interface goes down, then up again.
    collector.stop()
    snmpd.restart(lo_up=False)
    wait_spooled_change(agent, up=False)
    snmpd.restart(lo_up=True)
    held = wait_spooled_change(agent, up=True)
    changes = [c[1:] for c in link_changes(held)]
    assert changes == [(DEVICE, IFNAME, False), (DEVICE, IFNAME, True)], changes
    for seq, report in held.items():  # every report of the outage carries the router, answering or not
        assert [d.name for d in report.network_devices] == [DEVICE], f"seq {seq}: {report.network_devices}"
    assert any(d.reachable and d.interfaces for r in held.values() for d in r.network_devices)

    # The WAN is back: the backlog drains, each report applied once.
    collector.start()
    still_spooled = stop_when_drained(collector, agent, agent_id)
    assert_delivered_once(collector, agent, agent_id, still_spooled)
    samples = collector.samples()
    reports_total = agent_value(samples, "fleetwatch_agent_reports_total", agent_id)
    applied_total = value_of(samples, "fleetwatch_collector_reports_applied_total")
    changes_total = value_of(
        samples, "fleetwatch_netdev_if_oper_changes_total", agent_id=agent_id, device=DEVICE, ifname=IFNAME
    )
    assert changes_total == changes_before + 2, f"{changes_total} oper changes of {IFNAME}, expected +2"
    assert (
        value_of(samples, "fleetwatch_netdev_if_oper_up", agent_id=agent_id, device=DEVICE, ifname=IFNAME)
        == 1
    )

    # The spooled reports sent again (an acknowledgement lost on the way): acknowledged, counted nothing.
    secret = read_credential(agent.data_dir)["secret"]
    assert resend(collector, agent_id, secret, held) >= max(held)
    samples = collector.samples()
    assert agent_value(samples, "fleetwatch_agent_reports_total", agent_id) == reports_total
    assert value_of(samples, "fleetwatch_collector_reports_applied_total") == applied_total
    assert (
        value_of(
            samples,
            "fleetwatch_netdev_if_oper_changes_total",
            agent_id=agent_id,
            device=DEVICE,
            ifname=IFNAME,
        )
        == changes_total
    )
    collector.stop()
