"""Simulated site routers, as the snmp probe of the one agent polling them reports them.

Each router keeps the counters of its ports (64-bit, growing with the traffic since the last
poll: WAN lines at 10-60% of their speed with a daily wave of office hours, LANs lightly used),
its uptime and its link states. The scenario's router effects take it down (no answer), take a
port's link down, flap it at every poll, fill the WAN line, or darken the WAN lines with the
site. Link changes are found as the agent finds them (its probe's linkstate), so a LinkChange is
sent exactly when a port's state differs from the previous answered poll.

Simulated routers have no address: nothing polls them, and no trap of theirs is to be matched.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from fleetwatch_agent.probes.snmp import linkstate
from fleetwatch_agent.probes.snmp.model import SnmpResult
from fleetwatch_proto.limits import DEVICE_NAME_RE
from fleetwatch_proto.sites import Site
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim.routermodels import ETHERNET, Model, PortPlan, pick_model, plan_ports
from fleetwatch_sim.scenario import RouterEffects

DAY = 86400.0
LOCAL_OFFSET_SECONDS = 7 * 3600  # Vietnam time (UTC+7): the traffic follows its office hours
QUIETEST_HOUR = 3.0
# What a poll of a device that never answers costs the agent: its probe's default deadline.
DEADLINE_SECONDS = 10.0
TIMEOUT_TEXT = "no answer (a wrong community or privacy key looks the same)"
SATURATED = (0.97, 0.99)  # share of the WAN line used while it is saturated
# Counters, in the order SimulatedPort.counters keeps them.
COUNTERS = (
    "in_octets", "out_octets", "in_unicast_packets", "out_unicast_packets",
    "in_errors", "out_errors", "in_discards", "out_discards",
)  # fmt: skip


def day_wave(now: float) -> float:
    """0 at the quietest hour of the night, 1 twelve hours later (mid-afternoon), local time."""
    hours = ((now + LOCAL_OFFSET_SECONDS) % DAY) / 3600.0
    return 0.5 - 0.5 * math.cos(2 * math.pi * (hours - QUIETEST_HOUR) / 24.0)


def device_name(slug: str) -> str:
    """``rt-<site>``, within the contract's device names (DEVICE_NAME_RE: 63 characters at most)."""
    name = f"rt-{slug}"[:63].rstrip("-")
    if not DEVICE_NAME_RE.fullmatch(name):
        raise ValueError(f"{slug!r} makes no device name")
    return name


@dataclass
class SimulatedPort:
    """One port: its plan, its traffic profile (utilization of its speed, inbound) and its counters."""

    plan: PortPlan
    low: float  # utilization at the quietest hour
    peak: float  # utilization mid-afternoon
    out_share: float  # outbound traffic as a share of inbound
    in_packet_bytes: int
    out_packet_bytes: int
    up: bool = True
    counters: list[int] = field(default_factory=lambda: [0] * len(COUNTERS))

    @classmethod
    def create(cls, plan: PortPlan, rng: random.Random, uptime: float) -> SimulatedPort:
        wan = plan.role.startswith("wan")
        if wan:
            low, peak, out_share = rng.uniform(0.10, 0.15), rng.uniform(0.40, 0.58), rng.uniform(0.25, 0.5)
        else:
            low, peak, out_share = rng.uniform(0.002, 0.01), rng.uniform(0.02, 0.08), rng.uniform(1.5, 3.0)
        port = cls(plan, low, peak, out_share, rng.randint(700, 1200), rng.randint(250, 600))
        port.up = port.in_use
        if port.in_use:  # what the port counted since the router started, roughly
            port.advance(uptime, (low + peak) / 2, rng)
            port.counters[4:] = [rng.randint(0, 40), 0, rng.randint(0, 200), rng.randint(0, 2000)]
        return port

    @property
    def in_use(self) -> bool:
        return self.plan.role != "unused" and self.plan.admin_up

    def utilization(self, wave: float, rng: random.Random) -> float:
        """Share of the port's speed used inbound now: the daily wave with some noise; a WAN line stays
        within 10-60%."""
        value = (self.low + (self.peak - self.low) * wave) * rng.uniform(0.95, 1.05)
        return min(0.60, max(0.10, value)) if self.plan.role.startswith("wan") else value

    def advance(self, dt: float, utilization: float, rng: random.Random, loss: float = 0.0) -> None:
        """Count ``dt`` seconds of traffic at ``utilization``; ``loss`` of the inbound packets errored or
        discarded (a noisy line); otherwise the odd error and a few discards now and then."""
        if dt <= 0:
            return
        in_octets = int(utilization * self.plan.speed_bits_per_second / 8 * dt)
        out_octets = int(in_octets * self.out_share)
        in_packets, out_packets = in_octets // self.in_packet_bytes, out_octets // self.out_packet_bytes
        in_errors = int(in_packets * loss / 2) + (1 if rng.random() < 0.02 else 0)
        in_discards = int(in_packets * loss / 2)
        out_discards = rng.randint(1, 4) if rng.random() < 0.1 else 0
        for i, step in enumerate((in_octets, out_octets, in_packets, out_packets, in_errors, 0, in_discards)):
            self.counters[i] += step
        self.counters[7] += out_discards

    def interface(self) -> pb.DeviceInterface:
        plan = self.plan
        nic = pb.DeviceInterface(
            index=plan.index, name=plan.name, alias=plan.alias, admin_up=plan.admin_up, oper_up=self.up,
            speed_bits_per_second=plan.speed_bits_per_second, type=ETHERNET, counter_bits=64,
            oper_status=1 if self.up else 2,
        )  # fmt: skip
        for name, value in zip(COUNTERS, self.counters, strict=True):
            setattr(nic, name, value)
        return nic


