"""The host's facts are read once per HOST_FACTS_SECONDS, not every cycle, and a change shows after that."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

import pytest

from fleetwatch_agent import credentials
from fleetwatch_agent import service as service_module
from fleetwatch_agent.config import AgentConfig, AgentSection
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_agent.service import HOST_FACTS_SECONDS, AgentService

FACTS = HostFacts("pc-01", "linux", "Debian GNU/Linux", "12", "6.1.0", "x86_64", 4, 8 << 30, 1_700_000_000)


def test_host_facts_are_read_again_only_after_their_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[HostFacts] = []
    current = [FACTS]

    def read() -> HostFacts:
        reads.append(current[0])
        return current[0]

    monkeypatch.setattr(service_module, "read_host_facts", read)
    credentials.save(tmp_path / "agent", AgentCredential("a-0123456789abcdef", "secret", "", "", ""))
    agent = AgentService(AgentConfig(agent=AgentSection(data_dir=str(tmp_path / "agent"))), random.Random(1))

    async def scenario() -> list[HostFacts]:
        seen = [await agent._host_facts(), await agent._host_facts()]
        current[0] = dataclasses.replace(FACTS, hostname="pc-01-renamed")
        seen.append(await agent._host_facts())  # within the period: the facts read before
        assert agent._facts is not None
        agent._facts = (agent._facts[0] - HOST_FACTS_SECONDS, agent._facts[1])  # the period passed
        seen.append(await agent._host_facts())
        return seen

    seen = asyncio.run(scenario())
    assert len(reads) == 2
    assert [facts.hostname for facts in seen] == ["pc-01", "pc-01", "pc-01", "pc-01-renamed"]
