"""The /metrics page: the fleet and the collector's own metrics, plain or gzip as the client accepts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from fleetwatch_collector.fleet import AgentCounts, FleetState
from fleetwatch_collector.gzipblocks import member
from fleetwatch_collector.selfmetrics import CollectorMetrics

log = logging.getLogger(__name__)

COMPACT_SECONDS = 1.0  # the most a gzip scrape compresses: what changed in about this long
IDLE_SECONDS = 900.0  # without a gzip scrape for this long, the compaction stops until the next one
# Chunks smaller than this are joined before they are written: every write lets the GIL go and must
# win it back from a busy event loop (up to 5 ms), and a gzip body has a chunk per host family.
WRITE_BYTES = 1 << 22


def coalesce(chunks: Iterator[bytes], size: int = WRITE_BYTES) -> Iterator[bytes]:
    """``chunks`` joined into pieces of at least ``size`` bytes (the last may be smaller); a chunk
    that large on its own is passed on as it is, after what was gathered before it; none empty."""
    gathered: list[bytes] = []
    length = 0
    for chunk in chunks:
        if not chunk:
            continue
        if len(chunk) >= size:
            if gathered:
                yield b"".join(gathered)
                gathered, length = [], 0
            yield chunk
            continue
        gathered.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(gathered)
            gathered, length = [], 0
    if gathered:
        yield b"".join(gathered)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header (RFC 9110, 12.5.3) allows gzip: ``gzip`` or ``x-gzip`` with
    a weight above 0, or ``*`` above 0 when gzip is not named. Malformed weights count as 0."""
    named: float | None = None
    star: float | None = None
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if coding in ("gzip", "x-gzip"):
            named = weight if named is None else max(named, weight)
        elif coding == "*":
            star = weight
    if named is not None:
        return named > 0
    return star is not None and star > 0


class Compactor:
    """Compresses the fleet's changes every COMPACT_SECONDS in a thread of its own (zlib works without
    the GIL), so that a gzip scrape finds little to compress. Started by a gzip scrape, it ends after
    IDLE_SECONDS without one: a collector nobody scrapes with gzip compresses nothing."""

    def __init__(
        self,
        compact: Callable[[], None],
        period: float = COMPACT_SECONDS,
        idle: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compact = compact
        self._period = period
        self._idle = idle
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_scrape = 0.0

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def scraped(self) -> None:
        """A gzip scrape: keep compacting (start if stopped)."""
        with self._lock:
            self._last_scrape = self._clock()
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="gzip-compaction", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            with self._lock:
                if self._clock() - self._last_scrape > self._idle:
                    self._thread = None
                    return
            try:
                self._compact()
            except Exception:  # the scrape compresses what is left; never lose the thread silently
                log.exception("gzip compaction failed")
        with self._lock:
            self._thread = None

    def close(self) -> None:
        """Stop the thread for good (at shutdown)."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()


class MetricsPage:
    """Renders the whole /metrics body, plain or gzip."""

    def __init__(self, fleet: FleetState, metrics: CollectorMetrics) -> None:
        self._fleet = fleet
        self._metrics = metrics
        self.compactor = Compactor(fleet.compact)

    def render(self) -> Iterator[bytes]:
        """The body in chunks: the fleet's families, then the collector's own metrics."""
        return coalesce(self._page(self._fleet.render_chunks, bytes))

    def render_gzip(self) -> Iterator[bytes]:
        """``render`` as gzip members (one stream): the plain body once decompressed."""
        self.compactor.scraped()
        return coalesce(self._page(self._fleet.render_gzip_chunks, member))

    def _page(
        self, fleet: Callable[[], tuple[Iterator[bytes], AgentCounts]], encode: Callable[[bytes], bytes]
    ) -> Iterator[bytes]:
        started = time.perf_counter()
        chunks, counts = fleet()
        for state in ("up", "down", "retired", "handed_over"):
            self._metrics.agents.labels(state).set(getattr(counts, state))
        self._metrics.unknown_site.set(counts.unknown_site)
        spent = time.perf_counter() - started
        while True:  # time the rendering, not the writing to the socket in between
            started = time.perf_counter()
            chunk = next(chunks, None)
            spent += time.perf_counter() - started
            if chunk is None:
                break
            yield chunk
        self._metrics.render_duration.set(spent)
        yield encode(self._metrics.render())

    def close(self) -> None:
        self.compactor.close()
