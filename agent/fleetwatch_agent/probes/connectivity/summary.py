"""The connectivity lines of `fleetwatch-agent check`: each target up or down, its path, outages."""

from __future__ import annotations

from fleetwatch_agent.probes.connectivity.model import NETWORK_SOURCES, ConnectivityResult


def lines(result: ConnectivityResult, now: float) -> list[str]:
    """One line per target: up or down, latency and loss, or why it failed and where the path ends."""
    out = ["connectivity:"]
    if not result.targets:
        out.append("  - no targets (no default gateway found and none configured)")
    for status in result.targets:
        r = status.result
        if r.success:
            via = f" via {r.address}" if r.address else ""
            state = f"up{via}, {r.rtt_avg_seconds * 1000:.1f} ms, loss {r.loss_ratio:.0%}"
        else:
            state = f"DOWN ({r.error}{': ' + r.detail if r.detail else ''})"
        line = f"  - {status.name} [{status.kind} {status.role}]: {state}"
        if status.path is not None:
            path = status.path
            if path.error and not path.hops:
                line += f"; traceroute: {path.error}"
            elif path.reached:
                line += f"; traceroute reached it in {path.hops} hops"
            else:
                line += f"; path ends after hop {path.hops} ({path.last_hop or 'no answer'})"
        out.append(line)
    if result.network_source:
        name = NETWORK_SOURCES.get(result.network_source, result.network_source)
        note = f" ({result.network_source_note})" if result.network_source_note else ""
        out.append(f"  gateway and DNS servers read from {name}{note}")
    if result.checks_cut:
        out.append(f"  ! {result.checks_cut} check(s) cut at the probe's budget (timeout_seconds too short)")
    for outage in result.outages:
        seconds = (outage.end_unix_ms - outage.start_unix_ms) / 1000
        out.append(f"  ! {outage.target} was down for {seconds:.0f} s")
    return out
