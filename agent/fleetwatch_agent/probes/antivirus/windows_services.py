"""The table of third-party antivirus services and the product records read from Win32_Service."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fleetwatch_agent.probes.antivirus.model import ProductStatus, classify
from fleetwatch_agent.probes.antivirus.windows_parse import json_records, str_value

SERVICES_COMMAND = "Get-CimInstance Win32_Service"


@dataclass(frozen=True)
class ServiceProduct:
    """A product known by its Windows services; ``services`` ending in ``*`` may carry a version."""

    product: str
    vendor: str
    services: tuple[str, ...]  # its real-time scanning services: running means protection on
    names: str  # regular expression matching its Security Center displayName

    def has_service(self, name: str) -> bool:
        lowered = name.lower()
        for pattern in self.services:
            base = pattern.rstrip("*").lower()
            if lowered == base or (
                pattern.endswith("*") and re.fullmatch(re.escape(base) + r"[\d.]+", lowered)
            ):
                return True
        return False

    def registers(self, display_name: str) -> bool:
        return re.search(self.names, display_name, re.IGNORECASE) is not None


# The products common on the province's workstations and servers (agent/README.md, "Antivirus").
# Service names come from the vendors' documentation and public process lists; confirm them on
# a real installation when one is at hand (tests/agent/probes/antivirus/fixtures/windows/README.md).
SERVICE_PRODUCTS: tuple[ServiceProduct, ...] = (
    ServiceProduct("Kaspersky Endpoint Security for Windows", "Kaspersky", ("AVP*",), r"kaspersky"),
    ServiceProduct("Kaspersky Security for Windows Server", "Kaspersky", ("kavfs",), r"kaspersky"),
    ServiceProduct("ESET Security", "ESET", ("ekrn",), r"\beset\b"),
    ServiceProduct("Bkav Pro", "Bkav", ("BkavService",), r"\bbkav"),
    ServiceProduct("CMC Antivirus", "CMC", ("CMCCore",), r"\bcmc\b"),
    ServiceProduct("Trend Micro Apex One Security Agent", "Trend Micro", ("ntrtscan",), r"trend ?micro"),
    ServiceProduct("Trend Micro Deep Security Agent", "Trend Micro", ("ds_agent",), r"trend ?micro"),
    ServiceProduct("Symantec Endpoint Protection", "Broadcom", ("SepMasterService",), r"symantec|broadcom"),
)


def wql_filter(products: Iterable[ServiceProduct] = SERVICE_PRODUCTS) -> str:
    """The WQL condition selecting the table's services (LIKE only for versioned names)."""
    terms: list[str] = []
    for entry in products:
        for pattern in entry.services:
            term = f"Name LIKE '{pattern[:-1]}%'" if pattern.endswith("*") else f"Name='{pattern}'"
            if term not in terms:
                terms.append(term)
    return " OR ".join(terms)


def vendor_of(display_name: str) -> str:
    """The vendor the table gives a Security Center displayName, "" when none."""
    return next((p.vendor for p in SERVICE_PRODUCTS if p.registers(display_name)), "")


@dataclass(frozen=True)
class Service:
    name: str
    display_name: str
    state: str  # Win32_Service.State: "Running", "Stopped", "Start Pending", ...
    start_mode: str  # "Auto", "Manual", "Disabled", ...
    executable: str  # from PathName, without quotes and arguments

    @property
    def running(self) -> bool:
        return self.state.lower() == "running"


def executable_of(path_name: str) -> str:
    """The program of a service's command line: ``"C:\\a b\\x.exe" -r`` or ``C:\\a b\\x.exe -r``."""
    text = path_name.strip()
    if text.startswith('"'):
        return text[1:].split('"', 1)[0]
    match = re.match(r"(?i)^(.+?\.exe)(?:\s|$)", text)
    return match.group(1) if match else text.split(" ", 1)[0]


def parse_services(text: str | None) -> tuple[Service, ...]:
    """The table's services the host has (Win32_Service records); others are ignored."""
    services = []
    for item in json_records(text, SERVICES_COMMAND):
        name = str_value(item.get("Name"))
        if name and any(p.has_service(name) for p in SERVICE_PRODUCTS):
            services.append(
                Service(
                    name=name,
                    display_name=str_value(item.get("DisplayName")),
                    state=str_value(item.get("State")),
                    start_mode=str_value(item.get("StartMode")),
                    executable=executable_of(str_value(item.get("PathName"))),
                )
            )
    return tuple(services)


def services_of_vendor(vendor: str, services: Iterable[Service]) -> list[Service]:
    entries = [p for p in SERVICE_PRODUCTS if p.vendor == vendor]
    return [s for s in services if any(p.has_service(s.name) for p in entries)]


def _describe(service: Service) -> str:
    shown = f"{service.name} ({service.display_name})" if service.display_name else service.name
    state = service.state.lower() or "in an unknown state"
    return f"service {shown} {state}, start mode {service.start_mode or '?'}"


def service_products(
    services: Iterable[Service],
    *,
    skip_vendors: Iterable[str],
    path_exists: Callable[[str], bool | None],
    now: float,
    outdated_after_seconds: float,
) -> list[ProductStatus]:
    """One record per table product whose service exists (vendors in ``skip_vendors`` are already known)."""
    # A running service means real-time protection on; its signature date cannot be read through
    # Windows, so the state is "unknown", never "protected"; all services stopped: "disabled";
    # every service's program gone: "stale" (a service left behind by an uninstaller).
    skipped = set(skip_vendors)
    listed = tuple(services)
    records = []
    for entry in SERVICE_PRODUCTS:
        found = [s for s in listed if entry.has_service(s.name)]
        if not found or entry.vendor in skipped:
            continue
        gone = [s for s in found if s.executable and path_exists(s.executable) is False]
        running = any(s.running for s in found)
        notes = [_describe(s) for s in found]
        if len(gone) == len(found):
            notes.insert(0, "stale service: its program is gone: " + ", ".join(s.executable for s in gone))
            records.append(
                ProductStatus(name=entry.product, vendor=entry.vendor, state="stale", detail="; ".join(notes))
            )
            continue
        notes.append("signature date unknown: the product does not tell it through Windows")
        state = classify(
            realtime_protection=running,
            signature_updated_unix=0,
            now_unix=now,
            outdated_after_seconds=outdated_after_seconds,
        )
        records.append(
            ProductStatus(
                name=entry.product,
                vendor=entry.vendor,
                realtime_protection=running,
                on_access_scanning=running,
                state=state,
                detail="; ".join(notes),
            )
        )
    return records
