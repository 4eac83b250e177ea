"""Numeric OIDs the poller reads: SNMPv2-MIB's system group and the IF-MIB columns it uses."""

from __future__ import annotations

from typing import Final

Oid = tuple[int, ...]

# SNMPv2-MIB system group, read with one GET (scalars: instance .0).
SYSTEM: Final[Oid] = (1, 3, 6, 1, 2, 1, 1)
SYS_DESCR: Final[Oid] = (*SYSTEM, 1, 0)
SYS_OBJECT_ID: Final[Oid] = (*SYSTEM, 2, 0)
SYS_UPTIME: Final[Oid] = (*SYSTEM, 3, 0)
SYS_NAME: Final[Oid] = (*SYSTEM, 5, 0)
# IF-MIB ifNumber: how many interfaces the ifTable has (sizes the GETBULK requests of the walk).
IF_NUMBER: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 1, 0)
# Read with one GET before the walk.
SCALARS: Final[tuple[Oid, ...]] = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, IF_NUMBER)

# IF-MIB ifTable entry and ifXTable entry: a column is the entry + column number, a cell the column
# + ifIndex.
IF_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

IF_INDEX: Final[Oid] = (*IF_ENTRY, 1)
IF_DESCR: Final[Oid] = (*IF_ENTRY, 2)
IF_TYPE: Final[Oid] = (*IF_ENTRY, 3)
IF_SPEED: Final[Oid] = (*IF_ENTRY, 5)
IF_ADMIN_STATUS: Final[Oid] = (*IF_ENTRY, 7)
IF_OPER_STATUS: Final[Oid] = (*IF_ENTRY, 8)
IF_IN_OCTETS: Final[Oid] = (*IF_ENTRY, 10)
IF_IN_UCAST_PKTS: Final[Oid] = (*IF_ENTRY, 11)
IF_IN_DISCARDS: Final[Oid] = (*IF_ENTRY, 13)
IF_IN_ERRORS: Final[Oid] = (*IF_ENTRY, 14)
IF_OUT_OCTETS: Final[Oid] = (*IF_ENTRY, 16)
IF_OUT_UCAST_PKTS: Final[Oid] = (*IF_ENTRY, 17)
IF_OUT_DISCARDS: Final[Oid] = (*IF_ENTRY, 19)
IF_OUT_ERRORS: Final[Oid] = (*IF_ENTRY, 20)

IF_NAME: Final[Oid] = (*IFX_ENTRY, 1)
IF_HC_IN_OCTETS: Final[Oid] = (*IFX_ENTRY, 6)
IF_HC_IN_UCAST_PKTS: Final[Oid] = (*IFX_ENTRY, 7)
IF_HC_OUT_OCTETS: Final[Oid] = (*IFX_ENTRY, 10)
IF_HC_OUT_UCAST_PKTS: Final[Oid] = (*IFX_ENTRY, 11)
IF_HIGH_SPEED: Final[Oid] = (*IFX_ENTRY, 15)
IF_ALIAS: Final[Oid] = (*IFX_ENTRY, 18)

# Walked column by column, all columns side by side in each request (one GETBULK carries every
# column still walking; see poller.py for the measurements behind this choice). ifIndex itself is
# not walked: every other column carries it as its instance.
INTERFACE_COLUMNS: Final[tuple[Oid, ...]] = (
    IF_DESCR,
    IF_TYPE,
    IF_SPEED,
    IF_ADMIN_STATUS,
    IF_OPER_STATUS,
    IF_IN_OCTETS,
    IF_IN_UCAST_PKTS,
    IF_IN_DISCARDS,
    IF_IN_ERRORS,
    IF_OUT_OCTETS,
    IF_OUT_UCAST_PKTS,
    IF_OUT_DISCARDS,
    IF_OUT_ERRORS,
    IF_NAME,
    IF_HC_IN_OCTETS,
    IF_HC_IN_UCAST_PKTS,
    IF_HC_OUT_OCTETS,
    IF_HC_OUT_UCAST_PKTS,
    IF_HIGH_SPEED,
    IF_ALIAS,
)


def dotted(oid: Oid) -> str:
    """``(1, 3, 6)`` -> ``"1.3.6"``."""
    return ".".join(map(str, oid))
