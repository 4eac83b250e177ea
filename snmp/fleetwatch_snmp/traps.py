"""SNMP notifications as ``TrapEvent``s: classification, interface, bounded varbind text (pure, no pysnmp)."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from fleetwatch_snmp import oids

# What the receiver hands over per varbind: an integer (INTEGER, counters, gauges, TimeTicks), a str
# (OBJECT IDENTIFIER in dotted form, IpAddress in dotted-quad form), bytes (OCTET STRING, Opaque) or
# None (NULL, noSuchObject, ...).
VarbindValue = int | str | bytes | None

SYS_UP_TIME: Final = oids.dotted(oids.SYS_UPTIME)
SNMP_TRAP_OID: Final = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ENTERPRISE: Final = "1.3.6.1.6.3.1.1.4.3.0"
SNMP_TRAP_ADDRESS: Final = "1.3.6.1.6.3.18.1.3.0"
# A v1 trap translated to v2 form carries the community it came with: a secret, never kept.
SNMP_TRAP_COMMUNITY: Final = "1.3.6.1.6.3.18.1.4.0"
SNMP_TRAPS: Final = "1.3.6.1.6.3.1.1.5"

IF_INDEX: Final = oids.dotted(oids.IF_INDEX)
IF_DESCR: Final = oids.dotted(oids.IF_DESCR)
IF_ADMIN_STATUS: Final = oids.dotted(oids.IF_ADMIN_STATUS)
IF_OPER_STATUS: Final = oids.dotted(oids.IF_OPER_STATUS)
IF_NAME: Final = oids.dotted(oids.IF_NAME)

KINDS: Final = ("link_down", "link_up", "cold_start", "warm_start", "authentication_failure", "other")
# snmpTraps.N (RFC 3418), which a v1 generic-trap N-1 becomes (RFC 3584 3.1).
_STANDARD: Final = {
    "1": "cold_start",
    "2": "warm_start",
    "3": "link_down",
    "4": "link_up",
    "5": "authentication_failure",
}

MAX_VARBINDS: Final = 32  # kept in TrapEvent.varbinds
MAX_SCANNED: Final = 256  # looked at for the trap OID and the interface; the rest is ignored
MAX_VALUE_BYTES: Final = 256  # per value (and per OID) text, UTF-8
MAX_TRAP_OID_CHARS: Final = 256
MAX_IF_INDEX: Final = 2_147_483_647  # InterfaceIndex (IF-MIB)

_OID = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,10}){1,127}")
_SUB_ID = re.compile(r"[0-9]{1,10}")
# Characters that must not reach logs, labels or terminals: C0/C1 controls, format characters
# (bidirectional overrides, zero-width), line and paragraph separators, lone surrogates, private-use
# and unassigned code points.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


@dataclass(frozen=True)
class TrapEvent:
    """One accepted notification. ``varbinds`` keeps at most ``MAX_VARBINDS`` (oid, text) pairs in
    the order received, each text cut to ``MAX_VALUE_BYTES`` with control characters removed."""

    sender: str
    version: str
    kind: str
    trap_oid: str
    if_index: int | None
    if_name: str | None
    inform: bool
    received_unix: float
    varbinds: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TrapRejection:
    """A notification that cannot become a ``TrapEvent``; ``reason`` names why (``no_trap_oid``)."""

    reason: str


def classify(trap_oid: str) -> str:
    """The kind of a notification from its snmpTrapOID.0 value (``other`` for anything not standard)."""
    if trap_oid.startswith(SNMP_TRAPS + "."):
        rest = trap_oid[len(SNMP_TRAPS) + 1 :]
        # "snmpTraps.0.N": a v1 trap with enterprise snmpTraps and specific-trap N, translated.
        rest = rest.removeprefix("0.")
        return _STANDARD.get(rest, "other")
    return "other"


def clean_text(text: str, max_bytes: int = MAX_VALUE_BYTES) -> str:
    """``text`` without control or format characters, cut to ``max_bytes`` of UTF-8 (whole characters)."""
    window = text[: max_bytes * 4]  # a huge string costs no more than a long one
    safe = "".join(ch for ch in window if unicodedata.category(ch) not in _UNSAFE_CATEGORIES)
    encoded = safe.encode("utf-8")
    if len(encoded) <= max_bytes:
        return safe
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def value_text(value: VarbindValue) -> str:
    """A varbind value as bounded, printable text. An OCTET STRING is read as UTF-8 text unless it is
    not UTF-8 or more than one character in eight is a control character (MAC addresses, binary
    blobs): those become ``0x`` hex, like net-snmp's Hex-STRING."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return clean_text(_octets_text(value))
    if isinstance(value, int):
        return str(value)
    return clean_text(value)


