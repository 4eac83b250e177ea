"""The Windows product records: Defender, Security Center registrations judged, services; one per product."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from fleetwatch_agent.probes.antivirus.model import STATE_ORDER, ProductStatus, classify
from fleetwatch_agent.probes.antivirus.windows_defender import DefenderStatus, defender_status
from fleetwatch_agent.probes.antivirus.windows_parse import (
    DEFENDER_NAME,
    DEFENDER_VENDOR,
    SecurityCenterProduct,
    security_center_status,
)
from fleetwatch_agent.probes.antivirus.windows_registrations import PathCheck, Verdict, judge
from fleetwatch_agent.probes.antivirus.windows_services import Service, service_products, vendor_of
from fleetwatch_agent.probes.antivirus.windows_text import name_key
from fleetwatch_proto.limits import MAX_PRODUCTS


@dataclass(frozen=True)
class Readings:
    """What one collection read (None: that part could not be read)."""

    registered: tuple[SecurityCenterProduct, ...]
    defender: DefenderStatus | None
    defender_error: str  # why Get-MpComputerStatus gave nothing, "" when it did or Defender is absent
    services: tuple[Service, ...] | None


def products(
    readings: Readings, *, path_exists: PathCheck, now: float, outdated_after_seconds: float
) -> tuple[ProductStatus, ...]:
    """Every product record, one per product, those present first, at most MAX_PRODUCTS."""
    registered = readings.registered
    verdicts = judge(
        registered,
        services=readings.services,
        path_exists=path_exists,
        defender_read=readings.defender is not None,
    )
    defender_index = _defender_entry(registered, verdicts)
    records: list[ProductStatus] = []
    defender = _defender(
        readings,
        registered[defender_index] if defender_index is not None else None,
        now,
        outdated_after_seconds,
    )
    if defender is not None:
        records.append(defender)
    for i, (product, verdict) in enumerate(zip(registered, verdicts, strict=True)):
        if product.is_defender and (i == defender_index or not verdict.stale):
            continue  # Defender is the merged record; a second live Defender registration adds nothing
        records.append(_registration(product, verdict, now, outdated_after_seconds))
    known_vendors = {r.vendor for r in records if r.state != "stale" and r.vendor}
    if readings.services is not None:
        records += service_products(
            readings.services,
            skip_vendors=known_vendors,
            path_exists=path_exists,
            now=now,
            outdated_after_seconds=outdated_after_seconds,
        )
    return tuple(one_per_product(records)[:MAX_PRODUCTS])


def _defender_entry(registered: Sequence[SecurityCenterProduct], verdicts: Sequence[Verdict]) -> int | None:
    """The Defender registration to merge with Get-MpComputerStatus: the newest one not stale."""
    candidates = [i for i, p in enumerate(registered) if p.is_defender and not verdicts[i].stale]
    if not candidates:
        return None
    return max(candidates, key=lambda i: (registered[i].timestamp_unix or 0, -i))


def _defender(
    readings: Readings, entry: SecurityCenterProduct | None, now: float, outdated_after_seconds: float
) -> ProductStatus | None:
    if readings.defender is not None:
        return defender_status(
            readings.defender, entry, now=now, outdated_after_seconds=outdated_after_seconds
        )
    if entry is not None:
        # Security Center knows Defender but Get-MpComputerStatus failed (Defender off while a
        # third-party product is active does that): Security Center's view, with the error.
        view = security_center_status(entry, now=now, outdated_after_seconds=outdated_after_seconds)
        detail = f"{view.detail}; {readings.defender_error}" if readings.defender_error else view.detail
        return replace(view, name=DEFENDER_NAME, detail=detail)
    if readings.defender_error:
        return ProductStatus(
            name=DEFENDER_NAME, vendor=DEFENDER_VENDOR, state="unknown", detail=readings.defender_error
        )
    return None


def _registration(
    product: SecurityCenterProduct, verdict: Verdict, now: float, outdated_after_seconds: float
) -> ProductStatus:
    """A registration's record: Security Center's view, stale or with its services stopped."""
    view = security_center_status(product, now=now, outdated_after_seconds=outdated_after_seconds)
    view = replace(view, vendor=view.vendor or vendor_of(product.name))
    notes = [view.detail, *verdict.notes]
    if verdict.stale:
        notes.insert(0, f"stale registration: {verdict.stale}")
        return replace(
            view, state="stale", realtime_protection=False, on_access_scanning=False, detail="; ".join(notes)
        )
    if verdict.services_stopped and view.realtime_protection:
        notes.append("real-time protection off: its services do not run")
        state = classify(
            realtime_protection=False,
            signature_updated_unix=0,
            now_unix=now,
            outdated_after_seconds=outdated_after_seconds,
            expired=product.state.scanner == "expired",
        )
        return replace(
            view, state=state, realtime_protection=False, on_access_scanning=False, detail="; ".join(notes)
        )
    return replace(view, detail="; ".join(notes))


def one_per_product(records: Sequence[ProductStatus]) -> list[ProductStatus]:
    """One record per normalised name (present over stale, worst state on a tie), those present first."""
    groups: dict[str, list[ProductStatus]] = {}
    for record in records:
        groups.setdefault(name_key(record.name), []).append(record)
    kept = []
    for group in groups.values():
        live = [r for r in group if r.state != "stale"] or group
        chosen = max(live, key=lambda r: STATE_ORDER.index(r.state))  # first of the worst: max is stable
        if len(group) > 1:
            others = len(group) - 1
            chosen = replace(chosen, detail=f"{chosen.detail}; {others} more record(s) of this name left out")
        kept.append(chosen)
    return [r for r in kept if r.state != "stale"] + [r for r in kept if r.state == "stale"]
