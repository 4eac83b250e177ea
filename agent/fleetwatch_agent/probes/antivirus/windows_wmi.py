"""Security Center, Defender and services read in-process through WMI (pywin32 COM), no process started."""

# Each query answers one part of the collection with the JSON text the PowerShell command of the same part
# prints (windows_wmi_values), so one set of pure parsers reads both sources. A query's failure is that
# part's error, as the script's try/catch per command makes it: "0x8004100E: Invalid namespace" on Windows
# Server (no root/SecurityCenter2) is recognised by windows_parse like PowerShell's text of the same error.
#
# COM is initialised per thread: the runner calls each collection in a fresh thread, so every collection
# enters its own apartment (com_apartment), connects, queries and releases every COM object before it
# leaves. pywin32 is imported only on Windows and only here (open_system_wmi), so this module imports and
# type-checks anywhere, and tests run it against fakes of the COM objects.

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from fleetwatch_agent.probes.antivirus.model import SOURCES
from fleetwatch_agent.probes.antivirus.windows_parse import Part
from fleetwatch_agent.probes.antivirus.windows_services import wql_filter
from fleetwatch_agent.probes.antivirus.windows_wmi_values import WbemObject, error_text, hresult, record

SECURITY_CENTER_NAMESPACE = "root\\SecurityCenter2"
DEFENDER_NAMESPACE = "root\\Microsoft\\Windows\\Defender"
CIMV2_NAMESPACE = "root\\cimv2"
MONIKER = "winmgmts:{impersonationLevel=impersonate}!\\\\.\\"
# wbemFlagReturnImmediately | wbemFlagForwardOnly: objects stream in and are not kept for a second pass.
QUERY_FLAGS = 0x10 | 0x20


@dataclass(frozen=True)
class Query:
    """One part's WMI query and the properties kept of each object (those the PowerShell command selects).

    The query selects every property: naming one the class lacks (AMRunningMode on an older Defender
    platform) fails the whole query with WBEM_E_INVALID_QUERY, where PowerShell's Select-Object gives
    null; a property the object lacks is null here too.
    """

    namespace: str
    class_name: str
    properties: tuple[str, ...]
    where: str = ""

    @property
    def wql(self) -> str:
        return f"SELECT * FROM {self.class_name}" + (f" WHERE {self.where}" if self.where else "")


QUERIES: dict[str, Query] = {
    "security_center": Query(
        SECURITY_CENTER_NAMESPACE,
        "AntiVirusProduct",
        (
            "displayName",
            "instanceGuid",
            "pathToSignedProductExe",
            "pathToSignedReportingExe",
            "productState",
            "timestamp",
        ),
    ),
    "defender_status": Query(
        DEFENDER_NAMESPACE,
        "MSFT_MpComputerStatus",
        (
            "AMServiceEnabled",
            "AntivirusEnabled",
            "RealTimeProtectionEnabled",
            "AMProductVersion",
            "AMEngineVersion",
            "AntivirusSignatureVersion",
            "AntivirusSignatureLastUpdated",
            "AntivirusSignatureAge",
            "QuickScanAge",
            "FullScanAge",
            "QuickScanEndTime",
            "FullScanEndTime",
            "AMRunningMode",
        ),
    ),
    "detections": Query(
        DEFENDER_NAMESPACE,
        "MSFT_MpThreatDetection",
        (
            "DetectionID",
            "ThreatID",
            "InitialDetectionTime",
            "LastThreatStatusChangeTime",
            "ActionSuccess",
            "Resources",
            "ThreatStatusID",
        ),
    ),
    # Asked only when there are detections to name.
    "threats": Query(DEFENDER_NAMESPACE, "MSFT_MpThreat", ("ThreatID", "ThreatName")),
    "services": Query(
        CIMV2_NAMESPACE,
        "Win32_Service",
        ("Name", "DisplayName", "State", "StartMode", "PathName"),
        where=wql_filter(),
    ),
}
# The HRESULT of CoInitializeEx in a thread whose apartment is already of the other kind (the main thread
# after ``import pythoncom``): COM is usable there as it is.
RPC_E_CHANGED_MODE = 0x80010106


class WbemServices(Protocol):
    """The part of SWbemServices used here."""

    def ExecQuery(self, query: str, language: str, flags: int, /) -> Iterable[WbemObject]: ...  # noqa: N802


