"""A real agent checking a web server that trickles its headers a byte a second, for longer than it runs."""
# The check is a timeout at its deadline, the other targets are up in the same cycle, the agent
# reports every interval, and it stops within its grace period on SIGTERM.
#
# Before (as the issue found): the HTTP check's timeout applied to each read, so a server sending a
# byte a second was reported up after ten seconds, and slower ones held the probe's threads.

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.samples import Sample

from tests.conftest import free_port
from tests.e2e.support import (
    ProcessGroup,
    agent_toml,
    create_token,
    start_collector,
    value_of,
    wait_until,
    write_token_file,
)
from tests.integration.netns_servers import HTTP_SERVER, SLOW_HEADER_SERVER

pytestmark = pytest.mark.e2e

INTERVAL = 2.0
INTERVALS = 10
PROBE_TIMEOUT = 1.5
HTTP_TIMEOUT = 1.0
STOP_GRACE_SECONDS = 5.0
UP = ("fast", "lo", "lo6", "web6", "collector")


def serve(processes: ProcessGroup, tmp_path: Path, name: str, script: str, *args: str) -> None:
    """Run a server script of tests/integration/netns_servers.py on loopback until the test ends."""
    path = tmp_path / f"{name}.py"
    path.write_text(script)
    process = processes.spawn([sys.executable, str(path), *args], name)
    wait_until(lambda: "ready" in process.stdout() or None, f"{name} ready", timeout=20, watch=(process,))


def cycle_state(samples: list[Sample]) -> dict[str, object]:
    """What the collector shows of the agent's newest cycle."""
    reasons = {
        s.labels["target"]: s.labels["reason"]
        for s in samples
        if s.name == "fleetwatch_connectivity_failure_info"
    }
    up = {s.labels["target"]: s.value for s in samples if s.name == "fleetwatch_connectivity_up"}
    return {
        "reports": value_of(samples, "fleetwatch_agent_reports_total") or 0.0,
        "success": value_of(samples, "fleetwatch_agent_probe_success", probe="connectivity"),
        "duration": value_of(samples, "fleetwatch_agent_probe_duration_seconds", probe="connectivity"),
        "failing": reasons,
        "up": up,
    }


def test_a_server_trickling_its_headers_never_holds_up_the_agent(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    slow_port, fast_port = free_port(), free_port()
    serve(processes, tmp_path, "slow-server", SLOW_HEADER_SERVER, "127.0.0.1", str(slow_port), "1")
    binds = [["127.0.0.1", fast_port], ["::1", fast_port]]
    serve(processes, tmp_path, "web-server", HTTP_SERVER, json.dumps(binds))
    collector = start_collector(processes, tmp_path / "collector-data")
    token = write_token_file(tmp_path / "site.token", create_token(tmp_path / "collector-data"))
    targets = {
        "slow": ("http", f"http://127.0.0.1:{slow_port}/"),
        "fast": ("http", f"http://127.0.0.1:{fast_port}/"),
        "web6": ("http", f"http://[::1]:{fast_port}/"),
        "lo": ("icmp", "127.0.0.1"),
        "lo6": ("icmp", "::1"),
    }
    tables = "".join(
        f'\n[[probes.connectivity.targets]]\nname = "{name}"\nkind = "{kind}"\naddress = "{address}"\n'
        for name, (kind, address) in targets.items()
    )
    config = tmp_path / "agent.toml"
    config.write_text(
        agent_toml(
            tmp_path / "agent-data",
            collector.grpc_address,
            interval=INTERVAL,
            collector={"token_file": str(token)},
        )
        + "\n[probes.resources]\nenabled = false\n[probes.antivirus]\nenabled = false\n"
        + f"[probes.connectivity]\ntimeout_seconds = {PROBE_TIMEOUT}\nhttp_timeout_seconds = {HTTP_TIMEOUT}\n"
        + "count = 2\nspacing_seconds = 0.1\nattempt_timeout_seconds = 0.5\n"
        + "gateway = false\ntraceroute = false\n"
        + tables
    )
    agent = processes.spawn(
        [sys.executable, "-m", "fleetwatch_agent", "run", "--config", str(config)], "agent"
    )

    wait_until(lambda: cycle_state(collector.samples())["reports"] >= 1, "the first report", watch=(agent,))
    first = time.monotonic()
    seen: list[dict[str, object]] = []
    deadline = first + INTERVALS * INTERVAL * 2 + 10
    while len(seen) < INTERVALS and time.monotonic() < deadline and agent.returncode is None:
        state = cycle_state(collector.samples())
        if not seen or state["reports"] != seen[-1]["reports"]:
            seen.append(state)
        time.sleep(0.2)
    elapsed = time.monotonic() - first

    assert len(seen) >= INTERVALS, f"{len(seen)} reports in {elapsed:.1f} s\n{agent.describe()}"
    assert elapsed < INTERVALS * INTERVAL * 1.5, f"{INTERVALS} reports took {elapsed:.1f} s"
    for state in seen:
        assert state["success"] == 1, state
        assert state["failing"] == {"slow": "timeout"}, state
        up = state["up"]
        assert isinstance(up, dict) and all(up[name] == 1 for name in UP), state
        duration = state["duration"]
        assert isinstance(duration, float) and HTTP_TIMEOUT <= duration < PROBE_TIMEOUT, state

    agent.popen.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = agent.wait(STOP_GRACE_SECONDS)
    assert code == 0, agent.describe()
    assert time.monotonic() - started < STOP_GRACE_SECONDS
