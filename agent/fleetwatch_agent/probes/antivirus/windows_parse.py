"""Pure parsers for the Windows antivirus probe: PowerShell JSON in, model records out (no I/O)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from fleetwatch_agent.probes.antivirus.model import ProductStatus, classify
from fleetwatch_agent.probes.antivirus.windows_text import nfc

# The inputs are what ``ConvertTo-Json -Compress`` prints in Windows PowerShell 5.1 and PowerShell 7:
# one object serialises as an object and several as a list, empty output means "none", dates are
# ``"\\/Date(<ms>)\\/"`` (5.1) or ISO 8601 (7).

DEFENDER_NAME = "Windows Defender"  # also the product of every Defender detection
DEFENDER_VENDOR = "Microsoft"
# How Security Center registers Defender (the GUID and URL are the same on Windows 8 to 11).
DEFENDER_GUID = "{D68DDC3A-831F-4FAE-9E44-DA132C1ACF46}"
_DEFENDER_NAMES = frozenset({"windows defender", "microsoft defender", "microsoft defender antivirus"})

# Ages above this many days are "never" (Defender writes 4294967295, some fields 65535).
_MAX_AGE_DAYS = 36_500
# Dates up to this one are "never": 0, FILETIME 0 (1601-01-01), DateTime.MinValue (0001-01-01).
_NEVER_BEFORE_MS = 86_400_000

# --- JSON shapes -----------------------------------------------------------------------------------


class ParseError(ValueError):
    """Output of a command that is not what the command prints; the message names the command."""


@dataclass(frozen=True)
class Part:
    """What one read gave (a PowerShell command or a WMI query): its JSON text, or the error it raised."""

    output: str | None = None
    error: str | None = None


def json_records(text: str | None, command: str) -> list[dict[str, Any]]:
    """The objects one ``... | ConvertTo-Json`` printed: empty output is none, an object is one."""
    if text is None or not text.strip():
        return []
    try:
        value = json.loads(text.lstrip("\ufeff"))
    except ValueError:
        raise ParseError(f"{command}: output is not JSON: {one_line(text, 80)!r}") from None
    items = as_list(value)
    if not all(isinstance(item, dict) for item in items):
        raise ParseError(f"{command}: expected objects, got {one_line(text, 80)!r}")
    return items


def as_list(value: Any) -> list[Any]:
    """A JSON value as a list; also unwraps 5.1's ``{"value": [...], "Count": n}`` array wrapper."""
    if value is None:
        return []
    if isinstance(value, dict) and set(value) == {"value", "Count"} and isinstance(value["value"], list):
        return list(value["value"])
    if isinstance(value, list):
        return value
    return [value]


