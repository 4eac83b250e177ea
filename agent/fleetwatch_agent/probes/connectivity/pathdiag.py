"""Path diagnosis in the background: the traceroutes of a cycle's failing targets, for the next report."""
# A cycle's report never waits for a traceroute. After the checks, the failing targets' addresses go to one
# daemon thread, which traces them all at once (traceroute.py: unprivileged probes, in that thread) within its
# own budget; the next cycle takes what finished and carries it in its report. One diagnosis runs at a time: a
# cycle that finds the previous one still running starts none (an overrun), and its failing targets are
# diagnosed by a later cycle.

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute import ICMP_ERROR_INTERVAL_SECONDS, run_traceroutes

log = logging.getLogger(__name__)

Tracer = Callable[[Sequence[str], int, float], dict[str, PathResult]]


class PathDiagnosis:
    """Runs one background diagnosis at a time and keeps its results until the next cycle takes them."""

    def __init__(
        self,
        max_hops: int,
        budget_seconds: float,
        trace: Tracer = run_traceroutes,
        pause_seconds: float = ICMP_ERROR_INTERVAL_SECONDS,
    ) -> None:
        self._max_hops = max_hops
        self._budget = budget_seconds
        self._trace = trace
        # The failing checks have just spent the routers' ICMP error budget for this host (about
        # one error per second): give it that long before the first hop is asked.
        self._pause = pause_seconds
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._finished: dict[str, PathResult] = {}
        self._overruns = 0

    def busy(self) -> bool:
        """Whether a diagnosis is still running."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start(self, targets: Mapping[str, str]) -> bool:
        """Diagnose ``targets`` (name -> IP address) in the background; False while one still runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._thread = threading.Thread(
                target=self._run, args=(dict(targets),), name="path-diagnosis", daemon=True
            )
            self._thread.start()
            return True

    def take(self) -> tuple[dict[str, PathResult], int]:
        """The paths finished since the last call (by target name), and how many diagnoses overran."""
        with self._lock:
            finished, self._finished = self._finished, {}
            overruns, self._overruns = self._overruns, 0
        return finished, overruns

    def wait(self, timeout: float) -> bool:
        """Wait until no diagnosis runs (tests, benchmarks); False when one still runs after ``timeout``."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, targets: dict[str, str]) -> None:
        started = time.monotonic()
        time.sleep(self._pause)
        remaining = max(0.1, self._budget - (time.monotonic() - started))
        try:
            paths = self._trace(sorted(set(targets.values())), self._max_hops, remaining)
        except Exception as exc:  # never let the thread die silently
            log.warning("path diagnosis failed: %s", exc)
            paths = {}
        results = {
            name: paths.get(address, PathResult(error="failed: no result for this address"))
            for name, address in targets.items()
        }
        cut = sorted(name for name, path in results.items() if path.error.startswith("timeout"))
        if cut:
            log.warning(
                "connectivity: path diagnosis overran its budget of %g s (%s)", self._budget, ", ".join(cut)
            )
        with self._lock:
            self._finished.update(results)
            self._overruns += bool(cut)
