"""Values of SNMP answers as plain Python (no pysnmp types), and device text shaped for the contract."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fleetwatch_proto.limits import CONTROL_CHARACTERS, MAX_TEXT_BYTES
from fleetwatch_snmp.errors import PollError
from fleetwatch_snmp.oids import Oid


class Missing(enum.Enum):
    """The SNMPv2 exception values: no value at this OID."""

    NO_SUCH_OBJECT = "noSuchObject"
    NO_SUCH_INSTANCE = "noSuchInstance"
    END_OF_MIB_VIEW = "endOfMibView"


# INTEGER, Counter32/64, Gauge32, TimeTicks -> int; OCTET STRING, IpAddress, Opaque -> bytes;
# OBJECT IDENTIFIER -> dotted str.
Value = int | bytes | str | Missing
Varbind = tuple[Oid, Value]


@dataclass(frozen=True, slots=True)
class Answer:
    """A response (or its absence): why there is none, the error status and index, the variables."""

    error: PollError | None
    status: int
    index: int
    varbinds: list[Varbind]


def text(raw: bytes | str) -> str:
    """Device text for a message: UTF-8 (bad bytes replaced), no control characters or surrounding blanks.

    At most MAX_TEXT_BYTES (256) bytes, cut at a character boundary.
    """
    decoded = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    encoded = CONTROL_CHARACTERS.sub("", decoded).strip().encode("utf-8", errors="replace")
    if len(encoded) <= MAX_TEXT_BYTES:
        return encoded.decode("utf-8")
    # Cut at a character boundary: a partial last character is dropped.
    return encoded[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")
