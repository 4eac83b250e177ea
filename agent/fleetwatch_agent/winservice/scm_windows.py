"""The real service manager: ServiceManager over pywin32's modules (Windows only)."""

from __future__ import annotations

import sys

from fleetwatch_agent.winservice.scm import ServiceManager
from fleetwatch_agent.winservice.status import WindowsOnly

if sys.platform == "win32":
    import pywintypes
    import win32evtlogutil
    import win32service
    import win32serviceutil


def service_manager() -> ServiceManager:
    """ServiceManager calling win32serviceutil, win32service and win32evtlogutil."""
    if sys.platform == "win32":
        return ServiceManager(win32serviceutil, win32service, win32evtlogutil, pywintypes.error)
    raise WindowsOnly("the service control manager exists on Windows only")
