"""IF-MIB ifTable and ifXTable cells -> interface rows -> `DeviceInterface` messages (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_snmp import oids
from fleetwatch_snmp.oids import Oid
from fleetwatch_snmp.target import InterfaceFilter
from fleetwatch_snmp.values import Missing, Value, text

# Cells of walked columns: column OID -> instance (the ifIndex, one sub-identifier) -> value.
Columns = Mapping[Oid, Mapping[Oid, Value]]

UP = 1
MAX_UINT32 = 2**32 - 1
MAX_PROBLEMS = 5
# The counters of a DeviceInterface: (field, ifTable 32-bit column, ifXTable 64-bit column or None).
COUNTERS: tuple[tuple[str, Oid, Oid | None], ...] = (
    ("in_octets", oids.IF_IN_OCTETS, oids.IF_HC_IN_OCTETS),
    ("out_octets", oids.IF_OUT_OCTETS, oids.IF_HC_OUT_OCTETS),
    ("in_unicast_packets", oids.IF_IN_UCAST_PKTS, oids.IF_HC_IN_UCAST_PKTS),
    ("out_unicast_packets", oids.IF_OUT_UCAST_PKTS, oids.IF_HC_OUT_UCAST_PKTS),
    ("in_errors", oids.IF_IN_ERRORS, None),
    ("out_errors", oids.IF_OUT_ERRORS, None),
    ("in_discards", oids.IF_IN_DISCARDS, None),
    ("out_discards", oids.IF_OUT_DISCARDS, None),
)
# ifTable columns whose instances make the set of interfaces.
ROW_COLUMNS = (oids.IF_DESCR, oids.IF_TYPE, oids.IF_ADMIN_STATUS, oids.IF_OPER_STATUS)


class Malformed(ValueError):
    """A cell of the wrong type or out of range: its row cannot be read."""


@dataclass(frozen=True)
class InterfaceRow:
    """One readable interface, its counters raw (value and width in bits) before the 64-bit extension."""

    index: int
    name: str
    descr: str
    alias: str
    if_type: int
    admin_status: int
    oper_status: int
    speed_bits_per_second: int
    counter_bits: int
    counters: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class InterfaceTable:
    """The readable rows by ifIndex, and the rows skipped as malformed (count and first reasons)."""

    rows: list[InterfaceRow]
    malformed: int = 0
    problems: tuple[str, ...] = ()


def read_interfaces(columns: Columns) -> InterfaceTable:
    """Rows of every interface the ifTable lists; rows with missing status or wrong types are skipped."""
    by_index: dict[int, dict[Oid, Value]] = {}
    for column, cells in columns.items():
        for instance, value in cells.items():
            if len(instance) == 1 and not isinstance(value, Missing):
                by_index.setdefault(instance[0], {})[column] = value
    rows: list[InterfaceRow] = []
    problems: list[str] = []
    malformed = 0
    for index in sorted(by_index):
        cells = by_index[index]
        if not any(column in cells for column in ROW_COLUMNS):
            continue  # only in ifXTable: not an interface of the ifTable
        try:
            rows.append(_row(index, cells))
        except Malformed as exc:
            malformed += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"ifIndex {index}: {exc}")
    return InterfaceTable(rows, malformed, tuple(problems))


def _row(index: int, cells: Mapping[Oid, Value]) -> InterfaceRow:
    if not 0 < index <= MAX_UINT32:
        raise Malformed(f"ifIndex {index} out of range")
    admin = _integer(cells, oids.IF_ADMIN_STATUS, "ifAdminStatus", MAX_UINT32, required=True)
    oper = _integer(cells, oids.IF_OPER_STATUS, "ifOperStatus", MAX_UINT32, required=True)
    if_type = _integer(cells, oids.IF_TYPE, "ifType", MAX_UINT32)
    descr = _string(cells, oids.IF_DESCR, "ifDescr")
    name = _string(cells, oids.IF_NAME, "ifName") or descr or f"ifIndex{index}"
    alias = _string(cells, oids.IF_ALIAS, "ifAlias")
    high_speed = _integer(cells, oids.IF_HIGH_SPEED, "ifHighSpeed", MAX_UINT32)
    speed = high_speed * 10**6 if high_speed > 0 else _integer(cells, oids.IF_SPEED, "ifSpeed", MAX_UINT32)
    wide = _uses_hc_counters(cells)
    counters = {}
    for counter, narrow_column, wide_column in COUNTERS:
        if wide and wide_column is not None and wide_column in cells:
            counters[counter] = (_integer(cells, wide_column, _label(wide_column), 2**64 - 1), 64)
        elif narrow_column in cells:
            counters[counter] = (_integer(cells, narrow_column, _label(narrow_column), MAX_UINT32), 32)
    return InterfaceRow(index, name, descr, alias, if_type, admin, oper, speed, 64 if wide else 32, counters)


def _uses_hc_counters(cells: Mapping[Oid, Value]) -> bool:
    """Whether the row's octets come from ifHC* 64-bit counters.

    Both ifHCInOctets and ifHCOutOctets must be there; a device whose ifHC* octets stay 0 while its
    ifTable octets count (a known firmware fault) gets its 32-bit counters used instead.
    """
    hc_in, hc_out = cells.get(oids.IF_HC_IN_OCTETS), cells.get(oids.IF_HC_OUT_OCTETS)
    if not isinstance(hc_in, int) or not isinstance(hc_out, int):
        return False
    if hc_in == 0 and hc_out == 0:
        narrow = (cells.get(oids.IF_IN_OCTETS), cells.get(oids.IF_OUT_OCTETS))
        return not any(isinstance(value, int) and value > 0 for value in narrow)
    return True


def _integer(cells: Mapping[Oid, Value], column: Oid, label: str, most: int, required: bool = False) -> int:
    value = cells.get(column)
    if value is None:
        if required:
            raise Malformed(f"{label} missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{label} is {type(value).__name__}, not a number")
    if not 0 <= value <= most:
        raise Malformed(f"{label} {value} out of range")
    return value


def _string(cells: Mapping[Oid, Value], column: Oid, label: str) -> str:
    value = cells.get(column)
    if value is None:
        return ""
    if not isinstance(value, bytes):
        raise Malformed(f"{label} is {type(value).__name__}, not a string")
    return text(value)


_LABELS = {
    oids.IF_IN_OCTETS: "ifInOctets",
    oids.IF_OUT_OCTETS: "ifOutOctets",
    oids.IF_IN_UCAST_PKTS: "ifInUcastPkts",
    oids.IF_OUT_UCAST_PKTS: "ifOutUcastPkts",
    oids.IF_IN_ERRORS: "ifInErrors",
    oids.IF_OUT_ERRORS: "ifOutErrors",
    oids.IF_IN_DISCARDS: "ifInDiscards",
    oids.IF_OUT_DISCARDS: "ifOutDiscards",
    oids.IF_HC_IN_OCTETS: "ifHCInOctets",
    oids.IF_HC_OUT_OCTETS: "ifHCOutOctets",
    oids.IF_HC_IN_UCAST_PKTS: "ifHCInUcastPkts",
    oids.IF_HC_OUT_UCAST_PKTS: "ifHCOutUcastPkts",
}


def _label(column: Oid) -> str:
    return _LABELS.get(column, oids.dotted(column))


def select(rows: list[InterfaceRow], interfaces: InterfaceFilter) -> tuple[list[InterfaceRow], int]:
    """The rows the filter keeps (the ``max_interfaces`` lowest ifIndexes); how many the cap left out."""
    kept = [row for row in rows if not interfaces.excludes(row.if_type, (row.name, row.descr))]
    kept.sort(key=lambda row: row.index)
    return kept[: interfaces.max_interfaces], max(0, len(kept) - interfaces.max_interfaces)


def samples(rows: list[InterfaceRow]) -> dict[tuple[int, str], tuple[int, int]]:
    """Every counter of ``rows`` for the 64-bit extension: (ifIndex, field) -> (raw, bits)."""
    return {(row.index, counter): sample for row in rows for counter, sample in row.counters.items()}


def messages(rows: list[InterfaceRow], counts: Mapping[tuple[int, str], int]) -> list[pb.DeviceInterface]:
    """`DeviceInterface` messages of ``rows`` with their extended counts (absent counters are 0)."""
    result = []
    for row in rows:
        message = pb.DeviceInterface(
            index=row.index,
            name=row.name,
            alias=row.alias,
            admin_up=row.admin_status == UP,
            oper_up=row.oper_status == UP,
            oper_status=row.oper_status,
            speed_bits_per_second=row.speed_bits_per_second,
            type=row.if_type,
            counter_bits=row.counter_bits,
        )
        for counter, _narrow, _wide in COUNTERS:
            setattr(message, counter, counts.get((row.index, counter), 0))
        result.append(message)
    return result
