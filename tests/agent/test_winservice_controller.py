"""The service's life against a fake service manager: the states, wait hints and controls it reports."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from fleetwatch_agent.winservice.controller import STOP_TIMEOUT_SECONDS, Agent, ServiceController
from fleetwatch_agent.winservice.status import (
    ERROR_SERVICE_SPECIFIC_ERROR,
    SERVICE_ACCEPT_SHUTDOWN,
    SERVICE_ACCEPT_STOP,
    ExitCode,
    ServiceState,
)
from fleetwatch_proto.tomlconfig import ConfigError
from tests.agent.winservice_fakes import FakeServiceManager

S = ServiceState
WAIT = 30.0  # the longest any step may take before the test fails


class Cooperative:
    """An agent that runs until its stop event is set, like AgentService."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.stopped = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self.running.set()
        await stop.wait()
        self.stopped.set()


class Started:
    """Runs ``controller.run()`` in a thread, as the service's main thread."""

    def __init__(self, controller: ServiceController) -> None:
        self.controller = controller
        self.code: ExitCode | None = None
        self.thread = threading.Thread(target=self._run, name="svc-main")
        self.thread.start()

    def _run(self) -> None:
        self.code = self.controller.run()

    def join(self, timeout: float = WAIT) -> ExitCode:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"run() still going after {timeout}s"
        assert self.code is not None
        return self.code


def wait_until(predicate: Callable[[], object], what: str) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_start_reports_running_and_stop_reports_stopped_within_the_bound() -> None:
    scm = FakeServiceManager()
    agent = Cooperative()
    started = Started(ServiceController(lambda: agent, scm))
    wait_until(lambda: S.RUNNING in scm.states(), "RUNNING")
    assert agent.running.wait(WAIT)
    running = scm.last()
    assert running.controls_accepted == SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN

    started.controller.request_stop()  # the control handler's thread returns at once
    # STOP_PENDING is reported before it returns; the agent may already have stopped after it.
    assert scm.states()[2:3] == [S.STOP_PENDING]
    assert started.join() == ExitCode.OK
    assert agent.stopped.is_set()
    assert scm.states() == [S.START_PENDING, S.RUNNING, S.STOP_PENDING, S.STOPPED]
    assert scm.violations() == []
    stopped = scm.last()
    assert (stopped.win32_exit_code, stopped.service_exit_code) == (0, 0)  # no recovery action
    assert scm.seconds_between(S.STOP_PENDING, S.STOPPED) < STOP_TIMEOUT_SECONDS
    pending = [s for s in scm.statuses() if s.state == S.STOP_PENDING]
    assert pending[0].checkpoint == 1 and pending[0].wait_hint_ms > 0
    assert pending[0].controls_accepted == 0  # no second stop while stopping


def test_a_second_stop_request_reports_nothing_more() -> None:
    scm = FakeServiceManager()
    started = Started(ServiceController(Cooperative, scm))
    wait_until(lambda: S.RUNNING in scm.states(), "RUNNING")
    started.controller.request_stop()
    started.controller.request_stop()
    assert started.join() == ExitCode.OK
    assert [s.state for s in scm.statuses()].count(S.STOP_PENDING) == 1


def test_an_agent_that_ignores_the_stop_is_reported_stopped_at_the_bound() -> None:
    release = threading.Event()

    class Wedged:
        async def run(self, stop: asyncio.Event) -> None:
            release.wait(WAIT)  # blocks its own loop: the stop event can never be seen

    scm = FakeServiceManager()
    controller = ServiceController(Wedged, scm, stop_timeout=0.5, progress_seconds=0.05)
    started = Started(controller)
    try:
        wait_until(lambda: S.RUNNING in scm.states(), "RUNNING")
        controller.request_stop()
        assert started.join() == ExitCode.OK  # asked to stop: no recovery action
        assert scm.states()[-1] == S.STOPPED
        assert 0.5 <= scm.seconds_between(S.STOP_PENDING, S.STOPPED) < STOP_TIMEOUT_SECONDS
        # Progress while it waited: STOP_PENDING again and again, each checkpoint higher.
        checkpoints = [s.checkpoint for s in scm.statuses() if s.state == S.STOP_PENDING]
        assert len(checkpoints) >= 3 and checkpoints == sorted(set(checkpoints))
        assert scm.violations() == []
    finally:
        release.set()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("config file C:\\x.toml: not found"), ExitCode.CONFIGURATION),
        (ValueError("boom"), ExitCode.FAILED),
    ],
    ids=["configuration", "other"],
)
def test_an_agent_that_cannot_start_is_stopped_with_an_error_code(error: Exception, code: ExitCode) -> None:
    def refuse() -> Agent:
        raise error

    scm = FakeServiceManager()
    started = Started(ServiceController(refuse, scm, configuration_errors=(ConfigError,)))
    assert started.join() == code
    assert scm.states() == [S.START_PENDING, S.STOPPED]
    stopped = scm.last()
    assert (stopped.win32_exit_code, stopped.service_exit_code) == (ERROR_SERVICE_SPECIFIC_ERROR, int(code))
    assert scm.violations() == []


@pytest.mark.parametrize("ending", ["returns", "raises"])
def test_an_agent_loop_that_ends_by_itself_is_a_failure_for_the_recovery_actions(ending: str) -> None:
    class Ends:
        async def run(self, stop: asyncio.Event) -> None:
            await asyncio.sleep(0.05)
            if ending == "raises":
                raise RuntimeError("spool disk full")

    scm = FakeServiceManager()
    assert Started(ServiceController(Ends, scm)).join() == ExitCode.FAILED
    assert scm.states() == [S.START_PENDING, S.RUNNING, S.STOPPED]
    assert scm.last().win32_exit_code == ERROR_SERVICE_SPECIFIC_ERROR
    assert scm.violations() == []


def test_a_slow_start_reports_progress_and_a_stop_during_it_never_reports_running() -> None:
    go_on = threading.Event()
    agent = Cooperative()

    def slow_start() -> Agent:
        go_on.wait(WAIT)  # opening a large spool, say
        return agent

    scm = FakeServiceManager()
    controller = ServiceController(slow_start, scm, progress_seconds=0.05)
    started = Started(controller)
    wait_until(lambda: len(scm.statuses()) >= 3, "START_PENDING progress")
    controller.request_stop()
    go_on.set()
    assert started.join() == ExitCode.OK
    assert scm.states() == [S.START_PENDING, S.STOP_PENDING, S.STOPPED]
    assert agent.stopped.is_set()  # it was handed a stop event already set
    assert scm.violations() == []
