"""Periodic upkeep of the fleet: the site inventory file; revoked, forgotten, retired, handed over agents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.sitedir import Reload, SiteDirectory
from fleetwatch_collector.store import Store, StoreError

log = logging.getLogger(__name__)


class Upkeep:
    """Runs ``check`` every ``interval`` seconds, and at once after ``reload_sites`` (SIGHUP)."""

    def __init__(
        self,
        fleet: FleetState,
        store: Store,
        sites: SiteDirectory,
        metrics: CollectorMetrics,
        interval: float,
    ) -> None:
        self._fleet = fleet
        self._store = store
        self._sites = sites
        self._metrics = metrics
        self._interval = interval
        self._wake = asyncio.Event()
        self._force = False
        self._handed_over = 0  # agents handed over to other cluster members at the last pass
        metrics.inventory_sites.set(len(sites.inventory.sites))

    def reload_sites(self) -> None:
        """Read the inventory file again now, changed or not (the SIGHUP handler)."""
        self._force = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def check(self, force: bool = False) -> None:
        """One pass: reload a changed inventory and re-label, then apply the store's agents; agents of
        another member's home silent here for handover_seconds leave /metrics (fleet.py, exposure.py)."""
        outcome = self._sites.check(force)
        if outcome is Reload.FAILED:
            self._metrics.inventory_errors.inc()
        elif outcome is Reload.RELOADED:
            self._metrics.inventory_sites.set(len(self._sites.inventory.sites))
            changed = self._fleet.relabel()
            log.info("site inventory changed the labels of %d agents", changed)
        read_at = time.time()
        removed = self._fleet.sweep(self._store.agent_ids(), read_at)
        if removed:
            log.info("removed %d forgotten agents and their series", removed)
        handed_over = self._fleet.handed_over
        if handed_over != self._handed_over:
            log.info(
                "%d agents handed over: homed at other cluster members, no longer reporting here", handed_over
            )
            self._handed_over = handed_over

    async def run(self, stop: asyncio.Event) -> None:
        """Check until ``stop`` is set; errors are logged and the next pass tries again."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if stop.is_set():
                break
            force, self._force = self._force, False
            try:
                await asyncio.to_thread(self.check, force)
            except StoreError as exc:
                log.error("fleet upkeep: %s", exc)
            except Exception:  # the loop must outlive any one failure
                log.exception("fleet upkeep failed")
