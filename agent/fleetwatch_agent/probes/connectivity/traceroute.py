"""Path diagnosis: a short ICMP traceroute in a separate process (scapy), and how often to run one."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fleetwatch_agent.probes.connectivity.icmp import resolve_ipv4
from fleetwatch_agent.probes.connectivity.model import PathResult

MODULE = "fleetwatch_agent.probes.connectivity.traceroute"
# Allowance for starting Python and importing scapy's layers (about 0.5 s here) in the child.
STARTUP_SECONDS = 2.0
MIN_PER_HOP_SECONDS = 0.05
MAX_PER_HOP_SECONDS = 1.0
# The child stops after this many consecutive hops without an answer: past a dead link every
# further hop is silent too, and each would cost a whole per-hop timeout.
MAX_SILENT_HOPS = 3
# Routers answer about one ICMP error per second to a host (Linux net.ipv4.icmp_ratelimit).
ICMP_ERROR_INTERVAL_SECONDS = 1.05
# Each child holds Python and scapy's layers (about 40 MB): when an uplink dies every target
# fails at once, and they share the path anyway.
MAX_CONCURRENT = 2
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)

# PathResult.error is "<code>: <detail for people>"; the codes are these.
ERROR_CODES = ("invalid_argument", "dns_error", "unsupported", "not_permitted", "timeout", "busy", "failed")


class PathLimiter:
    """Allows one traceroute per target per ``min_interval_seconds`` (``clock`` is monotonic seconds).

    A dead link makes the same targets fail every cycle on every PC behind it; one path per
    target per interval is enough to say where it breaks. Thread-safe.
    """

    def __init__(self, min_interval_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._min_interval = min_interval_seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

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
    budget = (timeout - STARTUP_SECONDS) / max(1, max_hops)
    return max(MIN_PER_HOP_SECONDS, min(MAX_PER_HOP_SECONDS, budget))


def parse_output(returncode: int, stdout: str, stderr: str) -> PathResult:
    """The PathResult of the child's output: its last stdout line is one JSON object."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        if isinstance(data.get("error"), str) and data["error"]:
            return PathResult(error=data["error"])
        hops, last_hop, reached = data.get("hops"), data.get("last_hop"), data.get("reached")
        if (
            returncode == 0
            and isinstance(hops, int)
            and not isinstance(hops, bool)
            and hops >= 0
            and isinstance(last_hop, str)
            and isinstance(reached, bool)
        ):
            return PathResult(hops, last_hop, reached)
    errors = [line for line in stderr.splitlines() if line.strip()]
    said = (errors[-1] if errors else (lines[-1] if lines else "no output"))[:200]
    if returncode != 0:
        return PathResult(error=f"failed: exit status {returncode}: {said}")
    return PathResult(error=f"failed: unexpected output: {said}")


def run_traceroute(address: str, max_hops: int = 15, timeout: float = 10.0) -> PathResult:
    """Trace the path to ``address`` (IPv4) in a child process, within ``timeout`` seconds.

    The child (``python -m`` this module) imports scapy, so the steady agent never does; it
    needs root or CAP_NET_RAW. Failures never raise: they come back as PathResult.error, a
    code from ERROR_CODES, a colon, and a detail.
    """
    try:
        target = resolve_ipv4(address)
    except ValueError as exc:
        return PathResult(error=f"unsupported: {exc}; traceroute is IPv4 only")
    except (socket.gaierror, UnicodeError) as exc:
        return PathResult(error=f"dns_error: {address}: {exc}")
    started = time.monotonic()
    if not _slots.acquire(timeout=timeout):
        return PathResult(error=f"busy: {MAX_CONCURRENT} traceroutes already running")
    try:
        remaining = max(0.0, timeout - (time.monotonic() - started))
        hop_timeout = per_hop_timeout(max_hops, remaining)
        command = [sys.executable, "-m", MODULE, target]
        command += ["--max-hops", str(max_hops), "--per-hop-timeout", f"{hop_timeout:g}"]
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                timeout=remaining,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return PathResult(error=f"timeout: no result within {timeout:g} s")
        except OSError as exc:
            return PathResult(error=f"failed: cannot start {sys.executable}: {exc}")
    finally:
        _slots.release()
    return parse_output(completed.returncode, completed.stdout, completed.stderr)


# ---- the child process ---------------------------------------------------------------------------


def _trace(address: str, max_hops: int, hop_timeout: float) -> dict[str, object]:
    """Send echo requests with TTL 1..max_hops; stop at the destination or where the path ends."""
    from scapy.config import conf
    from scapy.layers.inet import ICMP, IP
    from scapy.sendrecv import sr1

    scapy_conf: Any = conf
    scapy_conf.verb = 0
    ip_layer: Any = IP
    icmp_layer: Any = ICMP
    send_one: Any = sr1
    identifier = int.from_bytes(os.urandom(2), "big")
    hops, last_hop, reached, silent = 0, "", False, 0
    for ttl in range(1, max_hops + 1):
        probe = ip_layer(dst=address, ttl=ttl) / icmp_layer(id=identifier, seq=ttl)
        answer = send_one(probe, timeout=hop_timeout, verbose=0)
        if answer is None:
            # Routers send about one ICMP error per second to a host, and the failing check
            # before this traceroute has usually spent it: ask a silent hop once more after that.
            time.sleep(ICMP_ERROR_INTERVAL_SECONDS)
            answer = send_one(probe, timeout=hop_timeout, verbose=0)
        if answer is None or icmp_layer not in answer:
            silent += 1
            if silent >= MAX_SILENT_HOPS:
                break
            continue
        silent = 0
        hops, last_hop = ttl, str(answer[ip_layer].src)
        kind = int(answer[icmp_layer].type)
        if kind == 0:  # echo reply: the destination
            reached = True
            break
        if kind == 3:  # destination unreachable: the path ends at this hop
            reached = last_hop == address
            break
        # 11, time exceeded: a router on the way
    return {"hops": hops, "last_hop": last_hop, "reached": reached}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child: print one JSON line, a path or {"error": "<code>: <detail>"}."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("address", help="IPv4 address (not a name)")
    parser.add_argument("--max-hops", type=int, default=15)
    parser.add_argument("--per-hop-timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    status = 0
    try:
        address = str(ipaddress.IPv4Address(args.address))
        if not 1 <= args.max_hops <= 255 or args.per_hop_timeout <= 0:
            raise ValueError("--max-hops must be 1..255 and --per-hop-timeout positive")
    except ValueError as exc:
        result: dict[str, object] = {"error": f"invalid_argument: {exc}"}
        status = 2
    else:
        try:
            result = _trace(address, args.max_hops, args.per_hop_timeout)
        except ImportError as exc:
            result = {"error": f"unsupported: scapy is not installed ({exc}); pip install 'scapy>=2.5'"}
            status = 3
        except PermissionError as exc:
            result = {"error": f"not_permitted: traceroute needs root or CAP_NET_RAW ({exc})"}
            status = 4
        except Exception as exc:  # the parent maps every failure to a PathResult
            result = {"error": f"failed: {type(exc).__name__}: {exc}"[:300]}
            status = 5
    print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
