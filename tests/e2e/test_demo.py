"""`make demo` in a short mode: the script starts the whole stack, on-call gets notified, and the
collector shows the sites' routers (the simulated ones, and snmpd where it is installed)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.agent.probes.snmp.snmpd import free_udp_port
from tests.conftest import REPO_ROOT, free_port, peers_required, require_program
from tests.e2e.support import http_get, parse_samples

pytestmark = [pytest.mark.e2e, pytest.mark.peer("snmpd")]
DURATION_SECONDS = 110  # the demo scenario darkens its commune at 1 minute
CENTRAL_DEVICE = "snmpd-local"  # the router deploy/demo.sh makes of snmpd


def watch_routers(
    url: str, pages: list[str], stop: threading.Event, seen: dict[str, float], answered: set[str]
) -> None:
    """While the demo runs: the most simulated routers the collector showed at once ("simulated", their
    fleetwatch_netdev_up series carry an agent_id), the best fleetwatch_netdev_up of snmpd's, and which
    of ``pages`` answered 200."""
    while not stop.wait(3.0):
        answered.update(page for page in pages if http_get(page)[0] == 200)
        status, text = http_get(url)
        if status != 200:
            continue
        up = [s for s in parse_samples(text) if s.name == "fleetwatch_netdev_up"]
        simulated = sum(1 for s in up if "agent_id" in s.labels)
        seen["simulated"] = max(seen.get("simulated", 0), simulated)
        for s in up:
            if s.labels["device"] == CENTRAL_DEVICE and "agent_id" not in s.labels:
                seen["central"] = max(seen.get("central", 0), s.value)


def test_the_demo_shows_a_site_outage_to_on_call(tmp_path: Path) -> None:
    require_program("prometheus", "apt-get install prometheus")
    if not any(Path(d, n).exists() for d in os.environ["PATH"].split(":")
               for n in ("prometheus-alertmanager", "alertmanager")):  # fmt: skip
        require_program("prometheus-alertmanager", "apt-get install prometheus-alertmanager")
    snmpd = shutil.which("snmpd") or shutil.which("/usr/sbin/snmpd")  # as the demo finds it
    if snmpd is None and peers_required():
        require_program("snmpd", "apt-get install snmpd")  # fails: CI has snmpd
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
        "FLEETWATCH_DEMO_SNMP_PORT": str(free_udp_port()),
        "FLEETWATCH_DEMO_TRAP_PORT": str(free_udp_port()),
    }
    demo = subprocess.Popen(
        ["bash", str(REPO_ROOT / "deploy" / "demo.sh")], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    seen: dict[str, float] = {}
    answered: set[str] = set()
    stop = threading.Event()
    metrics_url = f"http://127.0.0.1:{env['FLEETWATCH_DEMO_HTTP_PORT']}/metrics"
    prometheus = f"http://127.0.0.1:{env['FLEETWATCH_DEMO_PROMETHEUS_PORT']}"
    pages = [f"{prometheus}/alerts", f"{prometheus}/classic/alerts"]  # upstream's UI, Debian's package
    watcher = threading.Thread(
        target=watch_routers, args=(metrics_url, pages, stop, seen, answered), daemon=True
    )
    watcher.start()
    try:
        output, _ = demo.communicate(timeout=DURATION_SECONDS + 60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGTERM)
        output, _ = demo.communicate(timeout=30)
        pytest.fail(f"the demo did not stop after its duration:\n{output}")
    finally:
        stop.set()
        watcher.join(30)
    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{env['FLEETWATCH_DEMO_HTTP_PORT']}/metrics" in output
    # The alerts page it prints is one Prometheus serves (Debian's has no /alerts).
    printed = [page for page in pages if f"alerts:       {page} " in output]
    assert len(printed) == 1 and printed[0] in answered, (printed, answered, output)
    assert "stopped; logs are in" in output
    # The notification as on-call reads it, printed by the receiver...
    assert "[FIRING] FleetwatchSiteDown severity=critical site=xa-tan-my-chanh" in output, output
    assert "vi: Mất liên lạc toàn bộ đơn vị xa-tan-my-chanh" in output
    # ... and as Alertmanager sent it.
    record = tmp_path / "demo" / "notifications.jsonl"
    alerts = [a for line in record.read_text().splitlines() for a in json.loads(line)["alerts"]]
    assert any(a["labels"]["alertname"] == "FleetwatchSiteDown" for a in alerts)
    # The sites' routers: one per site with a simulated agent (120 agents: more than 80 sites), and
    # snmpd, polled by the collector itself, answering.
    assert seen.get("simulated", 0) > 80, seen
    if snmpd is not None:
        assert f"snmpd on 127.0.0.1:{env['FLEETWATCH_DEMO_SNMP_PORT']}" in output, output
        assert seen.get("central") == 1, seen
    else:
        assert "snmpd is not installed" in output, output
    # Every process the demo started is gone.
    left = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True, check=False
    )
    assert left.stdout == "", f"processes left running: {left.stdout}"