Connect = Callable[[str], WbemServices]  # namespace -> its services (raises a COM error)


def read_parts(connect: Connect) -> dict[str, Part]:
    """The five parts of one collection, each its JSON text or its error; one connection per namespace."""
    opened: dict[str, WbemServices | str] = {}

    def query(key: str) -> Part:
        wanted = QUERIES[key]
        namespace = wanted.namespace
        try:
            if namespace not in opened:
                opened[namespace] = connect(namespace)
            services = opened[namespace]
            if isinstance(services, str):
                return Part(error=services)
            found = services.ExecQuery(wanted.wql, "WQL", QUERY_FLAGS)
            records = [record(item, wanted.properties) for item in found]
        except Exception as exc:  # a COM error, this part's alone (as the script's try/catch per command)
            message = error_text(exc)
            opened.setdefault(namespace, message)
            return Part(error=message)
        return Part(output=json.dumps(records, ensure_ascii=False))

    parts = {key: query(key) for key in ("security_center", "defender_status", "detections", "services")}
    listed = parts["detections"]
    has_detections = listed.error is None and listed.output not in (None, "[]")
    parts["threats"] = query("threats") if has_detections else Part(output="")
    return parts


@dataclass(frozen=True)
class Wmi:
    """WMI as this process reaches it: a connection per namespace, within a COM apartment per thread."""

    connect: Connect
    apartment: Callable[[], AbstractContextManager[object]] = nullcontext

    def read(self) -> dict[str, Part]:
        """One collection's parts, read in this thread's apartment."""
        with self.apartment():
            return read_parts(self.connect)

    def problem(self) -> str:
        """Why WMI cannot be used ("" when it can): a connection to root\\cimv2 fails."""
        try:
            with self.apartment():
                self.connect(CIMV2_NAMESPACE)
        except Exception as exc:  # any COM error: WMI is not usable
            return error_text(exc)
        return ""


@contextmanager
def com_apartment(
    initialize: Callable[[int], None], uninitialize: Callable[[], None], flags: int
) -> Iterator[None]:
    """COM initialised for the current thread while inside, uninitialised after (when this call did it)."""
    try:
        initialize(flags)
    except Exception as exc:
        if hresult(exc) != RPC_E_CHANGED_MODE:
            raise
        yield  # initialised already, in another model: used as it is, left as it was
        return
    try:
        yield
    finally:
        uninitialize()


def open_system_wmi() -> Wmi | str:
    """This host's WMI through pywin32, or why there is none (not Windows, pywin32 not installed)."""
    if sys.platform != "win32":
        return f"WMI through pywin32 exists on Windows only, not {sys.platform}"
    try:
        import pythoncom
        import win32com.client
    except ImportError as exc:
        return f"pywin32 is not installed ({exc})"

    def connect(namespace: str) -> WbemServices:
        return cast(WbemServices, win32com.client.GetObject(MONIKER + namespace))

    def apartment() -> AbstractContextManager[object]:
        return com_apartment(
            pythoncom.CoInitializeEx, pythoncom.CoUninitialize, pythoncom.COINIT_MULTITHREADED
        )

    return Wmi(connect, apartment)


SourceName = Literal["wmi", "powershell"]
SourceSetting = Literal["auto", "wmi", "powershell"]


@dataclass(frozen=True)
class Source:
    """How the collections read Windows, decided once when the probe starts."""

    name: SourceName
    note: str = ""  # why, when it is not what was asked for or WMI cannot be used
    wmi: Wmi | None = None  # None: PowerShell, or WMI asked for but not usable

    def describe(self) -> str:
        how = SOURCES[self.name]
        return f"{how} ({self.note})" if self.note else how


def choose_source(setting: SourceSetting, open_wmi: Callable[[], Wmi | str]) -> Source:
    """``auto``: WMI when pywin32 is there and WMI answers now, else PowerShell; the others: that one."""
    if setting == "powershell":
        return Source("powershell", 'windows_source = "powershell"')
    opened = open_wmi()
    problem = opened if isinstance(opened, str) else opened.problem()
    if isinstance(opened, Wmi) and not problem:
        return Source("wmi", wmi=opened)
    if setting == "wmi":  # no fallback when asked for: every collection says why it has nothing
        return Source("wmi", f"WMI unavailable: {problem}")
    return Source("powershell", f"WMI unavailable at start: {problem}")
