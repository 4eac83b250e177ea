"""Fakes of the Windows service control manager and of pywin32's service modules, for tests on Linux."""

# Built from the documented behaviour (SetServiceStatus, SERVICE_STATUS, ChangeServiceConfig2 in
# the Windows API reference; win32serviceutil.py and win32service.i in pywin32's source), never
# from a recording of a real Windows: no Windows machine runs these tests.

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fleetwatch_agent.winservice.status import (
    SERVICE_ACCEPT_SHUTDOWN,
    SERVICE_ACCEPT_STOP,
    SERVICE_WIN32_OWN_PROCESS,
    ServiceState,
    ServiceStatus,
)

PENDING = (ServiceState.START_PENDING, ServiceState.STOP_PENDING)


class FakeServiceManager:
    """Takes the service's status reports as SetServiceStatus would, and records them with their time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reports: list[tuple[float, ServiceStatus]] = []

    def __call__(self, status: ServiceStatus) -> None:
        with self._lock:
            self.reports.append((time.monotonic(), status))

    def statuses(self) -> list[ServiceStatus]:
        with self._lock:
            return [status for _, status in self.reports]

    def states(self) -> list[ServiceState]:
        """The states in order, each repeated report of one state counted once."""
        states: list[ServiceState] = []
        for status in self.statuses():
            if not states or states[-1] != status.state:
                states.append(status.state)
        return states

    def first(self, state: ServiceState) -> float:
        return next(when for when, status in self.reports if status.state == state)

    def seconds_between(self, earlier: ServiceState, later: ServiceState) -> float:
        return self.first(later) - self.first(earlier)

    def last(self) -> ServiceStatus:
        return self.statuses()[-1]

    def violations(self) -> list[str]:
        """What a real service control manager would reject or misread in the reports."""
        found = []
        statuses = self.statuses()
        for index, status in enumerate(statuses):
            where = f"report {index} ({status.state.name})"
            if status.as_tuple()[0] != SERVICE_WIN32_OWN_PROCESS:
                found.append(f"{where}: not SERVICE_WIN32_OWN_PROCESS")
            accepts = (
                SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN if status.state == ServiceState.RUNNING else 0
            )
            if status.controls_accepted != accepts:
                found.append(f"{where}: accepts controls {status.controls_accepted:#x}")
            if status.state in PENDING:
                if status.wait_hint_ms <= 0 or status.checkpoint <= 0:
                    found.append(f"{where}: a pending state without wait hint or checkpoint")
                previous = statuses[index - 1] if index else None
                if previous and previous.state == status.state and status.checkpoint <= previous.checkpoint:
                    found.append(f"{where}: checkpoint {status.checkpoint} did not increase")
            elif status.checkpoint or status.wait_hint_ms:
                found.append(f"{where}: checkpoint or wait hint outside a pending state")
            if index and statuses[index - 1].state == ServiceState.STOPPED:
                found.append(f"{where}: reported after STOPPED")
        if statuses and statuses[0].state != ServiceState.START_PENDING:
            found.append("the first report is not START_PENDING")
        return found


class FakePywinError(Exception):
    """pywintypes.error: (winerror, funcname, strerror)."""

    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror = winerror
        self.funcname = funcname
        self.strerror = strerror


@dataclass
class InstalledService:
    class_string: str
    display_name: str
    start_type: int | None
    description: str | None
    options: dict[str, str] = field(default_factory=dict)
    config2: dict[int, Any] = field(default_factory=dict)
    state: int = 1  # SERVICE_STOPPED
    exit_codes: tuple[int, int] = (0, 0)


@dataclass
class FakeServices:
    """The service database the fake modules share; ``fail_start`` makes a started service stop at once."""

    installed: dict[str, InstalledService] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    open_handles: int = 0
    fail_start: tuple[int, int] | None = None
    event_sources: set[str] = field(default_factory=set)

    def get(self, name: str, function: str) -> InstalledService:
        if name not in self.installed:
            raise FakePywinError(
                1060, function, "The specified service does not exist as an installed service."
            )
        return self.installed[name]


@dataclass
class Handle:
    name: str | None
    access: int


class FakeWin32Service:
    """win32service: the constants with winsvc.h's values, and the handle functions."""

    SC_MANAGER_CONNECT = 0x0001
    SERVICE_CHANGE_CONFIG = 0x0002
    SERVICE_START = 0x0010
    SERVICE_AUTO_START = 0x00000002
    SERVICE_CONFIG_FAILURE_ACTIONS = 2
    SERVICE_CONFIG_DELAYED_AUTO_START_INFO = 3
    SERVICE_CONFIG_FAILURE_ACTIONS_FLAG = 4
    SC_ACTION_RESTART = 1
    SERVICE_STOPPED = 1
    SERVICE_RUNNING = 4

    def __init__(self, services: FakeServices) -> None:
        self.services = services
        self.config2_access: list[int] = []

    def OpenSCManager(self, machineName: str | None, dbName: str | None, desiredAccess: int, /) -> Handle:  # noqa: N802, N803
        self.services.open_handles += 1
        return Handle(None, desiredAccess)

    def OpenService(self, scHandle: Handle, name: str, desiredAccess: int, /) -> Handle:  # noqa: N802, N803
        self.services.get(name, "OpenService")
        self.services.open_handles += 1
        return Handle(name, desiredAccess)

    def CloseServiceHandle(self, scHandle: Handle, /) -> None:  # noqa: N802, N803
        self.services.open_handles -= 1

    def ChangeServiceConfig2(self, hService: Handle, InfoLevel: int, info: Any, /) -> None:  # noqa: N802, N803
        assert hService.name is not None
        if InfoLevel == self.SERVICE_CONFIG_FAILURE_ACTIONS:
            # pywin32 parses the dict with "lOOO" and these four keywords, all required.
            if not isinstance(info, dict) or set(info) != {"ResetPeriod", "RebootMsg", "Command", "Actions"}:
                raise TypeError("SERVICE_FAILURE_ACTIONS must be a dictionary containing {...}")
            if any(kind == self.SC_ACTION_RESTART for kind, _ in info["Actions"]) and not (
                hService.access & self.SERVICE_START
            ):
                raise FakePywinError(5, "ChangeServiceConfig2", "Access is denied.")
        self.services.get(hService.name, "ChangeServiceConfig2").config2[InfoLevel] = info
        self.config2_access.append(hService.access)


