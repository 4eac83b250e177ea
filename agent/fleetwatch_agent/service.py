"""The agent's main loop: collect on a jittered schedule into the spool, push, delete what was acked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fleetwatch_agent import __version__, convert, credentials, schedule
from fleetwatch_agent.aiotools import Stopping, sleep_unless, wait_any
from fleetwatch_agent.centralstate import CentralState, confirm_delay
from fleetwatch_agent.config import AgentConfig, ProbesSection
from fleetwatch_agent.credentials import AgentCredential, CredentialError
from fleetwatch_agent.hostfacts import HostFacts, machine_identity, read_host_facts
from fleetwatch_agent.outbox import Batch, Outbox
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
# Wait at least this long before trying again with a refused credential.
CREDENTIAL_RETRY_SECONDS = 60.0
# The host's facts (name, OS, memory, boot time) are read again after this long, not every cycle:
# they hardly change, and a read costs a thread (0.3 ms of CPU, bench_agent_rss --footprint). A
# renamed host shows its new name within this time.
HOST_FACTS_SECONDS = 300.0
Binder = Callable[[ProbesSection, ProbeContext], tuple[BoundProbe, ...]]
Collected = tuple[tuple[ProbeOutcome, ...], dict[str, object], HostFacts]


def location_of(config: AgentConfig) -> Location:
    return Location(config.site.slug, config.site.district, config.site.type, config.site.name)


async def enroll(
    transport: Transport,
    token: str,
    config: AgentConfig,
    take_config: Callable[[pb.AgentConfig], object] | None = None,
) -> AgentCredential:
    """Exchange a site token for this host's credential and save it in the data folder; the site's
    central configuration that comes with it goes to ``take_config`` (CentralState.offer)."""
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
    if take_config is not None and response.HasField("config"):
        take_config(response.config)
    return credential


class AgentService:
    """Runs probes every interval and delivers the reports to the collector, losing none."""

    # ``bind`` replaces how the probes are built from the configuration: tests add a hung probe
    # this way; no configuration can.

    def __init__(
        self,
        config: AgentConfig,
        rng: random.Random | None = None,
        *,
        bind: Binder | None = None,
        central: CentralState | None = None,
    ) -> None:
        # The last good central configuration, if any, runs from the first cycle (centralstate.py).
        self._central = central
        self._pending: AgentConfig | None = None
        self._decided = asyncio.Event()  # a version applied or refused: the next cycle comes early
        config = (central.load() if central is not None else None) or config
        self._config = config
        self._rng = rng or random.Random()
        data_dir = Path(config.agent.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._credential = credentials.load(data_dir)
        spool = Spool(
            data_dir / "spool.sqlite",
            SpoolLimits(config.spool.max_reports, config.spool.max_bytes, config.spool.max_age_seconds),
        )
        # Above anything still spooled, even if the seq file went back in time (power loss).
        self._seq = SeqStore(data_dir / "seq", floor=spool.seq_range()[1])
        self._cursors = spool.cursors()  # updated after each commit (probes/context.py)
        self._outbox = Outbox(spool, self._batch_limits)
        self._handed: Batch | None = None  # stored and taken in one hop for the waiting send loop
        self._idle = False  # the send loop waits for a report
        context = ProbeContext(
            data_dir, cursors=self._cursors, collector_addresses=config.collector.addresses
        )
        self._bind, self._context = bind or bind_probes, context
        self._runner = ProbeRunner(self._bind(config.probes, context))
        self._facts: tuple[float, HostFacts] | None = None  # when read (monotonic), what
        self._plan = schedule.plan(config.agent.interval_seconds, self._runner.probes)
        for warning in self._plan.warnings:
            log.warning("%s", warning)
        self._transport = Transport(config.collector)
        self._location = location_of(config)
        self._queued = asyncio.Event()
        self._enrolled = asyncio.Event()
        # The first cycle waits for the first enrolment attempt: enrolled, it runs the site's configuration.
        self._enrol_tried = asyncio.Event()
        if self._credential is not None:
            self._enrolled.set()
            self._enrol_tried.set()
        elif not config.collector.token_file:
            raise CredentialError(
                f"not enrolled: no {data_dir / credentials.FILE_NAME}; run "
                "`fleetwatch-agent enroll --collector HOST:PORT --token-file FILE` "
                "or set collector.token_file"
            )

    def _batch_limits(self) -> tuple[int, int]:
        """The running configuration's bounds of a batch: reports, bytes."""
        return self._config.collector.max_batch_reports, self._config.collector.max_batch_bytes

    async def collect_once(self) -> tuple[pb.Report, dict[str, str]]:
        """A report of every probe and the probe cursors it advances."""
        message, cursors = await self._report(*await self._collect())
        await self._outbox.add_stats(message)
        return message, cursors

    async def _collect(self, due: tuple[str, ...] | None = None) -> Collected:
        """What the probes ``due`` (all by default) and the host say now: the part of a cycle that may
        hang, and be abandoned."""
        outcomes, results = await self._runner.run_cycle(due)
        return outcomes, results, await self._host_facts()

    async def _host_facts(self) -> HostFacts:
        """The host's facts, read again when HOST_FACTS_SECONDS passed since the last read."""
        now = time.monotonic()
        if self._facts is None or now - self._facts[0] >= HOST_FACTS_SECONDS:
            self._facts = (now, await in_daemon_thread(read_host_facts, "host-facts"))
        return self._facts[1]

    async def _report(
        self, outcomes: tuple[ProbeOutcome, ...], results: dict[str, object], facts: HostFacts
    ) -> tuple[pb.Report, dict[str, str]]:
        """The report of a collected cycle, with the next seq, and the probe cursors it advances."""
        cycle = CycleReport(
            seq=self._seq.next(),
            collected_unix_ms=int(time.time() * 1000),
            interval_seconds=self._plan.cadence_seconds,
            host=facts,
            location=self._location,
            agent_version=__version__,
            outcomes=outcomes,
            results=results,
        )
        message = convert.report(cycle)
        if self._central is not None:
            self._central.stamp(message)
        cursors: dict[str, str] = {}
        for result in results.values():
            cursors.update(getattr(result, "cursors", None) or {})
        return message, cursors

    async def _fetch(self, done: Sequence[int] = ()) -> Batch:
        """The next batch (Outbox.next_batch); a report spooled from now on wakes the send loop again."""
        self._queued.clear()
        return await self._outbox.next_batch(done)

    async def _collect_loop(self, stop: asyncio.Event, stopping: Stopping) -> None:
        await wait_any(stop, self._enrol_tried)
        interval = self._plan.cadence_seconds
        start = tick = first_tick(time.monotonic(), interval, self._rng)
        probes = schedule.Schedule(self._plan.every, self._rng)
        while not await self._wait_tick(stop, tick - time.monotonic()):
            if self._decided.is_set():
                # The collector learns the decision from the next report: it comes now (or soon, jittered),
                # the schedule's grid moved earlier with it (the same cycle index, the same probes due).
                self._decided.clear()
                soon = time.monotonic() + confirm_delay(interval, self._rng)
                if soon < tick:
                    start, tick = start - (tick - soon), soon
                continue
            if self._pending is not None:  # a new central configuration: between two cycles
                self._apply(self._pending)
                interval, start = self._plan.cadence_seconds, tick
                probes = schedule.Schedule(self._plan.every, self._rng)
            due = probes.due(round((tick - start) / interval))
            collected = await stopping.unless(self._collect(due))
            if collected is None:  # stopping: the unfinished cycle is dropped before it took a seq
                break
            message, cursors = await self._report(*collected)
            # Taken for the send loop in the same hop when it waits; a batch handed before and not
            # taken yet is stale now (it lacks this report): the send loop fetches anew then.
            take = self._idle and self._handed is None
            size, self._handed = await self._outbox.store(message, cursors, take)
            self._cursors.update(cursors)
            log.debug("spooled report seq=%d (%d bytes)", message.seq, size)
            self._queued.set()
            tick = next_tick(tick, time.monotonic(), interval)

    async def _wait_tick(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep ``seconds``, less when a central configuration was decided meanwhile (or when stopping:
        see _relay_stop); True: stopping."""
        if seconds > 0 and not (stop.is_set() or self._decided.is_set()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._decided.wait()
        return stop.is_set()

    async def _relay_stop(self, stop: asyncio.Event, stopping: Stopping) -> None:
        """Stopping wakes the loops' own events and ends their stoppable waits: each cycle's waits are one
        event each, where waiting for either of two cost three tasks a wait."""
        await stop.wait()
        stopping.fire()
        self._decided.set()
        self._queued.set()

    def _decide(self, message: pb.AgentConfig) -> None:
        """A central configuration from the collector (CentralState.offer): applied at the next cycle,
        which comes early when the decision is new (applied or refused) to tell the collector."""
        if self._central is None:
            return
        said = self._central.said
        self._pending = self._central.offer(message) or self._pending
        if self._central.said != said:
            self._decided.set()

    def _apply(self, config: AgentConfig) -> None:
        """Run ``config`` from the next cycle: the probes and their schedule built anew (probes.*
        options and [agent] interval_seconds are all a central configuration changes)."""
        self._pending = None
        self._config = config
        # A probe that hangs keeps its call, and its "still running since", across the rebuild.
        self._runner = self._runner.rebuilt(self._bind(config.probes, self._context))
        self._plan = schedule.plan(config.agent.interval_seconds, self._runner.probes)
        log.info(
            "now running central configuration %s: %s",
            self._central.version if self._central else "",
            self._plan.describe(),
        )

    async def _enroll_loop(self, stop: asyncio.Event) -> None:
        """With collector.token_file and no credential: enrol, retrying until it works."""
        attempt = 0
        while self._credential is None and not stop.is_set():
            try:
                token = Path(self._config.collector.token_file).read_text()
                self._credential = await enroll(self._transport, token, self._config, self._decide)
                self._enrolled.set()
            except OSError as exc:
                log.error("cannot read collector.token_file: %s", exc)
            except PushError as exc:
                log.error("enrolment failed: %s", exc)
                if exc.failed_over:  # an address not tried yet: at once
                    continue
            finally:
                self._enrol_tried.set()
            attempt += 1
            await sleep_unless(stop, backoff_delay(attempt, self._rng, base=5.0))

    async def _wait_for_reports(self, stop: asyncio.Event) -> Batch:
        """The batch handed with the next stored report, or fetched (empty when stopping)."""
        self._idle = True
        await self._queued.wait()  # set when stopping too (_relay_stop)
        self._idle = False
        if stop.is_set():
            return Batch([], 0, True)
        if self._handed is not None:
            batch, self._handed = self._handed, None
            self._queued.clear()
            return batch
        return await self._fetch()

    async def _send_loop(self, stop: asyncio.Event, stopping: Stopping) -> None:
        await wait_any(stop, self._enrolled)
        attempt = 0
        batch = await self._fetch()
        while not stop.is_set() and self._credential is not None:
            if not batch.reports:
                batch = await self._wait_for_reports(stop)
                continue
            identity = Identity(self._credential.agent_id, self._credential.secret)
            reports = [pb.Report.FromString(r.body) for r in batch.reports]
            sent = [r.seq for r in batch.reports]
            try:
                request = pb.PushRequest(reports=reports, oldest_held_seq=batch.oldest_held)
                if self._central is not None:
                    self._central.stamp(request)
                response = await stopping.unless(self._transport.push_request(identity, request))
            except PushError as exc:
                if exc.failed_over:  # the next address was not tried since the last success
                    log.warning("push failed (%s); trying %s now", exc, self._transport.address)
                    batch = await self._fetch()
                    continue
                if exc.credential_problem:
                    delay = max(CREDENTIAL_RETRY_SECONDS, backoff_delay(attempt, self._rng))
                    log.error("collector refused this agent's credential (%s); retrying in %.0fs", exc, delay)
                elif exc.permanent:
                    # The collector refused this batch for good (invalid content): keeping it
                    # would block every later report.
                    log.error("collector refused %d reports, dropping them: %s", len(batch.reports), exc)
                    batch = await self._fetch(sent)
                    continue
                else:  # retryable, or a collector fault: keep the batch, back off
                    delay = max(exc.retry_after_seconds, backoff_delay(attempt, self._rng))
                    log.warning("push failed (%s), retrying in %.1fs", exc, delay)
                await self._outbox.release()  # the bounds may drop it while we wait
                attempt += 1
                await sleep_unless(stop, delay)
                batch = await self._fetch()
                continue
            if response is None:  # stopping with a Push in flight: the batch stays spooled
                await self._outbox.release()
                break
            attempt = 0
            if response.HasField("config"):
                self._decide(response.config)
            if response.retry_after_ms:  # the collector asks for a pause before the next batch
                self._outbox.delivered(sent)
                await sleep_unless(stop, response.retry_after_ms / 1000.0)
                sent = []
            elif batch.whole and not self._queued.is_set():  # nothing else to send: no hop now
                self._outbox.delivered(sent)
                batch = Batch([], 0, True)
                continue
            batch = await self._fetch(sent)

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "agent %s started: site %s, %s, collector %s, %d reports spooled",
            self._credential.agent_id if self._credential else "(not enrolled yet)",
            self._credential.site if self._credential else self._location.site,
            self._plan.describe(),
            ",".join(self._config.collector.addresses),
            len(self._outbox.spool),
        )
        if self._plan.legacy:
            log.info(
                "[agent] interval_seconds is set: every probe runs every cycle, as it did before probes had "
                "intervals; set it to 0 to run each probe at its own interval_seconds"
            )
        stopping = Stopping(stop)
        relay = asyncio.ensure_future(self._relay_stop(stop, stopping))
        try:
            await asyncio.gather(
                self._collect_loop(stop, stopping), self._enroll_loop(stop), self._send_loop(stop, stopping)
            )
        finally:
            relay.cancel()
            self._runner.close()
            await self._transport.close()
            unsent = await self._outbox.close()
            log.info("agent stopped; %d reports stay in the spool for the next start", unsent)
