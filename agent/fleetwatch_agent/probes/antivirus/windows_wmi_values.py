"""WMI objects as the records PowerShell's ConvertTo-Json prints, and COM errors as text (pure, no COM)."""

# Through COM (WMI scripting, SWbemObject.Properties_) a property gives its value in Automation types:
# datetimes as CIM_DATETIME strings ("20231114221320.000000+000", local time and its offset in minutes),
# sint64/uint64 as decimal strings (Automation has no 64-bit integer), arrays as tuples, NULL as None. The
# records below carry what PowerShell 7's ConvertTo-Json prints for the same object (dates ISO 8601 with
# their offset, 64-bit integers as numbers, arrays as lists), which windows_parse reads already. Values
# are converted by their CIM type, never guessed from their text.

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

# wbemCimtype values (WbemCimtypeEnum) whose Automation value differs from the JSON one.
CIM_SINT64 = 20
CIM_UINT64 = 21
CIM_DATETIME = 101
_INT64_TYPES = frozenset({CIM_SINT64, CIM_UINT64})
# yyyymmddHHMMSS.mmmmmmsUUU: a date and time with its offset from UTC in minutes. An interval has ":000"
# instead of the offset, and unknown fields are asterisks: neither is a date.
_CIM_DATETIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{6})([+-])(\d{3})$")
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: "²" is a digit to str.isdigit(), not to int()


class WbemProperty(Protocol):
    """The part of SWbemProperty read here."""

    @property
    def Name(self) -> str: ...  # noqa: N802 - the COM name

    @property
    def Value(self) -> Any: ...  # noqa: N802

    @property
    def CIMType(self) -> int: ...  # noqa: N802

    @property
    def IsArray(self) -> bool: ...  # noqa: N802


class WbemObject(Protocol):
    """The part of SWbemObject read here: its properties (those the query selected)."""

    @property
    def Properties_(self) -> Iterable[WbemProperty]: ...  # noqa: N802


def cim_datetime_iso(text: Any) -> str | None:
    """A CIM_DATETIME as ISO 8601 with its offset ("2023-11-14T22:13:20+00:00"); None when it is no date."""
    match = _CIM_DATETIME.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, micro, sign, offset = match.groups()
    minutes = int(offset) if sign == "+" else -int(offset)
    try:
        zone = timezone(timedelta(minutes=minutes))
        when = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), int(micro), tzinfo=zone
        )
    except ValueError:  # year 0000, month 13, an offset of a day or more
        return None
    return when.isoformat()


def _scalar(value: Any, cim_type: int) -> Any:
    if value is None:
        return None
    if cim_type in _INT64_TYPES and isinstance(value, str):
        text = value.strip()
        return int(text) if _INTEGER.fullmatch(text) else None
    if cim_type == CIM_DATETIME:
        return cim_datetime_iso(value)
    if isinstance(value, datetime):  # a VT_DATE some providers give (pywintypes.datetime)
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)  # an embedded object or bytes: nothing the parsers read


def json_value(value: Any, cim_type: int, is_array: bool) -> Any:
    """A property's Automation value as the JSON value PowerShell prints for it."""
    if value is None:
        return None
    if is_array or isinstance(value, tuple | list):
        items = value if isinstance(value, tuple | list) else (value,)
        return [_scalar(item, cim_type) for item in items]
    return _scalar(value, cim_type)


def record(item: WbemObject, names: Iterable[str]) -> dict[str, Any]:
    """The properties ``names`` of one object as JSON values, null for one it lacks (as Select-Object)."""
    found = {p.Name: p for p in item.Properties_}
    return {
        name: json_value(found[name].Value, found[name].CIMType, found[name].IsArray)
        if name in found
        else None
        for name in names
    }


def hresult(exc: BaseException) -> int | None:
    """The HRESULT of a COM error, as an unsigned 32-bit number; None for any other exception.

    A COM error is recognised by its shape, pywintypes.com_error's four arguments (hresult, message,
    excepinfo, argerror), so this module runs and is tested where pywin32 does not exist.
    """
    if len(exc.args) != 4 or not isinstance(exc.args[0], int) or isinstance(exc.args[0], bool):
        return None
    return exc.args[0] & 0xFFFFFFFF


def error_text(exc: BaseException) -> str:
    """A COM error as "0x8004100E: Invalid namespace", WMI's own code first; other errors by type.

    pywintypes.com_error's arguments are (hresult, message, excepinfo, argerror); when WMI fails inside
    a call the hresult is DISP_E_EXCEPTION and excepinfo is (wcode, source, description, helpfile,
    helpcontext, scode) with WMI's code (WBEM_E_*) in scode.
    """
    code = hresult(exc)
    if code is None:
        return " ".join(f"{type(exc).__name__}: {exc}".split())
    message = exc.args[1] if isinstance(exc.args[1], str) else ""
    info = exc.args[2]
    if isinstance(info, tuple) and len(info) >= 6:
        if isinstance(info[5], int) and info[5]:
            code = info[5] & 0xFFFFFFFF
        if isinstance(info[2], str) and info[2].strip():
            message = info[2]
    return f"0x{code:08X}: {' '.join(message.split()) or 'COM error'}"
