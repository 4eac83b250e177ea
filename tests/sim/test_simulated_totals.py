"""Simulated agents carry totals like real ones: the outbox stamps each report with the counts of every
event queued so far, so the collector's counters of a simulated fleet come from the agents' totals."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from fleetwatch_agent.config import CollectorSection
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim.fleet import load_identities, run_fleet
from fleetwatch_sim.outbox import Outbox
from fleetwatch_sim.scenario import parse_scenario
from tests.agent.inprocess import any_site_token, grpc_address, running_collector
from tests.sim.test_scenario_fleet import INVENTORY, samples


def report(seq: int, threats: int = 0) -> pb.Report:
    r = pb.Report(seq=seq, collected_unix_ms=1_000_000 + seq)
    for _ in range(threats):
        r.events.add(time_unix_ms=1_000_000, threat=pb.ThreatDetected(product="ClamAV"))
    return r


def test_each_report_queued_carries_the_totals_so_far_dropped_ones_included() -> None:
    outbox = Outbox(2)
    for seq, threats in ((1, 1), (2, 0), (3, 2), (4, 0)):
        outbox.put(report(seq, threats))
    assert outbox.dropped_total == 2
    assert [r.totals.threats["ClamAV"] for r in outbox.batch(10)] == [3, 3]
    assert outbox.totals is not None and outbox.totals.threats == {"ClamAV": 3}


def test_an_outbox_of_an_older_agent_stamps_no_totals() -> None:
    outbox = Outbox(5, totals=False)
    outbox.put(report(1, 1))
    assert not outbox.batch(1)[0].HasField("totals")


def test_the_collector_counts_a_simulated_fleet_from_its_totals(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            "incidents": [
                {"kind": "threat", "site": "xa-sang", "hosts": 2, "start": "1s"},
                {"kind": "site_dark", "site": "xa-toi", "start": "0s", "duration": "2s"},
            ]
        }
    )
    ids = tmp_path / "identities.json"

    async def play() -> None:
        async with running_collector(tmp_path / "data") as server:
            section = dataclasses.replace(CollectorSection(), addresses=(grpc_address(server),))
            token = any_site_token(server)
            stats = await run_fleet(section, 4, 1.0, 5.0, 7, token, ids, asyncio.Event(), INVENTORY, scenario)
            assert stats.reports_acked == stats.reports_made, stats
            assert sorted(samples(server, "fleetwatch_antivirus_threats_detected_total")) == [1, 1]
            assert sum(samples(server, "fleetwatch_connectivity_outages_total", site="xa-toi")) == 2
            agents = [identity.agent_id for identity in load_identities(ids).values()]
            assert len(agents) == 4
            for agent_id in agents:
                entry = server.fleet.get(agent_id)
                assert entry is not None
                assert entry.states["antivirus"].threats_as_of_ms > 0  # set from totals
                assert entry.states["connectivity"].outages_as_of_ms > 0

    asyncio.run(play())
