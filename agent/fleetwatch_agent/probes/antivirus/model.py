"""The normalized antivirus record, the same for every product, and the rules that give its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# States (agent/README.md, "Antivirus states"), in the order the host roll-up prefers them:
#   protected      real-time protection on, signatures known, not older than ``outdated_after``
#                  and not dated in the future of the host's clock
#   outdated       real-time protection on, signatures too old, never updated, or flagged out of
#                  date by the product itself
#   expired        the product says its licence or subscription expired
#   disabled       installed, real-time protection off
#   unknown        installed, but its state cannot be read (error, unknown bits, signature date
#                  unknown or in the future of the host's clock)
#   not_installed  no product found
#   stale          a registration left by a product that is no longer present: never protects and
#                  never makes the host's state (the host's state comes from the products present)
# The host's state is the best state of any product present; ``fleetwatch_antivirus_protected`` is
# 1 only for ``protected``.

# The short names of the contract's AntivirusState (fleetwatch_proto.names), spelled out for the
# type checker; tests/agent/test_registry.py keeps them equal to the descriptor.
State = Literal["protected", "outdated", "expired", "disabled", "unknown", "not_installed", "stale"]
# Best first: the host roll-up takes the first state any product present has.
STATE_ORDER: tuple[State, ...] = (
    "protected",
    "outdated",
    "expired",
    "disabled",
    "unknown",
    "not_installed",
    "stale",
)
# Signatures dated up to this far after the host's clock still count (publication vs. clock drift).
FUTURE_TOLERANCE_SECONDS = 3600


@dataclass(frozen=True)
class ProductStatus:
    name: str
    vendor: str = ""
    product_version: str = ""
    engine_version: str = ""
    signature_version: str = ""
    signature_updated_unix: int = 0  # 0: unknown, never updated, or dated in the future (see skew)
    realtime_protection: bool = False
    last_quick_scan_unix: int = 0  # 0: never or unknown
    last_full_scan_unix: int = 0
    state: State = "unknown"
    centrally_managed: bool = False
    on_access_scanning: bool = False
    detail: str = ""  # why the state is what it is, for `fleetwatch-agent check`
    # > 0: the signatures are dated this many seconds after the host's clock (clock or database wrong).
    signature_clock_skew_seconds: int = 0


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
    # Windows: what the readings came through, "wmi" or "powershell" (chosen once at start), and why
    # when it is not WMI or WMI is unusable; "" elsewhere. Shown by `check`, not sent.
    source: str = ""
    source_note: str = ""


# The sources of AntivirusResult.source, for people.
SOURCES: dict[str, str] = {
    "wmi": "WMI, in-process",
    "powershell": "PowerShell, one process per collection",
}


def clock_skew(signature_updated_unix: int, now_unix: float) -> int:
    """Seconds the signatures are dated after the host's clock, 0 within the tolerance."""
    ahead = signature_updated_unix - now_unix
    return int(ahead) if signature_updated_unix > 0 and ahead > FUTURE_TOLERANCE_SECONDS else 0


def classify(
    *,
    realtime_protection: bool | None,
    signature_updated_unix: int,
    now_unix: float,
    outdated_after_seconds: float,
    flagged_outdated: bool = False,
    expired: bool = False,
    never_updated: bool = False,
) -> State:
    """The state of one installed product from what could be read of it (None: unreadable)."""
    if expired:
        return "expired"
    if realtime_protection is None:
        return "unknown"
    if not realtime_protection:
        return "disabled"
    if flagged_outdated or never_updated:
        return "outdated"
    if clock_skew(signature_updated_unix, now_unix):
        return "unknown"  # a date the clock has not reached: the clock or the database is wrong
    if signature_updated_unix > 0 and now_unix - signature_updated_unix > outdated_after_seconds:
        return "outdated"
    if signature_updated_unix <= 0:
        return "unknown"  # on, but the age of its signatures is unknown: never "protected" by accident
    return "protected"


def signature_date(signature_updated_unix: int, now_unix: float) -> tuple[int, int]:
    """(the date to report, the clock skew): a date after the host's clock is reported as 0 with its skew."""
    skew = clock_skew(signature_updated_unix, now_unix)
    return (0 if skew else max(signature_updated_unix, 0)), skew


def skew_note(signature_updated_unix: int, skew: int) -> str:
    """The detail text of signatures dated after the host's clock."""
    hours = skew / 3600
    return (
        f"signatures dated {hours:.1f} h after the host's clock (unix {signature_updated_unix}): "
        "the host's clock is behind or the signature database carries a wrong date"
    )


def host_state(products: tuple[ProductStatus, ...]) -> State:
    """The best state of any product present; not_installed when there is none (stale ones do not count)."""
    present = [p.state for p in products if p.state != "stale"]
    if not present:
        return "not_installed"
    return min(present, key=STATE_ORDER.index)
