"""A real agent process whose probe hangs in the kernel: it reports every interval and stops on SIGTERM."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.support import (
    ProcessGroup,
    agent_toml,
    create_token,
    start_collector,
    value_of,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e

INTERVAL = 1
INTERVALS = 10
# The agent abandons an unfinished cycle and a Push in flight: it is gone well within this.
STOP_GRACE_SECONDS = 5.0
LAUNCH = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); from tests.e2e.stuck_agent import main; main()"


def test_a_hung_probe_neither_stops_the_reports_nor_the_shutdown(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    collector = start_collector(processes, tmp_path / "collector-data")
    token = write_token_file(tmp_path / "site.token", create_token(tmp_path / "collector-data"))
    config = tmp_path / "agent.toml"
    config.write_text(
        agent_toml(
            tmp_path / "agent-data",
            collector.grpc_address,
            interval=INTERVAL,
            collector={"token_file": str(token)},
        )
        + "\n[probes.antivirus]\nenabled = false\n[probes.connectivity]\nenabled = false\n"
    )
    agent = processes.spawn([sys.executable, "-c", LAUNCH, "run", "--config", str(config)], "stuck-agent")

    def reports() -> float:
        return value_of(collector.samples(), "fleetwatch_agent_reports_total") or 0.0

    wait_until(lambda: reports() >= 1, "the first report", watch=(agent,))
    first = time.monotonic()
    wait_until(
        lambda: reports() >= INTERVALS + 1,
        f"{INTERVALS} more reports",
        timeout=INTERVALS * INTERVAL * 3 + 30,
        watch=(agent,),
    )
    elapsed = time.monotonic() - first
    samples = collector.samples()
    assert value_of(samples, "fleetwatch_agent_probe_success", probe="stuck") == 0
    assert value_of(samples, "fleetwatch_agent_probe_success", probe="resources") == 1
    # Every interval, not slowed down by the hung thread (generous for a loaded machine).
    assert elapsed < INTERVALS * INTERVAL * 2, f"{INTERVALS} reports took {elapsed:.1f}s"
    assert "probe stuck: no result after 0.5s" in agent.stderr()

    agent.popen.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = agent.wait(STOP_GRACE_SECONDS)
    stopped_in = time.monotonic() - started
    assert code == 0, agent.describe()
    assert stopped_in < STOP_GRACE_SECONDS
    assert "agent stopped" in agent.stderr(), agent.describe()
