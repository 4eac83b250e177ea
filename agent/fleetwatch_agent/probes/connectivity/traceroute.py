"""Path diagnosis: short ICMP traceroutes in a separate process (scapy), and how often to run them."""
# One child traces every failing target of a cycle at once, a round per TTL, and stops at its own deadline
# with what it has: when an uplink dies every target fails together, and one process (about 40 MB with scapy's
# layers) is enough for all of them.

from __future__ import annotations

import argparse
import atexit
import contextlib
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
# Each child holds Python and scapy's layers (about 40 MB).
MAX_CONCURRENT = 2
MAX_ADDRESSES = 64
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)

# PathResult.error is "<code>: <detail for people>"; the codes are these.
ERROR_CODES = ("invalid_argument", "dns_error", "unsupported", "not_permitted", "timeout", "busy", "failed")


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
    budget = (timeout - STARTUP_SECONDS) / max(1, max_hops)
    return max(MIN_PER_HOP_SECONDS, min(MAX_PER_HOP_SECONDS, budget))


def _path_of(data: object) -> PathResult | None:
    if not isinstance(data, dict):
        return None
    hops, last_hop, reached = data.get("hops"), data.get("last_hop"), data.get("reached")
    if not (
        isinstance(hops, int)
        and not isinstance(hops, bool)
        and hops >= 0
        and isinstance(last_hop, str)
        and isinstance(reached, bool)
    ):
        return None
    cut = "timeout: cut at the path budget" if data.get("cut") is True else ""
    return PathResult(hops, last_hop, reached, cut)


def parse_output(
    returncode: int, stdout: str, stderr: str, addresses: Sequence[str]
) -> dict[str, PathResult]:
    """The PathResult of each address from the child's output: its last stdout line is one JSON object."""
    # {"paths": {address: {"hops", "last_hop", "reached", "cut"}}} or {"error": "<code>: <detail>"}; anything
    # else is a "failed" error for every address.
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        if isinstance(data.get("error"), str) and data["error"]:
            return dict.fromkeys(addresses, PathResult(error=data["error"]))
        paths = data.get("paths")
        if returncode == 0 and isinstance(paths, dict):
            parsed = {a: _path_of(paths.get(a)) for a in addresses}
            if all(p is not None for p in parsed.values()):
                return {a: p for a, p in parsed.items() if p is not None}
    errors = [line for line in stderr.splitlines() if line.strip()]
    said = (errors[-1] if errors else (lines[-1] if lines else "no output"))[:200]
    if returncode != 0:
        return dict.fromkeys(addresses, PathResult(error=f"failed: exit status {returncode}: {said}"))
    return dict.fromkeys(addresses, PathResult(error=f"failed: unexpected output: {said}"))


def run_traceroutes(
    addresses: Sequence[str], max_hops: int = 15, timeout: float = 10.0
) -> dict[str, PathResult]:
    """Trace the paths to ``addresses`` (IPv4 literals) in one child process, within ``timeout`` seconds."""
    # The child (``python -m`` this module) imports scapy, so the steady agent never does; it needs root or
    # CAP_NET_RAW. Failures never raise: they come back as PathResult.error, a code from ERROR_CODES, a colon,
    # and a detail. A path the child had no time to finish keeps the hops it found, with error "timeout: cut
    # at the path budget".
    results: dict[str, PathResult] = {}
    targets: list[str] = []
    for address in dict.fromkeys(addresses):
        try:
            targets.append(str(ipaddress.IPv4Address(address)))
        except ValueError:
            why = "traceroute is IPv4 only" if ":" in address else "not an IPv4 address"
            results[address] = PathResult(error=f"unsupported: {address}: {why}")
    if not targets:
        return results
    targets = targets[:MAX_ADDRESSES]
    started = time.monotonic()
    if not _slots.acquire(timeout=timeout):
        busy = PathResult(error=f"busy: {MAX_CONCURRENT} traceroutes already running")
        return results | dict.fromkeys(targets, busy)
    try:
        remaining = max(0.0, timeout - (time.monotonic() - started))
        hop_timeout = per_hop_timeout(max_hops, remaining)
        command = [sys.executable, "-m", MODULE, *targets]
        command += ["--max-hops", str(max_hops), "--per-hop-timeout", f"{hop_timeout:g}"]
        command += ["--deadline", f"{max(hop_timeout, remaining - STARTUP_SECONDS):g}"]
        try:
            returncode, stdout, stderr = _run_child(command, remaining)
        except subprocess.TimeoutExpired:
            return results | dict.fromkeys(
                targets, PathResult(error=f"timeout: no result within {timeout:g} s")
            )
        except OSError as exc:
            failed = PathResult(error=f"failed: cannot start {sys.executable}: {exc}")
            return results | dict.fromkeys(targets, failed)
    finally:
        _slots.release()
    return results | parse_output(returncode, stdout, stderr, targets)


_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.Lock()


def _run_child(command: list[str], timeout: float) -> tuple[int, str, str]:
    """Run the child within ``timeout`` (killed after it: TimeoutExpired); killed too if the agent exits."""
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    with _children_lock:
        _children.add(child)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise
    finally:
        with _children_lock:
            _children.discard(child)
    return child.returncode, stdout, stderr