def one_line(text: str, limit: int = 200) -> str:
    """Text for an error message: whitespace and control characters collapsed, at most ``limit`` chars."""
    flat = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def bool_value(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: "²" is a digit to str.isdigit(), not to int()


def int_value(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def str_value(value: Any) -> str:
    """A string field, stripped and in NFC ("" when not a string)."""
    return nfc(value.strip()) if isinstance(value, str) else ""


def age_days(value: Any) -> int | None:
    """An age in days, None when unknown or "never" (4294967295)."""
    days = int_value(value)
    if days is None or days < 0 or days > _MAX_AGE_DAYS:
        return None
    return days


def never_age(value: Any) -> bool:
    """True for an age sentinel meaning "never" (65535, 4294967295 days)."""
    days = int_value(value)
    return days is not None and days > _MAX_AGE_DAYS


_MS_AJAX_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


def date_ms(value: Any) -> int | None:
    """Unix milliseconds of a PowerShell date; None when null, unreadable or before 1970.

    5.1: ``/Date(1700000000000)/`` (UTC milliseconds; an offset suffix is informational only).
    7: ISO 8601 with an offset or ``Z``, fractional seconds of any length. An ISO date without
    an offset is taken as UTC (CIM dates are local-kind and serialise with their offset).
    5.1 may also wrap a date as ``{"value": "/Date(...)/", "DisplayHint": 2, "DateTime": "..."}``.
    """
    ms = _any_date_ms(value)
    return ms if ms is not None and ms > _NEVER_BEFORE_MS else None


def never_date(value: Any) -> bool:
    """True for a date meaning "never": 1970-01-01, FILETIME 0 (1601-01-01), DateTime.MinValue."""
    ms = _any_date_ms(value)
    return ms is not None and ms <= _NEVER_BEFORE_MS


def _any_date_ms(value: Any) -> int | None:
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = _MS_AJAX_DATE.match(text)
    if match:
        return int(match.group(1))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return int(parsed.timestamp() * 1000)
    except (OverflowError, ValueError):  # 0001-01-01 with a positive offset
        return -62_135_596_800_000


def rfc1123_unix(value: Any) -> int | None:
    """Security Center's ``timestamp`` ("Tue, 14 Nov 2023 22:10:05 GMT") in Unix seconds, or None."""
    text = str_value(value)
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


# --- Security Center productState -------------------------------------------------------------------

ScannerState = Literal["off", "on", "snoozed", "expired"]
_SCANNER_STATES: dict[int, ScannerState] = {0: "off", 1: "on", 2: "snoozed", 3: "expired"}
STATE_MASK = 0xF000
DEFINITIONS_OUT_OF_DATE = 0x0010
MICROSOFT_PRODUCT = 0x0100
PROVIDER_MASK = 0x7F0000  # WSC_SECURITY_PROVIDER flags FIREWALL 0x01 .. SERVICE 0x40, in the top byte
KNOWN_BITS = PROVIDER_MASK | STATE_MASK | MICROSOFT_PRODUCT | DEFINITIONS_OUT_OF_DATE


@dataclass(frozen=True)
class ProductState:
    """``productState`` decoded the widely used (undocumented) way; ``scanner`` None: not understood."""

    raw: int | None
    scanner: ScannerState | None
    definitions_out_of_date: bool = False
    microsoft: bool = False
    provider_flags: int = 0
    unknown_bits: int = 0

    @property
    def understood(self) -> bool:
        return self.raw is not None and self.scanner is not None and self.unknown_bits == 0

    def problem(self) -> str:
        """Why the value is not understood ("" when it is)."""
        if self.raw is None:
            return "productState missing or not a number"
        if self.unknown_bits:
            return f"productState {self.raw} (0x{self.raw:06X}) has unknown bits 0x{self.unknown_bits:X}"
        if self.scanner is None:
            nibble = (self.raw & STATE_MASK) >> 12
            return f"productState {self.raw} (0x{self.raw:06X}) has unknown state {nibble}"
        return ""


def decode_product_state(value: Any) -> ProductState:
    raw = int_value(value)
    if raw is None or raw < 0:
        return ProductState(raw=None, scanner=None)
    return ProductState(
        raw=raw,
        scanner=_SCANNER_STATES.get((raw & STATE_MASK) >> 12),
        definitions_out_of_date=bool(raw & DEFINITIONS_OUT_OF_DATE),
        microsoft=bool(raw & MICROSOFT_PRODUCT),
        provider_flags=(raw & PROVIDER_MASK) >> 16,
        unknown_bits=raw & ~KNOWN_BITS,
    )


@dataclass(frozen=True)
class SecurityCenterProduct:
    name: str
    guid: str
    product_exe: str
    state: ProductState
    reporting_exe: str = ""
    timestamp_unix: int | None = None  # when the product last told Security Center its state

    @property
    def is_defender(self) -> bool:
        return (
            self.guid.upper() == DEFENDER_GUID
            or self.product_exe.lower().startswith("windowsdefender:")
            or self.name.lower() in _DEFENDER_NAMES
        )


SECURITY_CENTER_COMMAND = "Get-CimInstance root/SecurityCenter2 AntiVirusProduct"


def parse_security_center(text: str | None) -> tuple[SecurityCenterProduct, ...]:
    """The products registered with Security Center; empty output is none."""
    return tuple(
        SecurityCenterProduct(
            name=str_value(item.get("displayName")) or "unnamed antivirus",
            guid=str_value(item.get("instanceGuid")),
            product_exe=str_value(item.get("pathToSignedProductExe")),
            state=decode_product_state(item.get("productState")),
            reporting_exe=str_value(item.get("pathToSignedReportingExe")),
            timestamp_unix=rfc1123_unix(item.get("timestamp")),
        )
        for item in json_records(text, SECURITY_CENTER_COMMAND)
    )


def security_center_missing(error: str) -> bool:
    """True for the error of a host without Security Center (Windows Server: no such namespace)."""
    lowered = error.lower()
    return "0x8004100e" in lowered or "invalidnamespace" in lowered or "invalid namespace" in lowered


def command_missing(error: str) -> bool:
    """True when the cmdlet does not exist (no Defender module), in any display language."""
    return "commandnotfoundexception" in error.lower()


def product_missing(error: str) -> bool:
    """True when what a product would be read through does not exist: its cmdlet, or its WMI namespace
    or class (WBEM_E_INVALID_NAMESPACE 0x8004100E, WBEM_E_INVALID_CLASS 0x80041010): not installed."""
    lowered = error.lower()
    return command_missing(error) or security_center_missing(error) or "0x80041010" in lowered


def security_center_status(
    product: SecurityCenterProduct, *, now: float, outdated_after_seconds: float
) -> ProductStatus:
    """What Security Center alone tells of a product: its state, never its versions or dates.

    Security Center gives no signature date, only the product's own out-of-date flag, so an
    "on, up to date" product is classified as if its signatures were current; anything not
    understood is "unknown", never "protected".
    """
    vendor = DEFENDER_VENDOR if product.is_defender else ""
    state = product.state
    if not state.understood:
        return ProductStatus(name=product.name, vendor=vendor, state="unknown", detail=state.problem())
    on = state.scanner == "on"
    trusted_fresh = on and not state.definitions_out_of_date
    definitions = "out of date" if state.definitions_out_of_date else "up to date"
    return ProductStatus(
        name=product.name,
        vendor=vendor,
        realtime_protection=on,
        on_access_scanning=on,
        state=classify(
            realtime_protection=on,
            signature_updated_unix=max(1, int(now)) if trusted_fresh else 0,  # stand-in, not reported
            now_unix=now,
            outdated_after_seconds=outdated_after_seconds,
            flagged_outdated=state.definitions_out_of_date,
            expired=state.scanner == "expired",
        ),
        detail=(
            f"Security Center: {state.scanner}, definitions {definitions} (productState {state.raw}); "
            "versions and signature date unknown"
        ),
    )
