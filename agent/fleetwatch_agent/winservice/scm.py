"""Installing and controlling the service through pywin32's functions, passed in (tests fake them)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent.winservice.pywin32api import Win32EvtLogUtil, Win32Service, Win32ServiceUtil

SERVICE_NAME = "FleetwatchAgent"
DISPLAY_NAME = "fleetwatch agent"
DESCRIPTION = (
    "Collects this workstation's antivirus, connectivity and resource reports and pushes them to "
    "the fleetwatch collector."
)
# What pythonservice.exe loads: the module and class of the ServiceFramework subclass.
CLASS_STRING = "fleetwatch_agent.winservice.shell_windows.AgentWindowsService"
# Registry value under HKLM\SYSTEM\CurrentControlSet\Services\FleetwatchAgent\Parameters.
CONFIG_OPTION = "config"
# Event Log source of the agent's log records. Not the service's name: pythonservice.exe registers
# that one for its own messages (servicemanager.pyd), and one source has one message file.
EVENT_SOURCE = "fleetwatch-agent"
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.5

# winerror.h
ERROR_ACCESS_DENIED = 5
ERROR_SERVICE_ALREADY_RUNNING = 1056
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_NOT_ACTIVE = 1062
ERROR_SERVICE_EXISTS = 1073
STATE_NAMES = {
    1: "stopped",
    2: "starting",
    3: "stopping",
    4: "running",
    5: "continuing",
    6: "pausing",
    7: "paused",
}


@dataclass(frozen=True)
class RecoveryPolicy:
    """The service's recovery actions (the Recovery tab): restart after each delay in turn."""

    # After the third failure the last action repeats: one restart a minute until it runs.
    restart_delays_seconds: tuple[float, ...] = (5.0, 10.0, 60.0)
    # The failure count goes back to zero after this long without a failure.
    reset_after_seconds: int = 86_400
    # Also when the service stops by itself with an error code, not only when its process dies.
    on_stop_with_error: bool = True


def failure_actions(policy: RecoveryPolicy, restart: int) -> dict[str, Any]:
    """The SERVICE_FAILURE_ACTIONS dict ChangeServiceConfig2 takes (delays in milliseconds)."""
    return {
        "ResetPeriod": policy.reset_after_seconds,
        "RebootMsg": None,
        "Command": None,
        "Actions": [(restart, round(delay * 1000)) for delay in policy.restart_delays_seconds],
    }


class ServiceError(RuntimeError):
    """A service operation failed; the message says what to do."""


def winerror(exc: BaseException) -> int | None:
    code = getattr(exc, "winerror", None)
    return code if isinstance(code, int) else None


def describe(exc: BaseException) -> str:
    """A pywintypes.error as its function, message and code."""
    where = getattr(exc, "funcname", "") or ""
    text = getattr(exc, "strerror", "") or str(exc)
    code = winerror(exc)
    detail = f"{where}: {text}" if where else text
    if code == ERROR_ACCESS_DENIED:
        detail += "; run it in a command prompt opened with 'Run as administrator'"
    return f"{detail} (error {code})" if code is not None else detail


