"""The agent's main loop: collect on a jittered schedule into the spool, push, delete what was acked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from fleetwatch_agent import __version__, convert, credentials
from fleetwatch_agent.aiotools import sleep_unless, wait_any
from fleetwatch_agent.config import AgentConfig, ProbesSection
from fleetwatch_agent.credentials import AgentCredential, CredentialError
from fleetwatch_agent.hostfacts import HostFacts, machine_identity, read_host_facts
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_agent.runner import (
    BoundProbe,
    ProbeRunner,
    bind_probes,
    first_tick,
    in_daemon_thread,
    next_tick,
)
from fleetwatch_agent.seqstore import SeqStore
from fleetwatch_agent.spool import Spool, SpoolLimits
from fleetwatch_agent.transport import Identity, PushError, Transport, backoff_delay
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)
T = TypeVar("T")
# Wait at least this long before trying again with a refused credential.
CREDENTIAL_RETRY_SECONDS = 60.0
Binder = Callable[[ProbesSection, ProbeContext], tuple[BoundProbe, ...]]
Collected = tuple[tuple[ProbeOutcome, ...], dict[str, object], HostFacts]


async def unless_stopped(stop: asyncio.Event, awaitable: Awaitable[T]) -> T | None:
    """Await ``awaitable`` unless ``stop`` is set first: then cancel it and return None."""
    task = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()


def location_of(config: AgentConfig) -> Location:
    return Location(config.site.slug, config.site.district, config.site.type, config.site.name)


async def enroll(transport: Transport, token: str, config: AgentConfig) -> AgentCredential:
    """Exchange a site token for this host's credential and save it in the data folder."""
    facts = await in_daemon_thread(read_host_facts, "host-facts")
    host = convert.host_info(facts, location_of(config), __version__)
    # A reinstalled machine gets its agent id (and its history) back by this identity.
    machine_id = machine_identity(config.agent.id)  # one small file or registry read
    if not machine_id:
        log.warning("no machine id (/etc/machine-id, MachineGuid) nor [agent] id: enrolling as a new agent")
    response = await transport.enroll(token.strip(), host, machine_id)
    site_type = SITE_TYPE.name(response.site_type, unknown="")
    credential = AgentCredential(
        response.agent_id, response.secret, response.site, response.district, site_type
    )
    path = credentials.save(Path(config.agent.data_dir), credential)
    log.info("enrolled as %s at site %s; credential saved in %s", credential.agent_id, credential.site, path)
    return credential


