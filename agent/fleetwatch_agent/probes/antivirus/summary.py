"""The antivirus lines of `fleetwatch-agent check`: the host's state, one line per product, detections."""

from __future__ import annotations

from fleetwatch_agent.probes.antivirus.model import SOURCES, AntivirusResult, ProductStatus


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
    if p.signature_clock_skew_seconds > 0:
        parts.append(f"signatures dated {_age(p.signature_clock_skew_seconds)} AFTER this host's clock")
    parts.append(f"real-time protection {'on' if p.realtime_protection else 'OFF'}")
    for kind, when in (("quick", p.last_quick_scan_unix), ("full", p.last_full_scan_unix)):
        if when:
            parts.append(f"last {kind} scan {_age(now - when)} ago")
    line = "  - " + ", ".join(parts)
    return line + (f"\n      ({p.detail})" if p.detail else "")


def lines(result: AntivirusResult, now: float) -> list[str]:
    """The host's antivirus state, one line per product, and what went wrong if anything."""
    out = [f"antivirus: {result.host_state.upper().replace('_', ' ')}"]
    out += [_product(p, now) for p in result.products]
    if not result.products:
        out.append("  - no antivirus product found")
    if result.source:
        note = f" ({result.source_note})" if result.source_note else ""
        out.append(f"  read through {SOURCES.get(result.source, result.source)}{note}")
    if result.error:
        out.append(f"  ! {result.error}")
    for d in result.detections:
        out.append(f"  ! {d.product} detected {d.threat} in {d.path} ({d.action})")
    return out
