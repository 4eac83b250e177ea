"""The report kinds the collector knows, one module each; KINDS is the only list to extend."""

from __future__ import annotations

from typing import Any

from fleetwatch_collector.kinds import antivirus, connectivity, host, netdev, resources
from fleetwatch_collector.kinds.base import Kind

# In the order their metric families are exposed and documented; `host` first.
KINDS: tuple[Kind[Any], ...] = (host.KIND, resources.KIND, antivirus.KIND, connectivity.KIND, netdev.KIND)

__all__ = ["KINDS", "Kind"]
