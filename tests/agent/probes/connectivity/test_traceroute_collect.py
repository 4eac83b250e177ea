"""Paths through the probe's cycles: the default tracer in the background, IPv4 and IPv6, on loopback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from fleetwatch_agent.probes.connectivity.collect import make_collector
from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.pathdiag import PathDiagnosis
from fleetwatch_agent.probes.connectivity.targets import TargetConfig
from fleetwatch_agent.probes.context import ProbeContext
from tests.agent.probes.connectivity.servers import syn_dropping_listener
from tests.agent.probes.connectivity.test_collect import RecordingDiagnosis, config

# Packets go to 127.0.0.1 and ::1 only.
pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_INET6"), reason="needs IPv6")


def test_a_failing_ipv6_target_is_diagnosed_too() -> None:
    diagnosis = RecordingDiagnosis()
    with syn_dropping_listener("::1") as port:
        cfg = config([TargetConfig("app6", "tcp", f"[::1]:{port}")], timeout_seconds=2.0, traceroute=True)
        collect = make_collector(cfg, ProbeContext(Path(".")), paths=diagnosis)
        first = collect()
        assert diagnosis.wait(5.0)
        second = collect()
    assert first.targets[0].result.error == "timeout"
    assert diagnosis.asked == [["::1"]]
    assert second.targets[0].path == PathResult(1, "192.0.2.1", False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux probes")
def test_the_default_tracer_runs_in_process_and_its_path_rides_in_the_next_report() -> None:
    """No child process: the background thread traces loopback itself (UDP, or ICMP where allowed)."""
    diagnosis = PathDiagnosis(4, 5.0)
    with syn_dropping_listener("127.0.0.1") as port, syn_dropping_listener("::1") as port6:
        targets = [
            TargetConfig("app", "tcp", f"127.0.0.1:{port}"),
            TargetConfig("app6", "tcp", f"[::1]:{port6}"),
        ]
        cfg = config(targets, timeout_seconds=2.0, traceroute=True)
        collect = make_collector(cfg, ProbeContext(Path(".")), paths=diagnosis)
        first = collect()
        assert diagnosis.wait(10.0)
        second = collect()
    assert [t.path for t in first.targets] == [None, None]
    assert {t.name: t.path for t in second.targets} == {
        "app": PathResult(1, "127.0.0.1", True),
        "app6": PathResult(1, "::1", True),
    }
