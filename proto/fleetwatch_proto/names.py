"""Enum names both ways, derived from the proto's enum descriptors: no hand-written maps.

``PROBE_ERROR_DNS_ERROR`` is ``"dns_error"``: the value's name without the enum's prefix,
in lower case. The zero value (``*_UNSPECIFIED``, ``PROBE_ERROR_NONE``) has the name "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf.descriptor import EnumDescriptor

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def _prefix(enum_name: str) -> str:
    """``ProbeError`` -> ``PROBE_ERROR_``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper() + "_"


@dataclass(frozen=True)
class EnumNames:
    """The short names of one proto enum, in both directions."""

    by_number: dict[int, str]
    by_name: dict[str, int]

    @classmethod
    def of(cls, descriptor: EnumDescriptor) -> EnumNames:
        prefix = _prefix(descriptor.name)
        by_number = {}
        for value in descriptor.values:
            if not value.name.startswith(prefix):
                raise ValueError(f"{descriptor.name}.{value.name} does not start with {prefix}")
            by_number[value.number] = "" if value.number == 0 else value.name.removeprefix(prefix).lower()
        return cls(by_number, {name: number for number, name in by_number.items() if name})

    def name(self, number: int, unknown: str = "unknown") -> str:
        """The short name of ``number``; ``unknown`` for the zero value and numbers not known here."""
        return self.by_number.get(number) or unknown

    def number(self, name: str) -> int:
        """The number of a short name; 0 (the enum's zero value) for a name not known here."""
        return self.by_name.get(name, 0)

    def names(self) -> tuple[str, ...]:
        """Every short name but the zero value's, in declaration order."""
        return tuple(self.by_name)


SITE_TYPE = EnumNames.of(pb.SiteType.DESCRIPTOR)
ANTIVIRUS_STATE = EnumNames.of(pb.AntivirusState.DESCRIPTOR)
PROBE_KIND = EnumNames.of(pb.ProbeKind.DESCRIPTOR)
PROBE_ERROR = EnumNames.of(pb.ProbeError.DESCRIPTOR)
SNMP_ERROR = EnumNames.of(pb.SnmpError.DESCRIPTOR)
