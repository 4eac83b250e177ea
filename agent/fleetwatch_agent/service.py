"""The agent's main loop: collect on a jittered schedule, queue, push, honour acknowledgements."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path

from fleetwatch_agent import __version__, convert
from fleetwatch_agent.aiotools import sleep_unless, wait_any
from fleetwatch_agent.config import AgentConfig
from fleetwatch_agent.hostfacts import derive_agent_id, read_host_facts
from fleetwatch_agent.outbox import Outbox
from fleetwatch_agent.report import CycleReport, Location
from fleetwatch_agent.runner import bind_probes, first_tick, next_tick, run_cycle
from fleetwatch_agent.seqstore import SeqStore
from fleetwatch_agent.transport import PushError, Transport, backoff_delay

log = logging.getLogger(__name__)


def location_of(config: AgentConfig) -> Location:
    return Location(config.site.slug, config.site.district, config.site.type, config.site.name)


class AgentService:
    """Runs probes every interval and delivers the reports to the collector."""

    def __init__(self, config: AgentConfig, rng: random.Random | None = None) -> None:
        self._config = config
        self._rng = rng or random.Random()
        self.agent_id = config.agent.id or derive_agent_id()
        self._probes = bind_probes(config.probes)
        self._seq = SeqStore(Path(config.agent.data_dir) / "seq")
        self._outbox = Outbox(config.collector.max_queued_reports)
        self._transport = Transport(
            config.collector.addresses,
            timeout_seconds=config.collector.timeout_seconds,
            keepalive_seconds=config.collector.keepalive_seconds,
            compression=config.collector.compression,
        )
        self._location = location_of(config)
        self._queued = asyncio.Event()

    async def collect_once(self) -> CycleReport:
        outcomes, results = await run_cycle(self._probes)
        return CycleReport(
            seq=self._seq.next(),
            collected_unix_ms=int(time.time() * 1000),
            interval_seconds=self._config.agent.interval_seconds,
            host=await asyncio.to_thread(read_host_facts),
            location=self._location,
            agent_version=__version__,
            outcomes=outcomes,
            results=results,
        )

    async def _collect_loop(self, stop: asyncio.Event) -> None:
        interval = self._config.agent.interval_seconds
        tick = first_tick(time.monotonic(), interval, self._rng)
        while not stop.is_set():
            if await sleep_unless(stop, tick - time.monotonic()):
                return
            cycle = await self.collect_once()
            message = convert.report(cycle)
            message.spool.CopyFrom(self._outbox.stats())
            self._outbox.put(message)
            self._queued.set()
            tick = next_tick(tick, time.monotonic(), interval)

    async def _send_loop(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            batch = self._outbox.batch(self._config.collector.max_batch_reports)
            if not batch:
                self._queued.clear()
                await wait_any(stop, self._queued)
                continue
            try:
                response = await self._transport.push(self.agent_id, batch)
            except PushError as exc:
                if not exc.retryable:
                    # The collector refused this batch for good (e.g. invalid content):
                    # keeping it would block every later report.
                    dropped = self._outbox.ack(batch[-1].seq)
                    log.error("collector refused %d reports, dropping them: %s", dropped, exc)
                    continue
                delay = max(exc.retry_after_seconds, backoff_delay(attempt, self._rng))
                attempt += 1
                log.warning("push failed (%s), retrying in %.1fs", exc, delay)
                await sleep_unless(stop, delay)
                continue
            attempt = 0
            self._outbox.ack(response.acked_seq)
            if response.retry_after_ms:
                await sleep_unless(stop, response.retry_after_ms / 1000.0)

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "agent %s started: site %s, interval %gs, probes %s, collector %s",
            self.agent_id,
            self._location.site,
            self._config.agent.interval_seconds,
            ",".join(p.name for p in self._probes) or "none",
            ",".join(self._config.collector.addresses),
        )
        try:
            await asyncio.gather(self._collect_loop(stop), self._send_loop(stop))
        finally:
            await self._transport.close()
            log.info("agent %s stopped with %d reports unsent", self.agent_id, len(self._outbox))