class ServiceManager:
    """install, remove, start, stop, status of the agent's service."""

    def __init__(
        self,
        util: Win32ServiceUtil,
        service: Win32Service,
        evtlogutil: Win32EvtLogUtil,
        error: type[Exception],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._util = util
        self._service = service
        self._evtlogutil = evtlogutil
        self._error = error  # pywintypes.error
        self._sleep = sleep
        self._clock = clock

    def install(self, config_path: str, recovery: RecoveryPolicy | None = None) -> None:
        """Install the service, automatic with a delayed start, its configuration and recovery actions."""
        try:
            self._util.InstallService(
                CLASS_STRING,
                SERVICE_NAME,
                DISPLAY_NAME,
                startType=self._service.SERVICE_AUTO_START,
                description=DESCRIPTION,
            )
        except self._error as exc:
            if winerror(exc) == ERROR_SERVICE_EXISTS:
                raise ServiceError(
                    f"the service {SERVICE_NAME} is installed already: "
                    "`fleetwatch-agent service remove` first to install it again"
                ) from exc
            raise ServiceError(f"could not install the service: {describe(exc)}") from exc
        try:
            self._util.SetServiceCustomOption(SERVICE_NAME, CONFIG_OPTION, config_path)
            self.configure(recovery or RecoveryPolicy())
        except self._error as exc:  # no half-installed service left behind
            self._util.RemoveService(SERVICE_NAME)
            raise ServiceError(f"could not configure the service: {describe(exc)}") from exc

    def configure(self, recovery: RecoveryPolicy) -> None:
        """Delayed automatic start and the recovery actions (ChangeServiceConfig2)."""
        win32service = self._service
        manager = win32service.OpenSCManager(None, None, win32service.SC_MANAGER_CONNECT)
        try:
            # SC_ACTION_RESTART needs the SERVICE_START right on the handle.
            access = win32service.SERVICE_CHANGE_CONFIG | win32service.SERVICE_START
            handle = win32service.OpenService(manager, SERVICE_NAME, access)
            try:
                win32service.ChangeServiceConfig2(
                    handle, win32service.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, True
                )
                win32service.ChangeServiceConfig2(
                    handle,
                    win32service.SERVICE_CONFIG_FAILURE_ACTIONS,
                    failure_actions(recovery, win32service.SC_ACTION_RESTART),
                )
                win32service.ChangeServiceConfig2(
                    handle, win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, recovery.on_stop_with_error
                )
            finally:
                win32service.CloseServiceHandle(handle)
        finally:
            win32service.CloseServiceHandle(manager)

    def remove(self) -> None:
        """Stop the service if it runs and remove it; the data folder (credential, spool) stays."""
        self.stop()
        try:
            self._util.RemoveService(SERVICE_NAME)
        except self._error as exc:
            raise ServiceError(f"could not remove the service: {describe(exc)}") from exc
        with contextlib.suppress(self._error):  # never registered: the agent never logged a warning
            self._evtlogutil.RemoveSourceFromRegistry(EVENT_SOURCE)

    def status(self) -> tuple[str, int, int]:
        """(state name, Win32 exit code, service exit code); raises ServiceError when not installed."""
        try:
            status = self._util.QueryServiceStatus(SERVICE_NAME)
        except self._error as exc:
            if winerror(exc) == ERROR_SERVICE_DOES_NOT_EXIST:
                raise ServiceError(f"the service {SERVICE_NAME} is not installed") from exc
            raise ServiceError(f"could not query the service: {describe(exc)}") from exc
        state = int(status[1])
        return STATE_NAMES.get(state, f"state {state}"), int(status[3]), int(status[4])

    def _wait(self, wanted: str, timeout: float = WAIT_SECONDS) -> tuple[str, int, int]:
        deadline = self._clock() + timeout
        while True:
            current = self.status()
            if current[0] in (wanted, "stopped") or self._clock() >= deadline:
                return current
            self._sleep(POLL_SECONDS)

    def start(self) -> None:
        """Start the service and wait until it runs; a start that ends stopped is an error."""
        try:
            self._util.StartService(SERVICE_NAME)
        except self._error as exc:
            if winerror(exc) == ERROR_SERVICE_DOES_NOT_EXIST:
                raise ServiceError(f"the service {SERVICE_NAME} is not installed") from exc
            if winerror(exc) != ERROR_SERVICE_ALREADY_RUNNING:
                raise ServiceError(f"could not start the service: {describe(exc)}") from exc
        state, win32_code, service_code = self._wait("running")
        if state != "running":
            raise ServiceError(
                f"the service is {state} (exit code {win32_code}, service code {service_code}): "
                f"see the Event Log (sources {SERVICE_NAME} and {EVENT_SOURCE}) and the agent's log"
            )

    def stop(self) -> None:
        """Stop the service and wait until it stopped; nothing to do when it is not running."""
        try:
            self._util.StopService(SERVICE_NAME)
        except self._error as exc:
            if winerror(exc) == ERROR_SERVICE_NOT_ACTIVE:
                return
            if winerror(exc) == ERROR_SERVICE_DOES_NOT_EXIST:
                raise ServiceError(f"the service {SERVICE_NAME} is not installed") from exc
            raise ServiceError(f"could not stop the service: {describe(exc)}") from exc
        state, _, _ = self._wait("stopped")
        if state != "stopped":
            raise ServiceError(f"the service is still {state} after {WAIT_SECONDS:g}s")
