"""A real agent process reports this host to a real collector process over gRPC; up/down and restarts."""

from __future__ import annotations

import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from prometheus_client.samples import Sample

from fleetwatch_agent import __version__ as agent_version
from tests.e2e.support import (
    CollectorProcess,
    ManagedProcess,
    ProcessGroup,
    agent_toml,
    console_script,
    create_token,
    find_samples,
    read_credential,
    start_collector,
    value_of,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e

INTERVAL_SECONDS = 1
DOWN_AFTER_INTERVALS = 3  # the collector's default fleet.down_after_intervals
# The site the token binds the agent to (a built-in site: district and type come with it) ...
SITE_SLUG = "xa-an-cu"
DISTRICT = "h-cai-be"
SITE_TYPE = "commune"
SITE_NAME = "Xã An Cư"
# ... and the different site the agent's own configuration claims, which must not show.
CLAIMED_SITE = ("xa-tan-my-chanh", "tp-my-tho", "district", "Xã Tân Mỹ Chánh")
# How long an agent may take to be seen, or to be seen down: generous, never a performance claim.
DEADLINE_SECONDS = 30.0


def host_labels(agent_id: str) -> dict[str, str]:
    """The labels every series of the e2e agent must carry."""
    return {
        "agent_id": agent_id,
        "host": socket.gethostname().split(".")[0],
        "site": SITE_SLUG,
        "district": DISTRICT,
        "site_type": SITE_TYPE,
    }


def start_agent(
    group: ProcessGroup, tmp_path: Path, collector: CollectorProcess, collector_data: Path
) -> ManagedProcess:
    """An agent that enrols itself at start with a site token (collector.token_file)."""
    token_file = tmp_path / "token"
    if not token_file.exists():
        write_token_file(token_file, create_token(collector_data, SITE_SLUG))
    config = tmp_path / "agent.toml"
    toml = agent_toml(
        tmp_path / "agent-data",
        collector.grpc_address,
        interval=INTERVAL_SECONDS,
        site=CLAIMED_SITE,
        collector={"token_file": str(token_file)},
    )
    config.write_text(toml, encoding="utf-8")
    return group.spawn([console_script("fleetwatch-agent"), "run", "--config", str(config)], "agent")


def agent_id_of(tmp_path: Path) -> str:
    return read_credential(tmp_path / "agent-data")["agent_id"]


def agent_up(samples: list[Sample]) -> float | None:
    """fleetwatch_agent_up of the only agent of the test's collector."""
    return value_of(samples, "fleetwatch_agent_up")


def wait_for_up(collector: CollectorProcess, agent: ManagedProcess | None, want: float) -> list[Sample]:
    """Scrape until fleetwatch_agent_up of the e2e agent equals ``want``; returns that scrape."""
    watch = (collector.process,) if agent is None else (collector.process, agent)

    def scrape() -> list[Sample] | None:
        samples = collector.samples()
        return samples if agent_up(samples) == want else None

    return wait_until(scrape, f"fleetwatch_agent_up == {want:g}", DEADLINE_SECONDS, 0.2, watch)


def test_agent_reports_this_host_then_goes_down_after_three_intervals(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    collector_data = tmp_path / "collector-data"
    collector = start_collector(processes, collector_data)
    agent = start_agent(processes, tmp_path, collector, collector_data)
    samples = wait_for_up(collector, agent, 1)

    credential = read_credential(tmp_path / "agent-data")
    assert (credential["site"], credential["district"], credential["site_type"]) == (
        SITE_SLUG,
        DISTRICT,
        SITE_TYPE,
    )
    labels = host_labels(credential["agent_id"])
    up = find_samples(samples, "fleetwatch_agent_up")
    assert [s.labels for s in up] == [labels], "labels must come from the site token, not [site]"
    assert value_of(samples, "fleetwatch_collector_enrolments_total", result="ok") == 1
    assert value_of(samples, "fleetwatch_host_memory_total_bytes", **labels) == psutil.virtual_memory().total
    assert value_of(samples, "fleetwatch_host_cpus", **labels) == psutil.cpu_count()
    root_size = value_of(samples, "fleetwatch_host_filesystem_size_bytes", mountpoint="/", **labels)
    assert root_size == psutil.disk_usage("/").total
    info = value_of(
        samples,
        "fleetwatch_agent_info",
        site_name=SITE_NAME,
        agent_version=agent_version,
        os_family=platform.system().lower(),
        **labels,
    )
    assert info == 1, f"no fleetwatch_agent_info with site_name={SITE_NAME!r}"
    assert value_of(samples, "fleetwatch_agent_probe_success", probe="resources", **labels) == 1

    agent.kill()
    killed_at = time.time()
    observations = observe_until_down(collector)
    (first_up, _, _), (down_up, down_scraped_at, down_samples) = observations[0], observations[-1]
    last_report = value_of(down_samples, "fleetwatch_agent_last_report_timestamp_seconds", **labels)
    assert last_report is not None

    assert first_up == 1, "the agent turned down right after it was killed, before 3 intervals passed"
    # The collector saw the last report no earlier than the agent collected it, so a scrape that
    # says "down" must have finished at least 3 intervals after that collection time.
    assert down_scraped_at >= last_report + DOWN_AFTER_INTERVALS * INTERVAL_SECONDS, (
        f"down at {down_scraped_at:.3f}, last report collected at {last_report:.3f}"
    )
    assert 1.5 <= down_scraped_at - killed_at <= 20.0, (
        f"down {down_scraped_at - killed_at:.1f}s after the kill; expected about 2-3 s (3 intervals of 1 s)"
    )
    # A silent agent stays listed, with its labels and facts, as down.
    assert down_up == 0
    assert value_of(down_samples, "fleetwatch_agent_info", site_name=SITE_NAME, **labels) == 1
    assert value_of(down_samples, "fleetwatch_collector_agents", state="down") == 1
    assert value_of(down_samples, "fleetwatch_collector_agents", state="up") == 0
    later = collector.samples()
    assert value_of(later, "fleetwatch_agent_up", **labels) == 0, "the silent agent was dropped"


def observe_until_down(collector: CollectorProcess) -> list[tuple[float, float, list[Sample]]]:
    """Scrape until the agent is down: (up value, time the scrape finished, samples) per scrape."""
    observations: list[tuple[float, float, list[Sample]]] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        samples = collector.samples()
        finished = time.time()
        up = agent_up(samples)
        assert up is not None, "the killed agent disappeared from /metrics"
        observations.append((up, finished, samples))
        if up == 0:
            return observations
        assert collector.process.returncode is None, collector.process.describe()
        assert time.monotonic() < deadline, f"agent still up {DEADLINE_SECONDS:g}s after it was killed"
        time.sleep(0.1)


@dataclass(frozen=True)
class Seen:
    """What a collector shows of the e2e agent."""

    up: float | None
    last_report: float | None
    reports_total: float | None
    info: dict[str, str]


def seen(samples: list[Sample]) -> Seen:
    info = find_samples(samples, "fleetwatch_agent_info")
    assert len(info) == 1, info
    return Seen(
        agent_up(samples),
        value_of(samples, "fleetwatch_agent_last_report_timestamp_seconds"),
        value_of(samples, "fleetwatch_agent_reports_total"),
        dict(info[0].labels),
    )


def test_collector_restart_keeps_silent_agent_listed_as_down(processes: ProcessGroup, tmp_path: Path) -> None:
    data_dir = tmp_path / "collector-data"
    first = start_collector(processes, data_dir, name="collector-1")
    agent = start_agent(processes, tmp_path, first, data_dir)
    wait_for_up(first, agent, 1)
    assert agent.stop() == 0, f"agent did not exit cleanly on SIGTERM\n{agent.describe()}"
    before = seen(wait_for_up(first, None, 0))
    assert before.info["site_name"] == SITE_NAME
    assert first.process.stop() == 0, f"collector did not exit cleanly on SIGTERM\n{first.process.describe()}"

    second = start_collector(processes, data_dir, name="collector-2")
    after = seen(second.samples())
    assert after.up == 0, "an agent known from the store must be listed as down after a restart"
    assert after.info == before.info, "labels and facts not restored from the store"
    agent_id = agent_id_of(tmp_path)
    assert {k: after.info[k] for k in host_labels(agent_id)} == host_labels(agent_id)
    assert after.last_report == before.last_report
    assert after.reports_total == before.reports_total, "the per-agent counter did not survive the restart"

    # The agent comes back with its saved credential: no second enrolment, the counter continues.
    again = start_agent(processes, tmp_path, second, data_dir)
    samples = wait_for_up(second, again, 1)
    assert agent_id_of(tmp_path) == agent_id
    assert value_of(samples, "fleetwatch_agent_up", **host_labels(agent_id)) == 1
    assert (value_of(samples, "fleetwatch_collector_enrolments_total", result="ok") or 0) == 0
    assert (value_of(samples, "fleetwatch_agent_reports_total") or 0) > (before.reports_total or 0)
