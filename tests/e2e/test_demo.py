"""`make demo` in a short mode: the script starts the whole stack and on-call gets notified."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port, require_program

pytestmark = pytest.mark.e2e
DURATION_SECONDS = 110  # the demo scenario darkens its commune at 1 minute


def test_the_demo_shows_a_site_outage_to_on_call(tmp_path: Path) -> None:
    require_program("prometheus", "apt-get install prometheus")
    if not any(Path(d, n).exists() for d in os.environ["PATH"].split(":")
               for n in ("prometheus-alertmanager", "alertmanager")):  # fmt: skip
        require_program("prometheus-alertmanager", "apt-get install prometheus-alertmanager")
    env = {
        **os.environ,
        "BIN": str(Path(sys.executable).parent),
        "DEMO_DIR": str(tmp_path / "demo"),
        "FLEETWATCH_DEMO_AGENTS": "120",
        "FLEETWATCH_DEMO_INTERVAL": "2",
        "FLEETWATCH_DEMO_TIME_SCALE": "0.02",
        "FLEETWATCH_DEMO_DURATION": str(DURATION_SECONDS),
        **{
            f"FLEETWATCH_DEMO_{name}_PORT": str(free_port())
            for name in ("GRPC", "HTTP", "PROMETHEUS", "ALERTMANAGER", "RECEIVER")
        },
    }
    demo = subprocess.Popen(
        ["bash", str(REPO_ROOT / "deploy" / "demo.sh")], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = demo.communicate(timeout=DURATION_SECONDS + 60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGTERM)
        output, _ = demo.communicate(timeout=30)
        pytest.fail(f"the demo did not stop after its duration:\n{output}")
    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{env['FLEETWATCH_DEMO_HTTP_PORT']}/metrics" in output
    assert f"http://127.0.0.1:{env['FLEETWATCH_DEMO_PROMETHEUS_PORT']}/alerts" in output
    assert "stopped; logs are in" in output
    # The notification as on-call reads it, printed by the receiver...
    assert "[FIRING] FleetwatchSiteDown severity=critical site=xa-tan-my-chanh" in output, output
    assert "vi: Mất liên lạc toàn bộ đơn vị xa-tan-my-chanh" in output
    # ... and as Alertmanager sent it.
    record = tmp_path / "demo" / "notifications.jsonl"
    alerts = [a for line in record.read_text().splitlines() for a in json.loads(line)["alerts"]]
    assert any(a["labels"]["alertname"] == "FleetwatchSiteDown" for a in alerts)
    # Every process the demo started is gone.
    left = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True, check=False
    )
    assert left.stdout == "", f"processes left running: {left.stdout}"
