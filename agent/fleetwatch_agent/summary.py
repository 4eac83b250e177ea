"""Readable lines for a technician running `fleetwatch-agent check` (the JSON is for machines)."""

from __future__ import annotations

from fleetwatch_agent.probes.antivirus.model import AntivirusResult, ProductStatus
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _product(p: ProductStatus, now: float) -> str:
    parts = [f"{p.name} {p.product_version}".strip() + f": {p.state.upper()}"]
    if p.signature_version or p.signature_updated_unix:
        age = f", {_age(now - p.signature_updated_unix)} old" if p.signature_updated_unix else ""
        parts.append(f"signatures {p.signature_version or '?'}{age}")
    parts.append(f"real-time protection {'on' if p.realtime_protection else 'OFF'}")
    for kind, when in (("quick", p.last_quick_scan_unix), ("full", p.last_full_scan_unix)):
        if when:
            parts.append(f"last {kind} scan {_age(now - when)} ago")
    line = "  - " + ", ".join(parts)
    return line + (f"\n      ({p.detail})" if p.detail else "")


def antivirus_lines(result: AntivirusResult, now: float) -> list[str]:
    """The host's antivirus state, one line per product, and what went wrong if anything."""
    lines = [f"antivirus: {result.host_state.upper().replace('_', ' ')}"]
    lines += [_product(p, now) for p in result.products]
    if not result.products:
        lines.append("  - no antivirus product found")
    if result.error:
        lines.append(f"  ! {result.error}")
    for d in result.detections:
        lines.append(f"  ! {d.product} detected {d.threat} in {d.path} ({d.action})")
    return lines


def connectivity_lines(result: ConnectivityResult) -> list[str]:
    """One line per target: up or down, latency and loss, or why it failed and where the path ends."""
    lines = ["connectivity:"]
    if not result.targets:
        lines.append("  - no targets (no default gateway found and none configured)")
    for status in result.targets:
        r = status.result
        if r.success:
            state = f"up, {r.rtt_avg_seconds * 1000:.1f} ms, loss {r.loss_ratio:.0%}"
        else:
            state = f"DOWN ({r.error}{': ' + r.detail if r.detail else ''})"
        line = f"  - {status.name} [{status.kind} {status.role}]: {state}"
        if status.path is not None:
            path = status.path
            if path.error:
                line += f"; traceroute: {path.error}"
            elif path.reached:
                line += f"; traceroute reached it in {path.hops} hops"
            else:
                line += f"; path ends after hop {path.hops} ({path.last_hop or 'no answer'})"
        lines.append(line)
    for outage in result.outages:
        seconds = (outage.end_unix_ms - outage.start_unix_ms) / 1000
        lines.append(f"  ! {outage.target} was down for {seconds:.0f} s")
    return lines
