"""Agent lifecycle with real processes: a reinstalled agent re-enrols as the same host; `agent forget`,
revocation and retirement take hosts off /metrics and out of the KPI denominators (promtool on the scrapes).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest
from prometheus_client.samples import Sample

from fleetwatch_agent.hostfacts import read_machine_id
from tests.e2e.fleet_client import FleetClient, PlayedAgent, run_kpi_rules
from tests.e2e.support import (
    ProcessGroup,
    console_script,
    create_token,
    fetch_metrics,
    find_samples,
    parse_samples,
    run_command,
    start_collector,
    toml_string,
    value_of,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e

SITE = "xa-an-cu"
PROVINCE = "province:fleetwatch_antivirus_protected:ratio"


def reports_total(samples: list[Sample], agent_id: str) -> float:
    return value_of(samples, "fleetwatch_agent_reports_total", agent_id=agent_id) or 0


def test_reinstalled_agent_reenrols_as_the_same_host(processes: ProcessGroup, tmp_path: Path) -> None:
    data_dir = tmp_path / "collector-data"
    token = create_token(data_dir, SITE)
    collector = start_collector(processes, data_dir)
    agent_dir = tmp_path / "agent-data"
    token_file = write_token_file(tmp_path / "site.token", token)
    # The machine's own /etc/machine-id; where the test machine has none, the documented override.
    override = "" if read_machine_id() else "e2e-reinstalled-pc"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
id = {toml_string(override)}
data_dir = {toml_string(str(agent_dir))}
interval_seconds = 1

[collector]
addresses = [{toml_string(collector.grpc_address)}]
timeout_seconds = 5.0
token_file = {toml_string(str(token_file))}
""",
        encoding="utf-8",
    )

    def run_agent(name: str) -> str:
        """Start the agent, wait for 3 of its reports, stop it; its agent id."""
        process = processes.spawn([console_script("fleetwatch-agent"), "run", "--config", str(config)], name)
        agent_id = wait_until(
            lambda: (
                json.loads((agent_dir / "credential.json").read_text())["agent_id"]
                if (agent_dir / "credential.json").exists()
                else None
            ),
            f"{name} to enrol",
            watch=(process, collector.process),
        )
        start = reports_total(collector.samples(), agent_id)
        wait_until(
            lambda: reports_total(collector.samples(), agent_id) >= start + 3,
            f"3 reports of {name}",
            watch=(process, collector.process),
        )
        assert process.stop() == 0, process.describe()
        return str(agent_id)

    first_id = run_agent("agent-before")
    old_secret = json.loads((agent_dir / "credential.json").read_text())["secret"]
    before = reports_total(collector.samples(), first_id)
    shutil.rmtree(agent_dir)  # reinstalled: spool, sequence numbers and credential are gone

    second_id = run_agent("agent-after")
    samples = collector.samples()
    assert second_id == first_id
    assert value_of(samples, "fleetwatch_collector_enrolments_total", result="reenrolled") == 1
    assert value_of(samples, "fleetwatch_collector_enrolments_total", result="ok") == 1
    # One host, its counter continued from where the first installation left it.
    up = find_samples(samples, "fleetwatch_agent_up")
    assert [s.labels["agent_id"] for s in up] == [first_id]
    assert reports_total(samples, first_id) >= before + 3
    # The first installation's secret no longer works.
    client = FleetClient(collector.grpc_address)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            client.push(PlayedAgent(first_id, old_secret, "pc", True, SITE, seq=10**6))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        client.close()


def test_forget_revoke_and_retirement_leave_metrics_and_the_kpi(
    processes: ProcessGroup, tmp_path: Path, promtool: str
) -> None:
    data_dir = tmp_path / "collector-data"
    config = tmp_path / "collector.toml"
    # Retired after 0.0001 day (8.64 s) of silence; the store is checked every half second.
    config.write_text("[fleet]\nretire_after_days = 0.0001\ncheck_seconds = 0.5\n", encoding="utf-8")
    token = create_token(data_dir, SITE)
    collector = start_collector(processes, data_dir, config=config)
    client = FleetClient(collector.grpc_address)
    try:
        keeper = client.enrol(token, "pc-keeper", protected=True)
        forgotten = client.enrol(token, "pc-forgotten", protected=True)
        silent = client.enrol(token, "pc-silent", protected=False)
        for agent in (keeper, forgotten, silent):
            client.push(agent)
        scrapes = [fetch_metrics(collector.metrics_url)]  # minute 0: 2 of 3 protected

        result = run_command(
            "fleetwatch-collector",
            "agent",
            "forget",
            forgotten.agent_id,
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
        )
        assert result.returncode == 0, result.stderr
        client.push(keeper)
        wait_until(
            lambda: forgotten.agent_id not in hosts(collector.metrics_url),
            "the forgotten agent to leave /metrics",
        )
        scrapes.append(fetch_metrics(collector.metrics_url))  # minute 1: 1 of 2

        def silent_retired() -> bool:
            client.push(keeper)  # the keeper goes on reporting
            return silent.agent_id not in hosts(collector.metrics_url)

        wait_until(silent_retired, "the silent agent to retire", timeout=60, interval=1.0)
        scrapes.append(fetch_metrics(collector.metrics_url))  # minute 2: 1 of 1
        samples = parse_samples(scrapes[-1])
        assert value_of(samples, "fleetwatch_collector_agents", state="retired") == 1
        assert value_of(samples, "fleetwatch_collector_agents", state="up") == 1

        result = run_command(
            "fleetwatch-collector", "agent", "revoke", keeper.agent_id, "--data-dir", str(data_dir)
        )
        assert result.returncode == 0, result.stderr
        wait_until(lambda: not hosts(collector.metrics_url), "the revoked agent to leave /metrics")
        scrapes.append(fetch_metrics(collector.metrics_url))  # minute 3: nobody left
        assert value_of(parse_samples(scrapes[-1]), "fleetwatch_collector_agents", state="retired") == 2
    finally:
        client.close()

    outcome = run_kpi_rules(
        promtool,
        scrapes,
        [
            (PROVINCE, 0, [(PROVINCE, 2 / 3)]),
            (PROVINCE, 1, [(PROVINCE, 0.5)]),
            (PROVINCE, 2, [(PROVINCE, 1.0)]),
            (PROVINCE, 3, []),
            ("count(fleetwatch_antivirus_protected)", 1, [("{}", 2)]),
        ],
        tmp_path,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr

    # After a restart: the forgotten agent is gone, the retired and the revoked ones stay off.
    assert collector.process.stop() == 0
    again = start_collector(processes, data_dir, "collector-again", config=config)
    samples = again.samples()
    assert not find_samples(samples, "fleetwatch_agent_up")
    assert value_of(samples, "fleetwatch_collector_agents", state="retired") == 2


def hosts(metrics_url: str) -> set[str]:
    """Agent ids with a fleetwatch_agent_up series."""
    return {
        s.labels["agent_id"]
        for s in find_samples(parse_samples(fetch_metrics(metrics_url)), "fleetwatch_agent_up")
    }
