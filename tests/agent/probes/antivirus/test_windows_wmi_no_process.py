"""No process per cycle: antivirus through WMI and connectivity through the IP Helper API start none."""

# A whole cycle as the agent runs it (each probe in its own thread, runner.run_cycle) on the fakes: the WMI
# recording of a client (wmi_support) and IP Helper buffers hand-built from the documented layouts
# (iphlpapi_fakes). Every way to start a process is replaced by one that records the attempt; the same
# cycle with the PowerShell source shows the recorder catches one. Checks go to 127.0.0.1 only.

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from fleetwatch_agent.probes.connectivity import ConnectivityConfig, netinfo
from fleetwatch_agent.probes.connectivity.collect import LOOPBACK_ONLY_ENV
from fleetwatch_agent.probes.connectivity.collect import make_collector as connectivity_collector
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult
from fleetwatch_agent.probes.connectivity.netinfo_windows import IpHelper, read_adapters, read_default_routes
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.runner import BoundProbe, run_cycle
from tests.agent.probes.antivirus.windows_support import NOW, files_check
from tests.agent.probes.antivirus.wmi_support import FakeWmi, recording
from tests.agent.probes.connectivity.iphlpapi_fakes import (
    AdapterSpec,
    FakeGetAdaptersAddresses,
    FakeRouteTable,
    RouteSpec,
)

SPAWNERS = ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve", "execvp", "popen")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to start a process, refused and recorded."""
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def attempt(*args: object, **kwargs: object) -> None:
            attempts.append(f"{name}{args[:1]}")
            raise OSError(f"{name}: no process may start here")

        return attempt

    monkeypatch.setattr(subprocess, "Popen", refuse("subprocess.Popen"))
    for name in SPAWNERS:
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse(f"os.{name}"))
    monkeypatch.setenv(LOOPBACK_ONLY_ENV, "1")
    return attempts


def ip_helper() -> IpHelper:
    """One adapter up whose gateway and DNS server are on loopback, so the checks stay on this host."""
    adapters = FakeGetAdaptersAddresses(
        [AdapterSpec("{LOOPBACK-LAB}", 1, up=True, ipv4_metric=25, dns=("127.0.0.1",))]
    )
    routes = FakeRouteTable([RouteSpec("0.0.0.0/0", "127.0.0.1", 1, 0)])
    return IpHelper(lambda: read_adapters(adapters), lambda: read_default_routes(routes.get, routes.free))


def cycle(windows_source: str) -> tuple[dict[str, bool], dict[str, object]]:
    context = ProbeContext(Path("."), clock=lambda: NOW)
    antivirus = win.make_collector(
        AntivirusConfig(windows_source=windows_source),  # type: ignore[arg-type]
        context,  # the real PowerShell runner: a process if anything asks for one
        path_exists=files_check(None),
        open_wmi=FakeWmi(recording("wmi_client.json")).wmi,
    )
    config = ConnectivityConfig(
        count=1, attempt_timeout_seconds=0.3, dns_name="fleetwatch.test", collector=False, traceroute=False
    )
    network = netinfo.choose_reader(config.windows_source, ip_helper, windows=True)
    connectivity = connectivity_collector(config, context, network=network)
    probes = (BoundProbe("antivirus", antivirus, 20.0), BoundProbe("connectivity", connectivity, 10.0))
    outcomes, results = asyncio.run(run_cycle(probes))
    return {o.name: o.success for o in outcomes}, results


def test_a_cycle_through_wmi_and_the_ip_helper_api_starts_no_process(started: list[str]) -> None:
    outcomes, results = cycle("auto")
    assert started == []
    assert outcomes == {"antivirus": True, "connectivity": True}
    antivirus, connectivity = results["antivirus"], results["connectivity"]
    assert isinstance(antivirus, AntivirusResult) and isinstance(connectivity, ConnectivityResult)
    assert (antivirus.source, antivirus.host_state) == ("wmi", "protected")
    assert connectivity.network_source == "iphlpapi"
    # The plan came from the IP Helper API: its gateway and DNS server were checked.
    assert [(t.name, t.result.address) for t in connectivity.targets] == [
        ("gateway", "127.0.0.1"),
        ("dns-1", "127.0.0.1"),
    ]


def test_the_recorder_catches_the_powershell_source(started: list[str]) -> None:
    _, results = cycle("powershell")
    assert started and started[0].startswith("subprocess.Popen")
    antivirus = results["antivirus"]
    assert isinstance(antivirus, AntivirusResult) and antivirus.source == "powershell"
    assert "powershell could not start" in antivirus.error