class FakeWin32ServiceUtil:
    """win32serviceutil's functions over the shared fake database."""

    def __init__(self, services: FakeServices) -> None:
        self.services = services

    def InstallService(  # noqa: N802
        self,
        pythonClassString: str,  # noqa: N803
        serviceName: str,  # noqa: N803
        displayName: str,  # noqa: N803
        *,
        startType: int | None = None,  # noqa: N803
        description: str | None = None,
    ) -> None:
        self.services.calls.append("InstallService")
        if serviceName in self.services.installed:
            raise FakePywinError(1073, "CreateService", "The specified service already exists.")
        self.services.installed[serviceName] = InstalledService(
            pythonClassString, displayName, startType, description
        )

    def SetServiceCustomOption(self, serviceName: str, option: str, value: str, /) -> None:  # noqa: N802, N803
        self.services.get(serviceName, "RegCreateKey").options[option] = value

    def RemoveService(self, serviceName: str, /) -> None:  # noqa: N802, N803
        self.services.calls.append("RemoveService")
        self.services.get(serviceName, "OpenService")
        del self.services.installed[serviceName]

    def StartService(self, serviceName: str, /) -> None:  # noqa: N802, N803
        self.services.calls.append("StartService")
        service = self.services.get(serviceName, "OpenService")
        if service.state == FakeWin32Service.SERVICE_RUNNING:
            raise FakePywinError(1056, "StartService", "An instance of the service is already running.")
        if self.services.fail_start is not None:
            service.state, service.exit_codes = FakeWin32Service.SERVICE_STOPPED, self.services.fail_start
        else:
            service.state = FakeWin32Service.SERVICE_RUNNING

    def StopService(self, serviceName: str, /) -> Any:  # noqa: N802, N803
        self.services.calls.append("StopService")
        service = self.services.get(serviceName, "OpenService")
        if service.state == FakeWin32Service.SERVICE_STOPPED:
            raise FakePywinError(1062, "ControlService", "The service has not been started.")
        service.state = FakeWin32Service.SERVICE_STOPPED
        return (SERVICE_WIN32_OWN_PROCESS, 3, 0, 0, 0, 1, 5000)

    def QueryServiceStatus(self, serviceName: str, /) -> Any:  # noqa: N802, N803
        service = self.services.get(serviceName, "OpenService")
        return (SERVICE_WIN32_OWN_PROCESS, service.state, 0, *service.exit_codes, 0, 0)


class FakeWin32EvtLogUtil:
    def __init__(self, services: FakeServices) -> None:
        self.services = services

    def RemoveSourceFromRegistry(self, appName: str, /) -> None:  # noqa: N802, N803
        if appName not in self.services.event_sources:
            raise FakePywinError(2, "RegDeleteKey", "The system cannot find the file specified.")
        self.services.event_sources.discard(appName)
