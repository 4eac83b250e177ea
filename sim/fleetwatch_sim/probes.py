"""Antivirus and connectivity results of a simulated host, shaped by the scenario's effects on it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fleetwatch_agent.probes.antivirus.model import AntivirusResult, Detection, ProductStatus, State
from fleetwatch_agent.probes.connectivity.model import CheckResult, ConnectivityResult, Outage, TargetStatus
from fleetwatch_sim.scenario import Effects, Incident

DAY = 86400.0
# Signatures of a fleet whose central server stopped updating look this old at once, so the
# demo shows in minutes what takes days in the field.
STALE_SIGNATURE_AGE = 4 * DAY
# Healthy connectivity targets of every simulated workstation: name, kind, role, base RTT.
TARGETS = (
    ("gateway", "icmp", "gateway", 0.0008),
    ("dns-1", "dns", "dns", 0.004),
    ("collector", "tcp", "collector", 0.012),
    ("cong-thong-tin", "http", "custom", 0.035),
)


@dataclass
class HostIncidents:
    """What one simulated host remembers across cycles: threats reported, a dark WAN's start."""

    threats_reported: set[Incident] = field(default_factory=set)
    dark_since_ms: int = 0


def antivirus(
    windows: bool, effects: Effects, memory: HostIncidents, now: float, started: float, rng: random.Random
) -> AntivirusResult:
    """One product per host, centrally managed; state and signature time from the effects."""
    name, vendor = ("Kaspersky Endpoint Security", "Kaspersky") if windows else ("ClamAV", "Cisco Talos")
    signature_time = now - rng.uniform(600, 6 * 3600)
    state: State = "protected"
    if effects.signatures_stale_since is not None:
        signature_time = started + effects.signatures_stale_since - STALE_SIGNATURE_AGE
        state = "outdated"
    if effects.antivirus_state:
        state = effects.antivirus_state  # type: ignore[assignment]
    if effects.antivirus_state == "outdated":
        signature_time = min(signature_time, now - STALE_SIGNATURE_AGE)
    products: tuple[ProductStatus, ...] = ()
    if state != "not_installed":
        products = (
            ProductStatus(
                name=name,
                vendor=vendor,
                product_version="12.5" if windows else "1.0.7",
                signature_version="simulated",
                signature_updated_unix=int(signature_time),
                realtime_protection=state != "disabled",
                last_quick_scan_unix=int(now - 3600),
                state=state,
                centrally_managed=True,
                on_access_scanning=state != "disabled",
            ),
        )
    detections = []
    for incident in effects.threats_started:
        if incident not in memory.threats_reported:
            memory.threats_reported.add(incident)
            detections.append(
                Detection(int(now * 1000), name, "EICAR-Test-File", "C:\\Users\\Public\\a.exe", "quarantined")
            )
    return AntivirusResult(products, state, tuple(detections))


def connectivity(
    effects: Effects, memory: HostIncidents, now: float, rng: random.Random
) -> ConnectivityResult:
    """Every target up with plausible RTTs; slower and lossy on a degraded WAN; the outage of a dark
    WAN reported once it ended, as a real agent measures it at the edge."""
    now_ms = int(now * 1000)
    outages: tuple[Outage, ...] = ()
    if effects.silent:
        memory.dark_since_ms = memory.dark_since_ms or now_ms
    elif memory.dark_since_ms:
        outages = (Outage("collector", memory.dark_since_ms, now_ms),)
        memory.dark_since_ms = 0
    targets = []
    for name, kind, role, base in TARGETS:
        sent = 3
        wan = role != "gateway"  # the LAN gateway is not behind the WAN
        loss = effects.loss if wan else 0.0
        received = sum(1 for _ in range(sent) if rng.random() >= loss)
        rtt = base + (effects.latency_ms / 1000.0 if wan else 0.0)
        if (effects.silent and wan) or received == 0:
            result = CheckResult(False, sent, 0, error="timeout", detail="no answer")
        else:
            rtts = [rtt * rng.uniform(0.9, 1.3) for _ in range(received)]
            jitter = abs(rtts[-1] - rtts[0]) / max(1, received - 1)
            result = CheckResult(
                True, sent, received, min(rtts), sum(rtts) / received, max(rtts), jitter,
                http_status=200 if kind == "http" else 0,
            )  # fmt: skip
        targets.append(TargetStatus(name, kind, role, result))  # type: ignore[arg-type]
    return ConnectivityResult(tuple(targets), outages)
