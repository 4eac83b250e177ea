"""Optional LAN discovery: an ARP sweep of the local subnet in a short-lived scapy process.

Off by default. The sweep is bounded (at most a /22, ``rate`` requests per second) and runs
at most once per ``discovery_interval_seconds``. MAC addresses seen before are a cursor
committed with the report that carries the DeviceSeen events of new ones, so a new device is
reported once. Run as ``python -m fleetwatch_agent.probes.connectivity.discovery`` it is the
sweep itself (needs root or CAP_NET_RAW) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

CURSOR = "lan_known_macs"
MAX_HOSTS = 1024  # a /22 at most
MAX_KNOWN = 4096
MAX_NEW_PER_REPORT = 200


@dataclass(frozen=True)
class Sweep:
    devices: tuple[tuple[str, str], ...] = ()  # (mac, ip), sorted by ip
    error: str = ""


def sweep_network(network: str) -> ipaddress.IPv4Network:
    """The network to sweep; ValueError unless it is an IPv4 network of at most MAX_HOSTS hosts."""
    net = ipaddress.IPv4Network(network, strict=False)
    if net.num_addresses > MAX_HOSTS:
        raise ValueError(f"{net} has {net.num_addresses} addresses; at most {MAX_HOSTS} are swept")
    return net


def network_of(gateway: str, interfaces: dict[str, list[tuple[str, str]]]) -> tuple[str, str] | None:
    """(interface, network) of the interface whose IPv4 subnet holds the gateway."""
    target = ipaddress.IPv4Address(gateway)
    for name, addresses in interfaces.items():
        for address, netmask in addresses:
            try:
                net = ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
            except ValueError:
                continue
            if target in net:
                return name, str(net)
    return None


def known_from_cursor(value: str | None) -> list[str]:
    try:
        macs = json.loads(value or "[]")
    except json.JSONDecodeError:
        return []
    return [m for m in macs if isinstance(m, str)] if isinstance(macs, list) else []


def new_devices(known: list[str], sweep: Sweep) -> tuple[list[tuple[str, str]], str]:
    """Devices not seen before (at most MAX_NEW_PER_REPORT) and the cursor that records them.

    The newest MAC addresses are kept when the list is full, so a device seen again after
    years away may be reported again: a bounded list, not an inventory."""
    seen = set(known)
    fresh = [(mac, ip) for mac, ip in sweep.devices if mac not in seen][:MAX_NEW_PER_REPORT]
    merged = known + [mac for mac, _ in fresh]
    return fresh, json.dumps(merged[-MAX_KNOWN:])


def parse_output(text: str) -> Sweep:
    try:
        data = json.loads(text.strip().splitlines()[-1])
        devices = tuple(sorted(((str(m), str(i)) for m, i in data["devices"]), key=lambda d: d[1]))
        return Sweep(devices, str(data.get("error", "")))
    except (ValueError, KeyError, IndexError, TypeError):
        return Sweep(error=f"unreadable sweep output: {text[:100]!r}")


def run_sweep(interface: str, network: str, rate: float, timeout: float) -> Sweep:
    """Sweep in a child process (scapy stays out of the agent); failures become Sweep.error."""
    try:
        net = sweep_network(network)
    except ValueError as exc:
        return Sweep(error=str(exc))
    command = [
        sys.executable, "-m", "fleetwatch_agent.probes.connectivity.discovery",
        "--interface", interface, "--network", str(net), "--rate", str(rate),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Sweep(error=f"sweep timed out after {timeout:g}s")
    except OSError as exc:
        return Sweep(error=f"cannot start the sweep: {exc}")
    if done.returncode != 0:
        return Sweep(error=(done.stderr.strip().splitlines() or ["sweep failed"])[-1][:200])
    return parse_output(done.stdout)


def _sweep(interface: str, network: str, rate: float) -> dict[str, Any]:
    """The child: ARP who-has for every host address, answers collected for a second after."""
    from scapy.config import conf
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp

    conf.verb = 0
    hosts = [str(h) for h in ipaddress.IPv4Network(network).hosts()]
    packets = Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=hosts)
    answered, _ = srp(packets, iface=interface, timeout=1.0, inter=1.0 / rate, verbose=0)
    devices = {received.hwsrc.lower(): received.psrc for _, received in answered}
    return {"devices": sorted(devices.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ARP sweep of one subnet (fleetwatch LAN discovery)")
    parser.add_argument("--interface", required=True)
    parser.add_argument("--network", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    args = parser.parse_args(argv)
    try:
        result = _sweep(args.interface, str(sweep_network(args.network)), max(1.0, args.rate))
    except ImportError:
        print("scapy is not installed", file=sys.stderr)
        return 2
    except PermissionError:
        print("the sweep needs root or CAP_NET_RAW", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"sweep failed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