@atexit.register
def _kill_children() -> None:
    """The agent is exiting: a diagnosis in a daemon thread must not leave its child behind."""
    with _children_lock:
        for child in _children:
            with contextlib.suppress(OSError):
                child.kill()


def run_traceroute(address: str, max_hops: int = 15, timeout: float = 10.0) -> PathResult:
    """Trace the path to one ``address`` (an IPv4 literal, or a name looked up first); see run_traceroutes."""
    try:
        target = str(ipaddress.ip_address(address))
    except ValueError:
        try:
            target = str(socket.getaddrinfo(address, None, socket.AF_INET, socket.SOCK_RAW)[0][4][0])
        except (OSError, UnicodeError) as exc:
            return PathResult(error=f"dns_error: {address}: {exc}")
    return run_traceroutes([target], max_hops, timeout)[target]


# ---- the child process ---------------------------------------------------------------------------


class _Tracer:
    """The child's rounds: echo requests with one TTL to every target still traced, answers by target."""

    def __init__(self, hop_timeout: float) -> None:
        from scapy.config import conf
        from scapy.layers.inet import ICMP, IP
        from scapy.sendrecv import sr

        scapy_conf: Any = conf
        scapy_conf.verb = 0
        self.ip: Any = IP
        self.icmp: Any = ICMP
        self.send: Any = sr
        self.hop_timeout = hop_timeout
        self.identifier = int.from_bytes(os.urandom(2), "big")

    def round(self, targets: Sequence[str], ttl: int) -> dict[str, tuple[int, str]]:
        """{target: (ICMP type, sender)} of the targets whose probe with this TTL was answered."""
        probes = [self.ip(dst=t, ttl=ttl) / self.icmp(id=self.identifier, seq=ttl) for t in targets]
        answered, _ = self.send(probes, timeout=self.hop_timeout, verbose=0)
        found: dict[str, tuple[int, str]] = {}
        for sent, received in answered:
            if self.icmp in received:
                found[str(sent[self.ip].dst)] = (int(received[self.icmp].type), str(received[self.ip].src))
        return found


def _trace(addresses: Sequence[str], max_hops: int, hop_timeout: float, seconds: float) -> dict[str, object]:
    """Echo requests with TTL 1..max_hops to every target, each until its destination or its path's end."""
    # A target silent after an answered hop is asked again after a second (routers answer about one
    # ICMP error per second to a host), as long as asking again brings answers; all ends after
    # ``seconds``.
    until = time.monotonic() + seconds
    tracer = _Tracer(hop_timeout)
    paths: dict[str, dict[str, object]] = {
        a: {"hops": 0, "last_hop": "", "reached": False} for a in addresses
    }
    silent = dict.fromkeys(addresses, 0)
    active = list(addresses)
    out_of_time = False
    for ttl in range(1, max_hops + 1):
        if not active:
            break
        if time.monotonic() + hop_timeout > until:
            out_of_time = True
            break
        answers = tracer.round(active, ttl)
        # Ask again only where the hop before answered: past a silent hop, silence is the path's.
        missing = [a for a in active if a not in answers and silent[a] == 0]
        progress = True
        while missing and progress and time.monotonic() + ICMP_ERROR_INTERVAL_SECONDS + hop_timeout <= until:
            time.sleep(ICMP_ERROR_INTERVAL_SECONDS)
            more = tracer.round(missing, ttl)
            answers.update(more)
            progress = bool(more)
            missing = [a for a in missing if a not in more]
        for address in list(active):
            if address not in answers:
                silent[address] += 1
                if silent[address] >= MAX_SILENT_HOPS:
                    active.remove(address)
                continue
            silent[address] = 0
            kind, source = answers[address]
            paths[address].update(hops=ttl, last_hop=source)
            if kind == 0:  # echo reply: the destination
                paths[address]["reached"] = True
                active.remove(address)
            elif kind == 3:  # destination unreachable: the path ends at this hop
                paths[address]["reached"] = source == address
                active.remove(address)
            # 11, time exceeded: a router on the way
    for address in active if out_of_time else ():
        paths[address]["cut"] = True
    return {"paths": paths}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child: print one JSON line, the paths or {"error": "<code>: <detail>"}."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("addresses", nargs="+", help="IPv4 addresses (not names)")
    parser.add_argument("--max-hops", type=int, default=15)
    parser.add_argument("--per-hop-timeout", type=float, default=1.0)
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds for everything")
    args = parser.parse_args(argv)
    status = 0
    try:
        addresses = [str(ipaddress.IPv4Address(a)) for a in args.addresses]
        if not 1 <= args.max_hops <= 255 or args.per_hop_timeout <= 0 or args.deadline <= 0:
            raise ValueError("--max-hops must be 1..255, --per-hop-timeout and --deadline positive")
    except ValueError as exc:
        result: dict[str, object] = {"error": f"invalid_argument: {exc}"}
        status = 2
    else:
        try:
            result = _trace(addresses, args.max_hops, args.per_hop_timeout, args.deadline)
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
