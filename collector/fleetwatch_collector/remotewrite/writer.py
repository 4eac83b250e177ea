"""The remote write loop: one asyncio task sends the queued samples in batches, retrying with backoff.

    queue ─► take(batch_samples) ─► encode + snappy ─► POST ─► 2xx: sent
                                                         ├─► 4xx, "out of bounds", "too old": rejected
                                                         └─► 408, 429, 5xx, no answer: wait, POST again
                                                              (up to max_retry_seconds: dropped)

One request at a time keeps the samples of a series in time order at the receiver. Encoding and the
blocking HTTP exchange run in a worker thread, never in the event loop that serves the agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import time
from collections.abc import Callable
from typing import Protocol

from fleetwatch_collector.config import RemoteWriteSection
from fleetwatch_collector.remotewrite.backfill import RESULTS, Backfill
from fleetwatch_collector.remotewrite.encode import Sample, write_request_body
from fleetwatch_collector.remotewrite.policy import Outcome, backoff_seconds, classify
from fleetwatch_collector.remotewrite.queue import SampleQueue
from fleetwatch_collector.remotewrite.sender import HttpSender
from fleetwatch_collector.selfmetrics import CollectorMetrics

log = logging.getLogger(__name__)
# Seconds between two log lines about the same kind of failure.
LOG_EVERY_SECONDS = 60.0


class Sender(Protocol):
    def post(self, body: bytes) -> tuple[int, str]: ...

    def close(self) -> None: ...


class RemoteWriter:
    """Owns the queue, the backfill that fills it and the task that empties it."""

    def __init__(
        self,
        section: RemoteWriteSection,
        metrics: CollectorMetrics,
        sender: Sender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._section = section
        self._metrics = metrics
        self._sender = sender or HttpSender(section)  # ValueError: unreadable CA or credential file
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged: dict[str, float] = {}
        self.queue = SampleQueue(section.max_queue_samples, self._notify)
        self.backfill = Backfill(
            self.queue,
            lambda result: metrics.remote_write_reports.labels(result).inc(),
            tuple(sorted(section.labels.items())),
            section.max_held_bytes,
        )
        for result in RESULTS:  # every result shows from the start, at 0
            metrics.remote_write_reports.labels(result)
        for result in ("sent", "rejected", "dropped"):
            metrics.remote_write_samples.labels(result)
        for result in ("success", "rejected", "error"):
            metrics.remote_write_requests.labels(result)
        metrics.remote_write_queue.set_function(lambda: len(self.queue))
        metrics.remote_write_held.set_function(lambda: self.backfill.held_bytes)

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    async def stop(self, grace_seconds: float) -> None:
        """Send what is queued for up to ``grace_seconds`` (one try per request), then drop the rest."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        left = self.queue.clear()
        if left:
            self._metrics.remote_write_samples.labels("dropped").inc(left)
            log.warning("remote write: %d samples still queued at shutdown were dropped", left)
        await asyncio.to_thread(self._sender.close)

    async def _run(self) -> None:
        while True:
            batch = self.queue.take(self._section.batch_samples)
            if batch:
                await self._deliver(batch)
                continue
            if self._stopping.is_set():
                return
            self._wake.clear()
            if not len(self.queue):
                await self._wake.wait()

    async def _deliver(self, batch: list[Sample]) -> None:
        """Send one batch until it is sent, refused for good, or given up."""
        try:
            await self._attempts(batch)
        except asyncio.CancelledError:  # the shutdown's grace is over
            self._metrics.remote_write_samples.labels("dropped").inc(len(batch))
            raise

    async def _attempts(self, batch: list[Sample]) -> None:
        section = self._section
        body = await asyncio.to_thread(write_request_body, batch)
        started = time.monotonic()
        attempt = 0
        while True:
            outcome, detail = await self._post(body)
            if outcome is Outcome.SENT:
                self._metrics.remote_write_requests.labels("success").inc()
                self._metrics.remote_write_samples.labels("sent").inc(len(batch))
                self._metrics.remote_write_last_success.set(self._clock())
                return
            if outcome is Outcome.REJECTED:
                self._metrics.remote_write_requests.labels("rejected").inc()
                self._metrics.remote_write_samples.labels("rejected").inc(len(batch))
                self._log("rejected", "remote write: %d samples refused for good: %s", len(batch), detail)
                return
            self._metrics.remote_write_requests.labels("error").inc()
            attempt += 1
            give_up = self._stopping.is_set() or time.monotonic() - started >= section.max_retry_seconds
            if give_up:
                self._metrics.remote_write_samples.labels("dropped").inc(len(batch))
                self._log(
                    "dropped",
                    "remote write: %d samples dropped after %d tries: %s",
                    len(batch),
                    attempt,
                    detail,
                )
                return
            delay = backoff_seconds(attempt, section.min_backoff_seconds, section.max_backoff_seconds)
            self._log("error", "remote write failed (%s); trying again in %.1fs", detail, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _post(self, body: bytes) -> tuple[Outcome, str]:
        try:
            status, answer = await asyncio.to_thread(self._sender.post, body)
        except (OSError, http.client.HTTPException) as exc:
            return Outcome.RETRY, f"{type(exc).__name__}: {exc}"
        return classify(status, answer), f"HTTP {status} {answer.strip()[:300]}"

    def _log(self, kind: str, message: str, *args: object) -> None:
        """Warn about ``kind`` at most every LOG_EVERY_SECONDS; debug otherwise."""
        now = time.monotonic()
        if now - self._logged.get(kind, float("-inf")) >= LOG_EVERY_SECONDS:
            self._logged[kind] = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)
