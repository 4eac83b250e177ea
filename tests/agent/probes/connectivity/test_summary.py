"""The connectivity lines `fleetwatch-agent check` prints: each target, where a failing path ends, outages."""

from __future__ import annotations

from fleetwatch_agent.probes.connectivity.model import (
    CheckResult,
    ConnectivityResult,
    Outage,
    PathResult,
    TargetStatus,
)
from fleetwatch_agent.probes.connectivity.summary import lines

NOW = 1_760_000_000.0


def test_no_targets() -> None:
    assert lines(ConnectivityResult(()), NOW) == [
        "connectivity:",
        "  - no targets (no default gateway found and none configured)",
    ]


def test_up_down_paths_and_outages() -> None:
    up = CheckResult(True, 5, 4, 0.001, 0.0025, 0.004)
    refused = CheckResult(False, 3, 0, error="refused", detail="connection refused")
    timeout = CheckResult(False, 5, 0, error="timeout")
    result = ConnectivityResult(
        (
            TargetStatus("gateway", "icmp", "gateway", up),
            TargetStatus("collector", "tcp", "collector", refused, PathResult(3, "10.0.0.1", reached=True)),
            TargetStatus("site-router", "icmp", "site_router", timeout, PathResult(2, "", reached=False)),
            TargetStatus("portal", "icmp", "custom", timeout, PathResult(error="not permitted")),
        ),
        outages=(Outage("gateway", 1_759_999_000_000, 1_759_999_090_000),),
    )
    assert lines(result, NOW) == [
        "connectivity:",
        "  - gateway [icmp gateway]: up, 2.5 ms, loss 20%",
        "  - collector [tcp collector]: DOWN (refused: connection refused); traceroute reached it in 3 hops",
        "  - site-router [icmp site_router]: DOWN (timeout); path ends after hop 2 (no answer)",
        "  - portal [icmp custom]: DOWN (timeout); traceroute: not permitted",
        "  ! gateway was down for 90 s",
    ]