@dataclass
class SimulatedRouter:
    """One router; ``poll(now, effects)`` advances it to ``now`` and answers as SNMP would."""

    name: str
    address: str
    model: Model
    ports: list[SimulatedPort]
    boot_unix: float
    polled_at: float
    rng: random.Random

    @classmethod
    def create(
        cls, name: str, address: str, site_type: str, rng: random.Random, now: float
    ) -> SimulatedRouter:
        model = pick_model(site_type, rng)
        uptime = rng.uniform(3.0, 300.0) * DAY
        ports = [SimulatedPort.create(plan, rng, uptime) for plan in plan_ports(model, site_type, rng)]
        return cls(name, address, model, ports, now - uptime, now, rng)

    def _oper_up(self, port: SimulatedPort, effects: RouterEffects) -> bool:
        role = port.plan.role
        if not port.in_use or role in effects.links_down:
            return False
        if effects.wan_dark and role.startswith("wan"):
            return False
        if role in effects.flapping:
            return not port.up  # a flip at every poll
        return True

    def poll(self, now: float, effects: RouterEffects) -> pb.NetworkDevice:
        """The router's state at ``now``: its ports count the traffic since the previous poll (also
        while it does not answer), then it answers, or not."""
        dt, self.polled_at = max(0.0, now - self.polled_at), now
        wave = day_wave(now)
        for port in self.ports:
            port.up = self._oper_up(port, effects)
            if not port.up:
                continue
            wan = port.plan.role.startswith("wan")
            utilization = port.utilization(wave, self.rng)
            if effects.wan_saturated and port.plan.role == "wan1":
                utilization = self.rng.uniform(*SATURATED)
            port.advance(dt, utilization, self.rng, effects.wan_loss if wan else 0.0)
        if effects.down:
            return pb.NetworkDevice(
                name=self.name, address=self.address, reachable=False, error=TIMEOUT_TEXT,
                error_class=pb.SNMP_ERROR_TIMEOUT, poll_duration_seconds=DEADLINE_SECONDS,
            )  # fmt: skip
        device = pb.NetworkDevice(
            name=self.name,
            sys_name=self.name.upper() if self.model.upper_sys_name else self.name,
            sys_descr=self.model.sys_descr,
            sys_object_id=self.model.sys_object_id,
            reachable=True,
            uptime_seconds=round(now - self.boot_unix, 2),
            poll_duration_seconds=round(self.rng.uniform(0.05, 0.4), 3),
            address=self.address,
        )
        device.interfaces.extend(port.interface() for port in self.ports)
        return device


@dataclass
class SiteRouters:
    """The routers one agent of a site polls, and the link states of its previous report (the cursors
    its snmp probe keeps)."""

    routers: tuple[SimulatedRouter, ...]
    cursors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_site(cls, site: Site, seed: int, now: float) -> SiteRouters:
        """The site's routers as its inventory lists them, else one, ``rt-<site>``; the same seed makes
        the same routers."""
        listed = [(r.name, r.address) for r in site.routers] or [(device_name(site.slug), "")]
        return cls(
            tuple(
                SimulatedRouter.create(name, address, site.site_type, random.Random(f"{seed}:{name}"), now)
                for name, address in listed
            )
        )

    def collect(self, now: float, effects: RouterEffects) -> SnmpResult:
        """One cycle of the snmp probe: every router polled, link changes against the previous report."""
        ended_ms = int(now * 1000)
        polled = [(router.poll(now, effects), ended_ms) for router in self.routers]
        changes, updates = linkstate.track(self.cursors, polled, [r.name for r in self.routers])
        self.cursors.update(updates)
        return SnmpResult(tuple(device for device, _ in polled), tuple(changes), 0, updates)
