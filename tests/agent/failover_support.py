"""Two in-process collectors for failover tests: enrol at one, let the other learn the agent later."""

from __future__ import annotations

import time
from pathlib import Path

from fleetwatch_agent import credentials
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.transport import Identity
from fleetwatch_collector import enrolment
from fleetwatch_collector.server import CollectorServer
from tests.agent.inprocess import any_site_token, metric_sum


def enrol_at(server: CollectorServer, data_dir: Path | None = None) -> Identity:
    """Enrol an agent at ``server``; with ``data_dir``, save its credential there as the agent would."""
    enrolled = enrolment.enrol(server.store, any_site_token(server), time.time())
    if data_dir is not None:
        credentials.save(data_dir, AgentCredential(enrolled.agent_id, enrolled.secret, "", "", ""))
    return Identity(enrolled.agent_id, enrolled.secret)


def teach(source: CollectorServer, target: CollectorServer, agent_id: str) -> None:
    """Make ``target`` accept the agent's credential, as a restored copy of ``source``'s database would."""
    (row,) = source.store.query(
        "SELECT agent_id, secret_hash, token_id, enrolled_at FROM agents WHERE agent_id = ?", (agent_id,)
    )
    with target.store.transaction() as db:
        db.execute(
            "INSERT INTO agents (agent_id, secret_hash, token_id, enrolled_at) VALUES (?, ?, ?, ?)",
            tuple(row),
        )


def reports_of(server: CollectorServer, agent_id: str) -> int:
    """Reports of the agent the collector applied (0 when it never applied one)."""
    entry = server.fleet.get(agent_id)
    return entry.reports_total if entry is not None else 0


def highest_of(server: CollectorServer, agent_id: str) -> int:
    entry = server.fleet.get(agent_id)
    return entry.applied.highest if entry is not None else 0


async def refusals(server: CollectorServer) -> float:
    """Calls the collector refused, for any reason (here: a credential it does not know)."""
    return await metric_sum(server, "fleetwatch_collector_rejected_total")