class AgentService:
    """Runs probes every interval and delivers the reports to the collector, losing none."""

    # ``bind`` replaces how the probes are built from the configuration: tests add a hung probe
    # this way; no configuration can.

    def __init__(
        self, config: AgentConfig, rng: random.Random | None = None, *, bind: Binder | None = None
    ) -> None:
        self._config = config
        self._rng = rng or random.Random()
        data_dir = Path(config.agent.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._credential = credentials.load(data_dir)
        self._spool = Spool(
            data_dir / "spool.sqlite",
            SpoolLimits(config.spool.max_reports, config.spool.max_bytes, config.spool.max_age_seconds),
        )
        # Above anything still spooled, even if the seq file went back in time (power loss).
        self._seq = SeqStore(data_dir / "seq", floor=self._spool.seq_range()[1])
        self._cursors = self._spool.cursors()  # updated after each commit (probes/context.py)
        context = ProbeContext(
            data_dir, cursors=self._cursors, collector_addresses=config.collector.addresses
        )
        self._runner = ProbeRunner((bind or bind_probes)(config.probes, context))
        for probe in self._runner.probes:
            if probe.timeout_seconds >= config.agent.interval_seconds:
                log.warning(
                    "probe %s: timeout_seconds %g is not below the %g s interval: its cycles may overrun",
                    probe.name, probe.timeout_seconds, config.agent.interval_seconds,
                )  # fmt: skip
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._transport = Transport(config.collector)
        self._location = location_of(config)
        self._queued = asyncio.Event()
        self._enrolled = asyncio.Event()
        if self._credential is not None:
            self._enrolled.set()
        elif not config.collector.token_file:
            raise CredentialError(
                f"not enrolled: no {data_dir / credentials.FILE_NAME}; run "
                "`fleetwatch-agent enroll --collector HOST:PORT --token-file FILE` "
                "or set collector.token_file"
            )

    async def _spool_io(self, function: Callable[..., T], *args: object) -> T:
        """Spool work runs on one thread: SQLite with fsync must not block the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._io, function, *args)

    async def collect_once(self) -> tuple[pb.Report, dict[str, str]]:
        """One cycle's report and the probe cursors it advances."""
        return await self._report(*await self._collect())

    async def _collect(self) -> Collected:
        """What the probes and the host say now: the part of a cycle that may hang, and be abandoned."""
        outcomes, results = await self._runner.run_cycle()
        return outcomes, results, await in_daemon_thread(read_host_facts, "host-facts")

    async def _report(
        self, outcomes: tuple[ProbeOutcome, ...], results: dict[str, object], facts: HostFacts
    ) -> tuple[pb.Report, dict[str, str]]:
        """The report of a collected cycle, with the next seq, and the probe cursors it advances."""
        cycle = CycleReport(
            seq=self._seq.next(),
            collected_unix_ms=int(time.time() * 1000),
            interval_seconds=self._config.agent.interval_seconds,
            host=facts,
            location=self._location,
            agent_version=__version__,
            outcomes=outcomes,
            results=results,
        )
        message = convert.report(cycle)
        queued, dropped, oldest = await self._spool_io(self._spool.stats)
        message.spool.CopyFrom(
            pb.SpoolStats(queued_reports=queued, dropped_reports_total=dropped, oldest_queued_unix_ms=oldest)
        )
        cursors: dict[str, str] = {}
        for result in results.values():
            cursors.update(getattr(result, "cursors", None) or {})
        return message, cursors

    async def _collect_loop(self, stop: asyncio.Event) -> None:
        interval = self._config.agent.interval_seconds
        tick = first_tick(time.monotonic(), interval, self._rng)
        while not await sleep_unless(stop, tick - time.monotonic()):
            collected = await unless_stopped(stop, self._collect())
            if collected is None:  # stopping: the unfinished cycle is dropped before it took a seq
                break
            message, cursors = await self._report(*collected)
            body = message.SerializeToString()
            await self._spool_io(self._spool.put, message.seq, message.collected_unix_ms, body, cursors)
            self._cursors.update(cursors)
            log.debug("spooled report seq=%d (%d bytes)", message.seq, len(body))
            self._queued.set()
            tick = next_tick(tick, time.monotonic(), interval)

    async def _enroll_loop(self, stop: asyncio.Event) -> None:
        """With collector.token_file and no credential: enrol, retrying until it works."""
        attempt = 0
        while self._credential is None and not stop.is_set():
            try:
                token = Path(self._config.collector.token_file).read_text()
                self._credential = await enroll(self._transport, token, self._config)
                self._enrolled.set()
            except OSError as exc:
                log.error("cannot read collector.token_file: %s", exc)
            except PushError as exc:
                log.error("enrolment failed: %s", exc)
                if exc.failed_over:  # an address not tried yet: at once
                    continue
            attempt += 1
            await sleep_unless(stop, backoff_delay(attempt, self._rng, base=5.0))

    async def _send_loop(self, stop: asyncio.Event) -> None:
        await wait_any(stop, self._enrolled)
        attempt = 0
        collector = self._config.collector
        while not stop.is_set() and self._credential is not None:
            batch = await self._spool_io(
                self._spool.next_batch, collector.max_batch_reports, collector.max_batch_bytes
            )
            if not batch:
                self._queued.clear()
                await wait_any(stop, self._queued)
                continue
            identity = Identity(self._credential.agent_id, self._credential.secret)
            reports = [pb.Report.FromString(r.body) for r in batch]
            try:
                oldest_held, _ = await self._spool_io(self._spool.seq_range)
                response = await unless_stopped(stop, self._transport.push(identity, reports, oldest_held))
            except PushError as exc:
                await self._spool_io(self._spool.release)
                if exc.failed_over:  # the next address was not tried since the last success
                    log.warning("push failed (%s); trying %s now", exc, self._transport.address)
                    continue
                if exc.credential_problem:
                    delay = max(CREDENTIAL_RETRY_SECONDS, backoff_delay(attempt, self._rng))
                    log.error("collector refused this agent's credential (%s); retrying in %.0fs", exc, delay)
                elif exc.permanent:
                    # The collector refused this batch for good (invalid content): keeping it
                    # would block every later report.
                    await self._spool_io(self._spool.delete, [r.seq for r in batch])
                    log.error("collector refused %d reports, dropping them: %s", len(batch), exc)
                    continue
                else:  # retryable, or a collector fault: keep the batch, back off
                    delay = max(exc.retry_after_seconds, backoff_delay(attempt, self._rng))
                    log.warning("push failed (%s), retrying in %.1fs", exc, delay)
                attempt += 1
                await sleep_unless(stop, delay)
                continue
            if response is None:  # stopping with a Push in flight: the batch stays spooled
                await self._spool_io(self._spool.release)
                break
            attempt = 0
            await self._spool_io(self._spool.delete, [r.seq for r in batch])
            if response.retry_after_ms:
                await sleep_unless(stop, response.retry_after_ms / 1000.0)

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "agent %s started: site %s, interval %gs, probes %s, collector %s, %d reports spooled",
            self._credential.agent_id if self._credential else "(not enrolled yet)",
            self._credential.site if self._credential else self._location.site,
            self._config.agent.interval_seconds,
            ",".join(p.name for p in self._runner.probes) or "none",
            ",".join(self._config.collector.addresses),
            len(self._spool),
        )
        try:
            await asyncio.gather(self._collect_loop(stop), self._enroll_loop(stop), self._send_loop(stop))
        finally:
            await self._transport.close()
            unsent = len(self._spool)
            await self._spool_io(self._spool.close)
            self._io.shutdown()
            log.info("agent stopped; %d reports stay in the spool for the next start", unsent)
