"""Edge outage tracking: per-target "down since" kept as cursors, an Outage when the target is back.

A target seen failing at cycle t1 is down since t1 (it failed somewhere in the interval before;
the duration is exact to one interval). When it succeeds again at t2, the report of that
cycle carries Outage(t1, t2), and its cursor is cleared in the same spool transaction, so an
outage that began and ended while the collector was unreachable arrives later, exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fleetwatch_agent.probes.connectivity.model import Outage, TargetStatus

CURSOR_PREFIX = "outage:"


def track(
    committed: Mapping[str, str], statuses: Iterable[TargetStatus], now_ms: int
) -> tuple[list[Outage], dict[str, str]]:
    """Outages that ended now, and the cursor updates ("" = up) for these targets."""
    outages: list[Outage] = []
    updates: dict[str, str] = {}
    for status in statuses:
        key = CURSOR_PREFIX + status.name
        down_since = committed.get(key, "")
        if status.result.success:
            if down_since:
                outages.append(Outage(status.name, int(down_since), now_ms))
                updates[key] = ""
        elif not down_since:
            updates[key] = str(now_ms)
    return outages, updates
