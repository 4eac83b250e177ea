"""The Windows service itself: a pywin32 ServiceFramework wiring the service manager to ServiceHost."""

from __future__ import annotations

import logging.handlers
import sys

from fleetwatch_agent.winservice.host import HostWorld, ServiceHost, child_python
from fleetwatch_agent.winservice.scm import DESCRIPTION, DISPLAY_NAME, EVENT_SOURCE, SERVICE_NAME
from fleetwatch_agent.winservice.status import ServiceState, ServiceStatus


class ServiceFailed(RuntimeError):
    """Raised from SvcRun so that pythonservice.exe reports STOPPED with an error code."""


def event_log_handler() -> logging.Handler:
    """The stdlib's Event Log handler (it writes through pywin32's win32evtlogutil) for EVENT_SOURCE."""
    # It registers EVENT_SOURCE with win32service.pyd as message file, whose message 1 is "%1":
    # the record's text appears as it is. pythonservice.exe registers the service's own name
    # with servicemanager.pyd, hence a source of its own.
    return logging.handlers.NTEventLogHandler(EVENT_SOURCE)


if sys.platform == "win32":
    from collections.abc import Iterable

    import servicemanager
    import win32service
    import win32serviceutil

    from fleetwatch_agent.winservice import acl_windows

    def _read_option(name: str) -> str | None:
        value = win32serviceutil.GetServiceCustomOption(SERVICE_NAME, name)
        return value if isinstance(value, str) and value else None

    class AgentWindowsService(win32serviceutil.ServiceFramework):
        """Loaded by pythonservice.exe from the class string `service install` registered."""

        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Iterable[str]) -> None:
            super().__init__(args)
            world = HostWorld(
                _read_option,
                acl_windows.ensure_private_dir,
                acl_windows.check_private_file,
                event_log_handler,
            )
            self._host = ServiceHost(world, self._set_status)

        def _set_status(self, status: ServiceStatus) -> None:
            # pythonservice.exe reports STOPPED itself once SvcRun returns (with an error code
            # when it raised); a second STOPPED from here could override that code.
            if self.ssh is not None and status.state != ServiceState.STOPPED:  # None: debugging
                win32service.SetServiceStatus(self.ssh, status.as_tuple())

        def _log(self, message: int) -> None:
            servicemanager.LogMsg(servicemanager.EVENTLOG_INFORMATION_TYPE, message, (self._svc_name_, ""))

        def SvcRun(self) -> None:  # noqa: N802
            self._log(servicemanager.PYS_SERVICE_STARTING)
            sys.executable = child_python(sys.executable, sys.exec_prefix)
            code = self._host.run()
            self._log(servicemanager.PYS_SERVICE_STOPPED)
            if code:
                raise ServiceFailed(f"the agent stopped with exit code {code}; see the {EVENT_SOURCE} events")

        def SvcStop(self) -> None:  # noqa: N802
            self._host.controller.request_stop()

        def SvcShutdown(self) -> None:  # noqa: N802
            self._host.controller.request_stop()

        def SvcInterrogate(self) -> None:  # noqa: N802
            last = self._host.controller.last_status
            if last is not None:
                self._set_status(last)


if __name__ == "__main__" and sys.platform == "win32":
    # `python -m fleetwatch_agent.winservice.shell_windows debug`: run in the console (Ctrl+C stops).
    win32serviceutil.HandleCommandLine(AgentWindowsService)
