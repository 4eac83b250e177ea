"""The service's life as the Windows service manager sees it: start, run, a stop bounded in time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

from fleetwatch_agent.winservice.status import PENDING, ExitCode, ServiceState, ServiceStatus, status_for

log = logging.getLogger(__name__)

# The longest a stop may take before STOPPED is reported anyway: below Windows' default service
# control timeout of 20 s, so the service manager never has to kill the service. The
# agent's own stop takes well under a second: a hung probe is abandoned (its daemon thread dies
# with the process), a Push in flight is cancelled and its reports stay in the spool.
STOP_TIMEOUT_SECONDS = 15.0
# A pending state is reported again, its checkpoint one higher, this often while it lasts...
PROGRESS_SECONDS = 1.0
# ...and each report promises the next one within this wait hint, with room to spare.
PENDING_WAIT_HINT_MS = 5000

Reporter = Callable[[ServiceStatus], None]
Phase = Literal["starting", "running", "ended"]


class Agent(Protocol):
    """What the controller runs: AgentService, or a test's stand-in."""

    async def run(self, stop: asyncio.Event) -> None: ...


class ServiceController:
    """Runs an agent in its own thread and event loop and reports every state change through ``report``."""

    # Threads: run() is the service's main thread (SvcRun); request_stop() comes from the
    # service manager's control handler thread and must return at once; the agent runs in a
    # daemon thread with its own event loop, so a stop that overruns its bound never keeps the
    # process alive. Reports go out in one order under a lock: nothing after STOPPED, no
    # RUNNING after STOP_PENDING.

    def __init__(
        self,
        make_agent: Callable[[], Agent],
        report: Reporter,
        *,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        progress_seconds: float = PROGRESS_SECONDS,
        configuration_errors: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_agent = make_agent
        self._reporter = report
        self._stop_timeout = stop_timeout
        self._progress = progress_seconds
        self._configuration_errors = configuration_errors
        self._clock = clock
        self._report_lock = threading.Lock()
        self._last: ServiceStatus | None = None
        self._changed = threading.Condition()  # guards the fields below
        self._phase: Phase = "starting"
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def last_status(self) -> ServiceStatus | None:
        """The status reported last (an interrogation repeats it)."""
        return self._last

    def _report(self, state: ServiceState, exit_code: ExitCode = ExitCode.OK) -> None:
        with self._report_lock:
            last = self._last.state if self._last else None
            if last == ServiceState.STOPPED or (
                last == ServiceState.STOP_PENDING
                and state in (ServiceState.START_PENDING, ServiceState.RUNNING)
            ):
                return
            checkpoint = self._last.checkpoint + 1 if self._last and state in PENDING else 1
            self._last = status_for(state, checkpoint, PENDING_WAIT_HINT_MS, exit_code)
            self._reporter(self._last)

    def _wait_for(self, phases: tuple[Phase, ...], timeout: float | None, or_stop: bool = False) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: self._phase in phases or (or_stop and self._stop_requested), timeout
            )

    def _set_phase(self, phase: Phase) -> None:
        with self._changed:
            self._phase = phase
            self._changed.notify_all()

    def run(self) -> ExitCode:
        """Start the agent, run it until a stop or its end, report STOPPED: the body of SvcRun."""
        self._report(ServiceState.START_PENDING)
        threading.Thread(target=self._agent_thread, name="agent-service", daemon=True).start()
        while not self._wait_for(("running", "ended"), self._progress):
            self._report(ServiceState.START_PENDING)
        if self._phase == "ended" and not self._stop_requested:
            code = (
                ExitCode.CONFIGURATION
                if isinstance(self._error, self._configuration_errors)
                else ExitCode.FAILED
            )
            log.error("the agent could not start: %s", self._error or "no reason given")
            self._report(ServiceState.STOPPED, code)
            return code
        self._report(ServiceState.RUNNING)
        self._wait_for(("ended",), None, or_stop=True)
        if not self._stop_requested:  # ended by itself: a failure, for the recovery actions
            why = self._error or "its loop returned"
            log.error("the agent stopped by itself: %s", why, exc_info=self._error)
            self._report(ServiceState.STOPPED, ExitCode.FAILED)
            return ExitCode.FAILED
        self._await_stop()
        self._report(ServiceState.STOPPED)
        return ExitCode.OK

    def _await_stop(self) -> None:
        deadline = self._clock() + self._stop_timeout
        while not self._wait_for(("ended",), max(0.0, min(self._progress, deadline - self._clock()))):
            if self._clock() >= deadline:
                log.error(
                    "the agent did not stop within %gs; reporting the service stopped (reports not yet "
                    "acknowledged stay in the spool for the next start)",
                    self._stop_timeout,
                )
                return
            self._report(ServiceState.STOP_PENDING)
        if self._error is not None:
            log.warning("the agent stopped with an error: %s", self._error, exc_info=self._error)

    def request_stop(self) -> None:
        """SvcStop and SvcShutdown: report STOP_PENDING, tell the agent to stop, return at once."""
        with self._changed:
            if self._stop_requested:
                return
            self._stop_requested = True
            loop, stop = self._loop, self._stop
            self._changed.notify_all()
        self._report(ServiceState.STOP_PENDING)
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the agent has ended already
                loop.call_soon_threadsafe(stop.set)

    def _agent_thread(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by run(), from the service's main thread
            self._error = exc
        finally:
            self._set_phase("ended")

    async def _serve(self) -> None:
        stop = asyncio.Event()
        with self._changed:
            self._loop, self._stop = asyncio.get_running_loop(), stop
            if self._stop_requested:
                stop.set()
        agent = self._make_agent()  # in the agent's loop: its channels and events belong to it
        self._set_phase("running")
        await agent.run(stop)
