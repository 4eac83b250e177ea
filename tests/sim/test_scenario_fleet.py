"""A simulated fleet playing a scenario against an in-process collector: incidents show in /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from fleetwatch_agent.config import CollectorSection
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto.sites import parse_inventory
from fleetwatch_sim.fleet import FleetStats, run_fleet
from fleetwatch_sim.scenario import parse_scenario
from tests.agent.inprocess import any_site_token, grpc_address, running_collector
from tests.e2e.support import fetch_metrics, find_samples, parse_samples

INVENTORY = parse_inventory(
    {
        "groups": [{"slug": "g", "name": "G"}],
        "sites": [
            {"slug": "xa-toi", "name": "Xã Tối", "group": "g", "type": "commune", "weight": 1},
            {"slug": "xa-sang", "name": "Xã Sáng", "group": "g", "type": "commune", "weight": 1},
        ],
    }
)
SCENARIO = parse_scenario(
    {
        "incidents": [
            {"kind": "site_dark", "site": "xa-toi", "start": "0s", "duration": "3s"},
            {"kind": "antivirus", "state": "disabled", "site": "xa-sang", "hosts": 1},
            {"kind": "threat", "site": "xa-sang", "hosts": 1, "start": "1s"},
            {"kind": "wan_degraded", "site": "xa-sang", "latency_ms": 300, "loss": 0.0},
            {"kind": "disk_filling", "site": "xa-sang", "hosts": 1, "start": "0s", "duration": "4s"},
        ]
    }
)
INTERVAL = 1.0
DURATION = 6.0


async def play(server: CollectorServer) -> FleetStats:
    section = dataclasses.replace(CollectorSection(), addresses=(grpc_address(server),))
    return await run_fleet(
        section, 4, INTERVAL, DURATION, 3, any_site_token(server), None, asyncio.Event(), INVENTORY, SCENARIO
    )


def samples(server: CollectorServer, name: str, **labels: str) -> list[float]:
    text = fetch_metrics(f"http://127.0.0.1:{server.http_port}/metrics")
    return [
        s.value
        for s in find_samples(parse_samples(text), name)
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]


def test_a_scenario_shapes_what_the_collector_shows(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path / "data") as server:
            stats = await play(server)
            assert stats.pushes_failed == 0, stats.errors
            # The dark site's reports were kept and delivered when its WAN came back.
            assert stats.reports_acked == stats.reports_made
            assert sum(samples(server, "fleetwatch_agent_reports_total", site="xa-toi")) > 0
            # Its outage was measured at the edge and reported once it ended.
            assert sum(samples(server, "fleetwatch_connectivity_outages_total", site="xa-toi")) == 2
            # One host of xa-sang has its antivirus disabled, the other is protected.
            assert sorted(
                samples(server, "fleetwatch_antivirus_state", site="xa-sang", state="disabled")
            ) == [
                0,
                1,
            ]
            assert sorted(samples(server, "fleetwatch_antivirus_protected", site="xa-sang")) == [0, 1]
            # The threat was detected once, by one host, however many cycles followed.
            assert samples(server, "fleetwatch_antivirus_threats_detected_total", site="xa-sang") == [1]
            # The degraded WAN shows in the round-trip times of WAN targets, not the LAN gateway.
            collector_rtt = samples(
                server, "fleetwatch_connectivity_rtt_seconds", site="xa-sang", target="collector"
            )
            gateway_rtt = samples(
                server, "fleetwatch_connectivity_rtt_seconds", site="xa-sang", target="gateway"
            )
            assert min(collector_rtt) > 0.3 > max(gateway_rtt)

    asyncio.run(scenario())
