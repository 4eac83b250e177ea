"""The routers simulated sites have: models as they answer SNMP, and how their ports are used."""

from __future__ import annotations

import random
from dataclasses import dataclass

MBPS = 1_000_000
ETHERNET = 6  # IANAifType ethernetCsmacd
# Ports of an office LAN, described on the router as their users name them.
LAN_ALIASES = ("LAN van phong", "LAN mot cua", "WiFi", "Camera", "LAN lanh dao", "May chu")
CARRIERS = ("VNPT", "Viettel")


@dataclass(frozen=True)
class Model:
    """A router model: what its system group says, its port names (ifName) in ifIndex order."""

    vendor: str
    sys_descr: str
    sys_object_id: str
    ports: tuple[str, ...]
    upper_sys_name: bool = False  # Cisco's hostname convention
    unused_admin_down: bool = False  # unused ports left `shutdown`, as Cisco installers do
    wan_only: int = 0  # the first ports are WAN ports only (unused when the site has fewer lines)


CISCO_ISR4331 = Model(
    "Cisco",
    "Cisco IOS Software [Fuji], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 16.9.4, "
    "RELEASE SOFTWARE (fc2)",
    "1.3.6.1.4.1.9.1.1861",
    ("Gi0/0/0", "Gi0/0/1", "Gi0/0/2", "Gi0/1/0", "Gi0/1/1", "Gi0/1/2", "Gi0/1/3"),
    upper_sys_name=True,
    unused_admin_down=True,
)
MIKROTIK_RB4011 = Model(
    "MikroTik",
    "RouterOS RB4011iGS+",
    "1.3.6.1.4.1.14988.1",
    tuple(f"ether{n}" for n in range(1, 9)),
)
MIKROTIK_HEX = Model(
    "MikroTik",
    "RouterOS RB750Gr3",
    "1.3.6.1.4.1.14988.1",
    tuple(f"ether{n}" for n in range(1, 6)),
)
DRAYTEK_VIGOR2926 = Model(
    "DrayTek",
    "DrayTek Corporation, Router Model: Vigor2926 Series, Version: 4.4.3.1",
    "1.3.6.1.4.1.7367",
    ("WAN1", "WAN2", "LAN1", "LAN2", "LAN3", "LAN4"),
    wan_only=2,
)
# Which models each kind of site buys, and the speed of its WAN lines in Mb/s (the lines' speed is
# configured on the ports, so ifHighSpeed is the line's, as the WAN alerts need).
MODELS = {
    "department": ((CISCO_ISR4331, MIKROTIK_RB4011), (300, 500)),
    "district": ((CISCO_ISR4331, MIKROTIK_RB4011), (200, 300)),
    "commune": ((DRAYTEK_VIGOR2926, MIKROTIK_HEX), (50, 100)),
}
LAN_SPEED = 1000 * MBPS


@dataclass(frozen=True)
class PortPlan:
    """How one port of a simulated router is used."""

    index: int  # ifIndex
    name: str
    alias: str
    role: str  # "wan1", "wan2", "lan1", "lan2", ... or "unused"
    speed_bits_per_second: int
    admin_up: bool = True


def roles(model: Model, wans: int) -> list[str]:
    """The role of each port in ifIndex order: WAN lines first, then LANs in use, the last one or
    two ports unused; on a model with WAN-only ports, those the site has no line for are unused."""
    unused = 1 if len(model.ports) <= 6 else 2
    if model.wan_only:
        head = [f"wan{n}" if n <= wans else "unused" for n in range(1, model.wan_only + 1)]
        unused = max(0, unused - head.count("unused"))
    else:
        head = [f"wan{n}" for n in range(1, wans + 1)]
    lans = len(model.ports) - len(head) - unused
    return head + [f"lan{n}" for n in range(1, lans + 1)] + ["unused"] * unused


def plan_ports(model: Model, site_type: str, rng: random.Random) -> tuple[PortPlan, ...]:
    """The router's ports: WAN lines first (a backup line at departments, district offices and some
    communes), then the LANs in use, and a port or two left unused (no description, no link)."""
    _, wan_speeds = MODELS.get(site_type, MODELS["commune"])
    wans = 2 if site_type != "commune" or rng.random() < 0.3 else 1
    carriers = CARRIERS if rng.random() < 0.7 else CARRIERS[::-1]
    port_roles = roles(model, wans)
    lan_aliases = rng.sample(LAN_ALIASES, sum(1 for r in port_roles if r.startswith("lan")))
    plans = []
    for index, (name, role) in enumerate(zip(model.ports, port_roles, strict=True), start=1):
        if role == "wan1":
            speed = rng.choice(wan_speeds) * MBPS
            plans.append(PortPlan(index, name, f"WAN {carriers[0]}", role, speed))
        elif role == "wan2":
            plans.append(PortPlan(index, name, f"WAN {carriers[1]} (du phong)", role, 100 * MBPS))
        elif role.startswith("lan"):
            plans.append(PortPlan(index, name, lan_aliases[int(role[3:]) - 1], role, LAN_SPEED))
        else:
            plans.append(PortPlan(index, name, "", role, LAN_SPEED, admin_up=not model.unused_admin_down))
    return tuple(plans)


def pick_model(site_type: str, rng: random.Random) -> Model:
    models, _ = MODELS.get(site_type, MODELS["commune"])
    return rng.choice(models)
