"""The pywin32 functions and constants the service manager uses, as protocols the modules themselves meet."""

# ruff: noqa: N802, N803 -- the names are pywin32's own.

from __future__ import annotations

from typing import Any, Protocol


class Win32Service(Protocol):
    """The part of pywin32's win32service used here."""

    SC_MANAGER_CONNECT: int
    SERVICE_CHANGE_CONFIG: int
    SERVICE_START: int
    SERVICE_AUTO_START: int
    SERVICE_CONFIG_FAILURE_ACTIONS: int
    SERVICE_CONFIG_FAILURE_ACTIONS_FLAG: int
    SERVICE_CONFIG_DELAYED_AUTO_START_INFO: int
    SC_ACTION_RESTART: int
    SERVICE_RUNNING: int
    SERVICE_STOPPED: int

    def OpenSCManager(self, machineName: str | None, dbName: str | None, desiredAccess: int, /) -> Any: ...
    def OpenService(self, scHandle: Any, name: str, desiredAccess: int, /) -> Any: ...
    def CloseServiceHandle(self, scHandle: Any, /) -> None: ...
    def ChangeServiceConfig2(self, hService: Any, InfoLevel: int, info: Any, /) -> None: ...


class Win32ServiceUtil(Protocol):
    """The part of pywin32's win32serviceutil used here."""

    def InstallService(
        self,
        pythonClassString: str,
        serviceName: str,
        displayName: str,
        *,
        startType: int | None = ...,
        description: str | None = ...,
    ) -> None: ...
    def SetServiceCustomOption(self, serviceName: str, option: str, value: str, /) -> None: ...
    def RemoveService(self, serviceName: str, /) -> None: ...
    def StartService(self, serviceName: str, /) -> None: ...
    def StopService(self, serviceName: str, /) -> Any: ...
    def QueryServiceStatus(self, serviceName: str, /) -> Any: ...


class Win32EvtLogUtil(Protocol):
    def RemoveSourceFromRegistry(self, appName: str, /) -> None: ...
