"""Labels from records: host, site, district and site_type come from what the collector recorded of the
agent (enrolment, its site token), never silently from a payload (real collector process, loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fleetwatch_collector.agentstate import SiteLabels
from tests.e2e.support import ProcessGroup
from tests.security.support import Lab, running_lab

AN_CU = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")


async def up_labels(lab: Lab, agent_id: str) -> dict[str, str]:
    found = [s.labels for s in await lab.samples() if s.name == "fleetwatch_agent_up"]  # type: ignore[attr-defined]
    (labels,) = [x for x in found if x["agent_id"] == agent_id]
    return dict(labels)


def test_host_label_is_the_recorded_name_and_changes_by_rule(processes: ProcessGroup, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            one = await lab.enroll(lab.token(AN_CU), "pc-one")
            two = await lab.enroll(lab.token(AN_CU), "pc-two")
            assert await lab.push(one) == 1 and await lab.push(two) == 1
            labels = await up_labels(lab, one.agent_id)
            assert (labels["host"], labels["site"], labels["district"]) == ("pc-one", "xa-an-cu", "h-cai-be")
            # A payload claiming another site changes nothing: the site comes from the token.
            claim = one.next_report()
            claim.host.site, claim.host.district = "xa-my-phong", "tp-my-tho"
            assert await lab.push(one, [claim]) == one.seq
            assert (await up_labels(lab, one.agent_id))["site"] == "xa-an-cu"
            # A renamed PC: the label follows, counted and logged.
            one.hostname = "pc-renamed"
            assert await lab.push(one) == one.seq
            assert (await up_labels(lab, one.agent_id))["host"] == "pc-renamed"
            assert await lab.counter("fleetwatch_collector_hostname_changes_total", result="applied") == 1
            # Another agent of the site claiming that name: its label stays, counted once, logged.
            two.hostname = "pc-renamed"
            for _ in range(3):
                assert await lab.push(two) == two.seq
            assert (await up_labels(lab, two.agent_id))["host"] == "pc-two"
            assert await lab.counter("fleetwatch_collector_hostname_changes_total", result="conflict") == 1
            assert "another agent of its site has that name" in lab.collector.process.stderr()
            hosts = [
                s.labels["host"]  # type: ignore[attr-defined]
                for s in await lab.samples()
                if s.name == "fleetwatch_agent_up"  # type: ignore[attr-defined]
            ]
            assert sorted(hosts) == ["pc-renamed", "pc-two"], "two agents carry one host name"

    asyncio.run(scenario())
