"""The collector's SNMP side, assembled from [snmp]: central poller, trap receiver, their loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from fleetwatch_collector.config import SnmpSection
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_collector.snmpapi import SnmpBackend, TrapServer, real_backend
from fleetwatch_collector.snmpcentral import CentralPoller
from fleetwatch_collector.snmptraps import TrapRouter
from fleetwatch_collector.store import Store, StoreError

log = logging.getLogger(__name__)


class SnmpConfigError(ValueError):
    """[snmp] cannot be used as configured (a credential file, an option); names the option."""


class SnmpService:
    """Made only when [snmp] sets a devices file or a trap address; ``start`` binds the trap port."""

    def __init__(
        self,
        section: SnmpSection,
        sites: SiteDirectory,
        fleet: FleetState,
        metrics: CollectorMetrics,
        store: Store,
        persister: Persister,
        check_seconds: float,
        backend: SnmpBackend | None = None,
    ) -> None:
        self._section = section
        self._fleet = fleet
        self._metrics = metrics
        self._store = store
        self._persister = persister
        self._check_seconds = check_seconds
        self._backend = backend = backend or real_backend()
        try:
            self.credentials = backend.load_credentials(section.credentials, Path.cwd())
        except ValueError as exc:
            raise SnmpConfigError(f"snmp.credentials: {exc}") from exc
        self.central = None
        if section.devices_file:  # a bad file raises ConfigError: the collector does not start
            self.central = CentralPoller(
                section, sites, fleet, metrics, backend, self.credentials, store.load_devices()
            )
        self.router = TrapRouter(fleet, self.central, metrics, self._save_agent)
        self._traps: TrapServer | None = None
        self._polling: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._saved_counters: dict[str, str] = {}

    async def start(self) -> None:
        """Bind the trap address (OSError when it cannot) and start polling."""
        if self._section.traps.listen:
            host, _, port = self._section.traps.listen.rpartition(":")
            server = self._backend.trap_server(
                host.strip("[]"), int(port), list(self.credentials.values()), self.router.on_trap
            )
            try:
                await server.start()
            except OSError as exc:
                raise OSError(
                    f"snmp.traps.listen: cannot listen for SNMP traps on {self._section.traps.listen}:"
                    f" {exc.strerror or exc} (a port below 1024 needs CAP_NET_BIND_SERVICE)"
                ) from exc
            self._traps = server
            self._metrics.traps_rejected.source = server.rejected
            log.info("SNMP trap receiver listening on %s", self._section.traps.listen)
        if self.central is not None:
            self._polling = asyncio.create_task(self._run_central())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def trap_port(self) -> int:
        """The UDP port traps are received on (the bound one when 0 was asked for); 0: none."""
        return self._traps.port if self._traps is not None else 0

    def reload(self) -> None:
        """Read the devices file again now (SIGHUP)."""
        self._wake.set()

    async def _run_central(self) -> None:
        """Poll every ``interval_seconds``; between polls, check the devices file every check_seconds."""
        central = self.central
        assert central is not None
        log.info("polling %d SNMP devices every %gs", len(central.devices), self._section.interval_seconds)
        next_poll = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self._section.interval_seconds
                    await central.poll_all()
                    await self._save_devices()
                forced = self._wake.is_set()
                self._wake.clear()
                await central.check(force=forced)
            except Exception:  # the loop must outlive any one failure
                log.exception("central SNMP polling failed")
            wait = min(self._check_seconds, max(0.0, next_poll - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stop_or_wake(), wait)

    async def _wait_stop_or_wake(self) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((stop, wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()

    async def _save_devices(self) -> None:
        """Store the central devices' counters when they changed."""
        if self.central is None:
            return
        counters = self.central.counters()
        if counters == self._saved_counters:
            return
        try:
            await asyncio.to_thread(self._store.save_devices, counters)
            self._saved_counters = counters
        except StoreError as exc:
            log.error("cannot save SNMP device counters: %s", exc)

    def _save_agent(self, agent_id: str) -> None:
        """A trap changed an agent's device counters: store them like a Push's."""

        async def save() -> None:
            try:
                await self._persister.save(self._fleet.snapshot(agent_id))
            except (KeyError, StoreError) as exc:  # forgotten meanwhile, or the store failed
                log.warning("trap counters of agent %s not stored: %s", agent_id, exc)

        self._spawn(save())

    async def stop(self) -> None:
        self._stop.set()
        if self._polling is not None:  # a poll in progress is abandoned
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
        self.router.close()
        if self._traps is not None:
            self._traps.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._save_devices()
        if self.central is not None:
            self.central.close()
