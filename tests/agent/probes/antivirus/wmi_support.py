"""A fake of the COM surface windows_wmi uses, serving WMI objects recorded by hand (fixtures/windows)."""

# What pywin32 gives, imitated: GetObject("winmgmts:...!\\.\<namespace>") raises com_error(0x8004100E) for a
# namespace that does not exist and returns an SWbemServices otherwise; its ExecQuery(wql, "WQL", flags)
# yields SWbemObjects whose Properties_ yield SWbemProperty (Name, Value, CIMType, IsArray), arrays as tuples.
# The fake also holds the adapter to the rules of COM: every connection is made inside an apartment entered
# by the same thread.

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import windows_wmi as wmi
from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from fleetwatch_agent.probes.context import ProbeContext
from tests.agent.probes.antivirus.windows_support import FIXTURES, NOW, files_check

# com_error arguments as pywin32 raises them (hresult, message, excepinfo, argerror), signed 32-bit codes.
INVALID_NAMESPACE = (-2147217394, "OLE error 0x8004100e", None, None)  # WBEM_E_INVALID_NAMESPACE
# DISP_E_EXCEPTION carrying WBEM_E_INVALID_CLASS in its EXCEPINFO's scode.
INVALID_CLASS = (
    -2147352567,
    "Exception occurred.",
    (0, "SWbemServicesEx", "Invalid class ", None, 0, -2147217392),
    None,
)
ACCESS_DENIED = (-2147024891, "Access is denied.", None, None)  # E_ACCESSDENIED


class FakeComError(Exception):
    """Shaped like pywintypes.com_error: the four arguments above."""


def com_error(recorded: list[Any]) -> FakeComError:
    """The error of a recording's ``failing_queries`` (JSON lists back into pywin32's tuples)."""
    return FakeComError(*(tuple(a) if isinstance(a, list) else a for a in recorded))


@dataclass(frozen=True)
class FakeProperty:
    Name: str
    Value: Any
    CIMType: int
    IsArray: bool


@dataclass(frozen=True)
class FakeObject:
    Properties_: tuple[FakeProperty, ...]


def fake_object(properties: dict[str, list[Any]]) -> FakeObject:
    """An SWbemObject from a recording's ``{name: [CIMType, value]}``; a JSON list is an array (a tuple)."""
    return FakeObject(
        tuple(
            FakeProperty(
                name, tuple(value) if isinstance(value, list) else value, cim_type, isinstance(value, list)
            )
            for name, (cim_type, value) in properties.items()
        )
    )


_WQL = re.compile(r"^SELECT \* FROM (\w+)(?: WHERE (.+))?$")


@dataclass
class FakeServices:
    namespace: str
    classes: dict[str, list[dict[str, list[Any]]]]
    failing: dict[str, list[Any]]
    queries: list[tuple[str, str]]

    def ExecQuery(self, query: str, language: str, flags: int, /) -> Iterable[FakeObject]:  # noqa: N802
        assert (language, flags) == ("WQL", wmi.QUERY_FLAGS)
        match = _WQL.match(query)
        assert match, query
        self.queries.append((self.namespace, query))
        class_name = match.group(1)
        if class_name in self.failing:
            raise com_error(self.failing[class_name])
        if class_name not in self.classes:
            raise FakeComError(*INVALID_CLASS)
        return [fake_object(item) for item in self.classes[class_name]]


@dataclass
class FakeWmi:
    """WMI of one recorded host; ``start_error`` makes every connection fail (WMI broken at start),
    ``apartment_error`` every apartment (COM not initialisable in the thread)."""

    recording: dict[str, Any]
    start_error: tuple[Any, ...] | None = None
    apartment_error: tuple[Any, ...] | None = None
    queries: list[tuple[str, str]] = field(default_factory=list)
    apartments: list[int] = field(default_factory=list)  # threads that entered one
    inside: set[int] = field(default_factory=set)

    @contextmanager
    def apartment(self) -> Iterator[None]:
        if self.apartment_error is not None:
            raise FakeComError(*self.apartment_error)
        me = threading.get_ident()
        assert me not in self.inside, "one apartment per thread at a time"
        self.apartments.append(me)
        self.inside.add(me)
        try:
            yield
        finally:
            self.inside.discard(me)

    def connect(self, namespace: str) -> FakeServices:
        assert threading.get_ident() in self.inside, "COM used outside an apartment of this thread"
        if self.start_error is not None:
            raise FakeComError(*self.start_error)
        classes = self.recording["namespaces"].get(namespace)
        if classes is None:
            raise FakeComError(*INVALID_NAMESPACE)
        return FakeServices(namespace, classes, self.recording.get("failing_queries", {}), self.queries)

    def wmi(self) -> wmi.Wmi:
        return wmi.Wmi(self.connect, self.apartment)


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def no_powershell(script: str, timeout: float) -> tuple[int, str, str]:
    raise AssertionError("PowerShell was started with the WMI source")


def wmi_collector(
    fake: FakeWmi,
    *,
    cursors: dict[str, str] | None = None,
    now: float = NOW,
    present: Iterable[str] | None = None,
    windows_source: str = "auto",
    run: Callable[[str, float], tuple[int, str, str]] = no_powershell,
) -> Callable[[], AntivirusResult]:
    """The Windows collector over the fake WMI (PowerShell fails the test unless ``run`` is given)."""
    context = ProbeContext(
        data_dir=Path("."), cursors=cursors if cursors is not None else {}, clock=lambda: now
    )
    config = AntivirusConfig(windows_source=windows_source)  # type: ignore[arg-type]
    return win.make_collector(config, context, run=run, path_exists=files_check(present), open_wmi=fake.wmi)
