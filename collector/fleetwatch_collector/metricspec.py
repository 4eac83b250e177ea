"""What a metric of the catalog is: name, type, help and labels, declared once and rendered from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram", "info"]
Scope = Literal["host", "collector", "runtime"]

# The labels every per-host series carries first, in this order.
HOST_LABELS = ("agent_id", "host", "site", "district", "site_type")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    scope: Scope

    def header(self) -> str:
        """The # HELP and # TYPE lines of this family in the text format."""
        kind = "gauge" if self.type == "info" else self.type
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {kind}\n"


def host_metric(name: str, type_: MetricType, help_: str, *extra: str) -> MetricSpec:
    """A per-host metric: the host labels, then ``extra``."""
    return MetricSpec(name, type_, help_, HOST_LABELS + extra, "host")
