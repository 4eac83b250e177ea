"""Path diagnosis without privileges: short traceroutes of several targets at once, and how often."""
# The probes are the platform's unprivileged ones (traceroute_linux.py: ICMP or UDP datagram sockets with
# IP_RECVERR; traceroute_windows.py: IcmpSendEcho2), the rounds the same everywhere (traceroute_hops.py). It
# runs in the calling thread (pathdiag.py gives it a background one): no child process, no packet library,
# neither root nor CAP_NET_RAW, so it works under the hardened systemd unit too.
#
# Run by hand: python -m fleetwatch_agent.probes.connectivity.traceroute ADDRESS... (one JSON line).

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute_hops import (
    ICMP_ERROR_INTERVAL_SECONDS,
    Hop,
    Prober,
    walk,
)

__all__ = ["ICMP_ERROR_INTERVAL_SECONDS", "PathLimiter", "run_traceroute", "run_traceroutes"]

MIN_PER_HOP_SECONDS = 0.05
MAX_PER_HOP_SECONDS = 1.0
MAX_ADDRESSES = 64
PROTOCOLS = ("auto", "icmp", "udp")

# PathResult.error is "<code>: <detail for people>"; the codes are these.
ERROR_CODES = ("invalid_argument", "dns_error", "unsupported", "not_permitted", "timeout", "busy", "failed")

# (addresses, protocol) -> (the platform's prober, {address: error} for those it cannot probe).
Opener = Callable[[Sequence[str], str], tuple[Prober, dict[str, str]]]


class PathLimiter:
    """Allows one traceroute per target per ``min_interval_seconds`` (``clock`` is monotonic seconds)."""

    # A dead link makes the same targets fail every cycle on every PC behind it; one path per target per
    # interval is enough to say where it breaks. Thread-safe.

    def __init__(self, min_interval_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._min_interval = min_interval_seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, target_name: str) -> bool:
        """Whether ``allow`` would say yes now (nothing is recorded)."""
        with self._lock:
            last = self._last.get(target_name)
            return last is None or self._clock() - last >= self._min_interval

    def allow(self, target_name: str) -> bool:
        """True (and the target's interval starts now) when its last traceroute is old enough."""
        with self._lock:
            now = self._clock()
            last = self._last.get(target_name)
            if last is not None and now - last < self._min_interval:
                return False
            self._last[target_name] = now
            return True


def per_hop_timeout(max_hops: int, timeout: float) -> float:
    """Seconds to wait for each hop so that ``max_hops`` silent hops fit in ``timeout``, clamped."""
    return max(MIN_PER_HOP_SECONDS, min(MAX_PER_HOP_SECONDS, timeout / max(1, max_hops)))


def platform_opener(addresses: Sequence[str], protocol: str) -> tuple[Prober, dict[str, str]]:
    """The probes of this platform; every address gets an "unsupported" error where there are none."""
    if sys.platform.startswith("linux"):
        from fleetwatch_agent.probes.connectivity import traceroute_linux

        chosen: traceroute_linux.Protocol = next(
            (p for p in traceroute_linux.PROTOCOLS if p == protocol), "auto"
        )
        return traceroute_linux.open_prober(addresses, chosen)
    if sys.platform == "win32":
        from fleetwatch_agent.probes.connectivity import traceroute_windows

        return traceroute_windows.open_prober(addresses)
    return _NoProber(), dict.fromkeys(addresses, f"unsupported: no unprivileged traceroute on {sys.platform}")


class _NoProber:
    def round(self, targets: Sequence[str], ttl: int, timeout: float) -> dict[str, Hop]:
        return {}

    def close(self) -> None:
        return None


def _literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def run_traceroutes(
    addresses: Sequence[str],
    max_hops: int = 15,
    timeout: float = 10.0,
    *,
    protocol: str = "auto",
    opener: Opener = platform_opener,
) -> dict[str, PathResult]:
    """Trace the paths to ``addresses`` (IPv4 and IPv6 literals) all at once, within ``timeout`` seconds."""
    # ``protocol``: "auto" (Linux: ICMP echo where net.ipv4.ping_group_range allows it, else UDP), "icmp" or
    # "udp" (Windows always sends ICMP echo). Failures never raise: they come back as PathResult.error, a code
    # from ERROR_CODES, a colon, and a detail. A path the deadline interrupts keeps the hops it found, with
    # error "timeout: cut at the path budget".
    started = time.monotonic()
    results: dict[str, PathResult] = {}
    targets: list[str] = []
    for address in dict.fromkeys(addresses):
        if not _literal(address):
            results[address] = PathResult(error=f"invalid_argument: {address}: not an IP address")
        elif len(targets) >= MAX_ADDRESSES:
            results[address] = PathResult(error=f"busy: more than {MAX_ADDRESSES} addresses at once")
        else:
            targets.append(address)
    if not 1 <= max_hops <= 255 or timeout <= 0 or protocol not in PROTOCOLS:
        why = f"invalid_argument: max_hops must be 1..255, timeout positive, protocol one of {PROTOCOLS}"
        return results | dict.fromkeys(targets, PathResult(error=why))
    if not targets:
        return results
    prober, errors = opener(targets, protocol)
    try:
        results |= {address: PathResult(error=error) for address, error in errors.items()}
        traced = [address for address in targets if address not in errors]
        hop_timeout = per_hop_timeout(max_hops, timeout)
        try:
            results |= walk(prober, traced, max_hops, hop_timeout, started + timeout)
        except OSError as exc:  # a socket or handle failing mid-way: a failed diagnosis, not a crashed thread
            results |= dict.fromkeys(traced, PathResult(error=f"failed: {exc.strerror or exc}"))
    finally:
        prober.close()
    return results


def resolve(address: str) -> str | PathResult:
    """The literal itself, or the first address of a name (IPv4 or IPv6), or a "dns_error" PathResult."""
    if _literal(address):
        return address
    try:
        return str(socket.getaddrinfo(address, None, socket.AF_UNSPEC, socket.SOCK_DGRAM)[0][4][0])
    except (OSError, UnicodeError) as exc:
        return PathResult(error=f"dns_error: {address}: {exc}")


def run_traceroute(address: str, max_hops: int = 15, timeout: float = 10.0) -> PathResult:
    """Trace the path to one ``address`` (an IP literal, or a name looked up first); see run_traceroutes."""
    target = resolve(address)
    if isinstance(target, PathResult):
        return target
    return run_traceroutes([target], max_hops, timeout)[target]


def main(argv: Sequence[str] | None = None) -> int:
    """Trace the given addresses or names; print {address: PathResult as an object} as one JSON line."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
    parser.add_argument("addresses", nargs="+", help="IP addresses or names")
    parser.add_argument("--max-hops", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for everything")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="auto")
    args = parser.parse_args(argv)
    found = {address: resolve(address) for address in args.addresses}
    literals = [target for target in found.values() if isinstance(target, str)]
    paths = run_traceroutes(literals, args.max_hops, args.timeout, protocol=args.protocol)
    results = {
        address: target if isinstance(target, PathResult) else paths[target]
        for address, target in found.items()
    }
    print(json.dumps({address: dataclasses.asdict(path) for address, path in results.items()}), flush=True)
    return 0 if all(not path.error for path in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
