"""The normalized antivirus record, the same for every product, and the rules that give its state.

States, in the order the host roll-up prefers them:
  protected      real-time protection on, signatures younger than ``outdated_after``
  outdated       real-time protection on, signatures older than ``outdated_after`` (or flagged
                 out of date by the product itself)
  expired        the product says its licence or subscription expired
  disabled       installed, real-time protection off
  unknown        installed, but its state cannot be read (error, unknown bits)
  not_installed  no product found
The host's state is the best state of any product; ``fleetwatch_antivirus_protected`` is 1
only for ``protected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The short names of the contract's AntivirusState (fleetwatch_proto.names), spelled out for the
# type checker; tests/agent/test_registry.py keeps them equal to the descriptor.
State = Literal["protected", "outdated", "expired", "disabled", "unknown", "not_installed"]
# Best first: the host roll-up takes the first state any product has.
STATE_ORDER: tuple[State, ...] = ("protected", "outdated", "expired", "disabled", "unknown", "not_installed")


@dataclass(frozen=True)
class ProductStatus:
    name: str
    vendor: str = ""
    product_version: str = ""
    engine_version: str = ""
    signature_version: str = ""
    signature_updated_unix: int = 0  # 0: unknown
    realtime_protection: bool = False
    last_quick_scan_unix: int = 0  # 0: never or unknown
    last_full_scan_unix: int = 0
    state: State = "unknown"
    centrally_managed: bool = False
    on_access_scanning: bool = False
    detail: str = ""  # why the state is what it is, for `fleetwatch-agent check`


@dataclass(frozen=True)
class Detection:
    time_unix_ms: int
    product: str
    threat: str
    path: str
    action: str


@dataclass(frozen=True)
class AntivirusResult:
    products: tuple[ProductStatus, ...]
    host_state: State
    detections: tuple[Detection, ...] = ()
    error: str = ""
    # New cursor values (see probes/context.py), committed with the report that carries them.
    cursors: dict[str, str] = field(default_factory=dict)


def classify(
    *,
    realtime_protection: bool | None,
    signature_updated_unix: int,
    now_unix: float,
    outdated_after_seconds: float,
    flagged_outdated: bool = False,
    expired: bool = False,
) -> State:
    """The state of one installed product from what could be read of it (None: unreadable)."""
    if expired:
        return "expired"
    if realtime_protection is None:
        return "unknown"
    if not realtime_protection:
        return "disabled"
    too_old = signature_updated_unix > 0 and now_unix - signature_updated_unix > outdated_after_seconds
    if flagged_outdated or too_old:
        return "outdated"
    if signature_updated_unix <= 0:
        return "unknown"  # on, but the age of its signatures is unknown: never "protected" by accident
    return "protected"


def host_state(products: tuple[ProductStatus, ...]) -> State:
    """The best state of any product; not_installed when there is none."""
    if not products:
        return "not_installed"
    return min((p.state for p in products), key=STATE_ORDER.index)