def _octets_text(octets: bytes) -> str:
    # A window of the value is looked at, so a huge one costs nothing (control characters removed
    # later leave it enough to fill MAX_VALUE_BYTES); a character split by the window is not an error.
    head = octets[: MAX_VALUE_BYTES * 4]
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        text = decoder.decode(head, final=len(head) == len(octets)).rstrip("\x00")  # NUL-padded strings
    except UnicodeDecodeError:
        text = None
    if text is not None:
        controls = sum(1 for ch in text if ch not in "\t\r\n" and unicodedata.category(ch) == "Cc")
        if controls * 8 <= len(text):
            return text
    return "0x" + head[: (MAX_VALUE_BYTES - 2) // 2].hex()


def _suffix_index(oid: str, column: str) -> int | None:
    """N when ``oid`` is ``column.N`` (one sub-identifier, a valid InterfaceIndex)."""
    if not oid.startswith(column + "."):
        return None
    suffix = oid[len(column) + 1 :]
    if _SUB_ID.fullmatch(suffix) is None:
        return None
    return _if_index(int(suffix))


def _if_index(number: int) -> int | None:
    return number if 1 <= number <= MAX_IF_INDEX else None


def _interface(scanned: list[tuple[str, VarbindValue]]) -> tuple[int | None, str | None]:
    """ifIndex (from the ifIndex varbind's value or index, else the index of ifAdminStatus, ifOperStatus,
    ifDescr or ifName) and the interface's ifName (else ifDescr) with that index."""
    if_index: int | None = None
    for oid, value in scanned:
        if oid.startswith(IF_INDEX + "."):
            from_value = _if_index(value) if isinstance(value, int) and not isinstance(value, bool) else None
            if_index = from_value or _suffix_index(oid, IF_INDEX)
            if if_index is not None:
                break
    if if_index is None:
        for oid, _value in scanned:
            for column in (IF_ADMIN_STATUS, IF_OPER_STATUS, IF_DESCR, IF_NAME):
                if_index = _suffix_index(oid, column)
                if if_index is not None:
                    break
            if if_index is not None:
                break
    if if_index is None:
        return None, None
    names: dict[str, str] = {}
    for column in (IF_NAME, IF_DESCR):
        wanted = f"{column}.{if_index}"
        for oid, value in scanned:
            if oid == wanted and isinstance(value, bytes | str):
                raw = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
                name = clean_text(raw.rstrip("\x00")).strip()
                if name:
                    names[column] = name
                    break
    return if_index, names.get(IF_NAME) or names.get(IF_DESCR)


def to_event(
    varbinds: Iterable[tuple[str, VarbindValue]],
    *,
    sender: str,
    version: str,
    inform: bool,
    received_unix: float,
) -> TrapEvent | TrapRejection:
    """A notification's varbinds (v2 form; v1 traps translated as RFC 3584 does) as a ``TrapEvent``,
    or a ``TrapRejection`` when it has no valid snmpTrapOID.0. Never raises on hostile varbinds."""
    scanned: list[tuple[str, VarbindValue]] = []
    for index, (oid, value) in enumerate(varbinds):
        if index >= MAX_SCANNED:
            break
        scanned.append((oid, value))
    trap_oid: str | None = None
    for oid, value in scanned:
        if oid == SNMP_TRAP_OID:
            if (
                isinstance(value, str)
                and len(value) <= MAX_TRAP_OID_CHARS
                and _OID.fullmatch(value) is not None
            ):
                trap_oid = value
            break
    if trap_oid is None:
        return TrapRejection("no_trap_oid")
    if_index, if_name = _interface(scanned)
    kept = tuple(
        (clean_text(oid), value_text(value))
        for oid, value in [pair for pair in scanned if pair[0] != SNMP_TRAP_COMMUNITY][:MAX_VARBINDS]
    )
    return TrapEvent(
        sender=sender,
        version=version,
        kind=classify(trap_oid),
        trap_oid=trap_oid,
        if_index=if_index,
        if_name=if_name,
        inform=inform,
        received_unix=received_unix,
        varbinds=kept,
    )
