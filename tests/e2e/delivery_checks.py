"""The fault tests' delivery checks: reports arriving, spools drained, each spooled report once."""

from __future__ import annotations

import json
import time

from prometheus_client.samples import Sample

from tests.e2e.fault_processes import DEADLINE_SECONDS, Agent, Collector, spool_contents
from tests.e2e.support import value_of, wait_until

MISSING_LOG = (
    "the agent logged no 'spooled report seq=N' line at DEBUG although it delivered reports; "
    "design.md promises one per durably spooled report (agent.log_level = 'debug')"
)


def require_spool_log(agent: Agent) -> None:
    """Called once the agent delivered a report: its spool line was logged before the push."""
    assert agent.logged_seqs(), f"{MISSING_LOG}\n{agent.describe()}"


def agent_value(samples: list[Sample], name: str, agent_id: str) -> float | None:
    return value_of(samples, name, agent_id=agent_id)


def wait_reporting(collector: Collector, agent: Agent, more_than: float = 0) -> tuple[str, float]:
    """Wait until the agent is enrolled and its reports_total exceeds ``more_than``."""

    def check() -> tuple[str, float] | None:
        agent_id = agent.agent_id()
        if agent_id is None:
            return None
        total = agent_value(collector.samples(), "fleetwatch_agent_reports_total", agent_id)
        return (agent_id, total) if total is not None and total > more_than else None

    return wait_until(
        check,
        f"{agent.name} reports_total > {more_than:g}",
        DEADLINE_SECONDS,
        0.2,
        (collector.process, agent.process),
    )


def stop_when_drained(collector: Collector, agent: Agent, agent_id: str) -> set[int]:
    """Wait for a fresh report saying the spool was empty, SIGTERM the agent; the seqs still spooled."""
    since = time.time()

    def drained() -> bool:
        samples = collector.samples()
        last = agent_value(samples, "fleetwatch_agent_last_report_timestamp_seconds", agent_id) or 0
        return last > since and agent_value(samples, "fleetwatch_agent_spool_reports", agent_id) == 0

    wait_until(
        drained, f"{agent.name}'s spool drained", DEADLINE_SECONDS, 0.2, (collector.process, agent.process)
    )
    agent.stop()
    return spool_contents(agent.data_dir)


def covered(applied_json: str, seqs: set[int]) -> set[int]:
    """The seqs NOT covered by an AppliedSeqs JSON [watermark, [above...]]."""
    watermark, above = json.loads(applied_json)
    above_set = set(above)
    return {s for s in seqs if s > watermark and s not in above_set}


def assert_delivered_once(collector: Collector, agent: Agent, agent_id: str, still_spooled: set[int]) -> None:
    """reports_total (metrics and store) == distinct spooled seqs not held any more; store covers them."""
    spooled = agent.spooled()
    assert agent.logged_seqs() or not spooled, MISSING_LOG
    assert still_spooled <= spooled, f"spool holds seqs never logged: {sorted(still_spooled - spooled)}"
    delivered = spooled - still_spooled
    total = agent_value(collector.samples(), "fleetwatch_agent_reports_total", agent_id)
    assert total == len(delivered), (
        f"{agent.name}: fleetwatch_agent_reports_total={total}, but {len(delivered)} distinct reports "
        f"were spooled and delivered ({len(spooled)} spooled, {len(still_spooled)} still in the spool)\n"
        f"{agent.describe()}"
    )
    row = collector.store_row(agent_id)
    assert row is not None, f"{agent_id} missing from the collector's store"
    applied, stored_total = row
    assert stored_total == len(delivered), f"store reports_total={stored_total}, expected {len(delivered)}"
    missing = covered(applied, delivered)
    assert not missing, f"store's applied {applied[:200]} misses spooled seqs {sorted(missing)[:20]}"
