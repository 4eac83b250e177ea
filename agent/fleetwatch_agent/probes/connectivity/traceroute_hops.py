"""The traceroute's hop logic, the same on every platform: rounds by TTL, silent hops, the deadline."""
# A platform supplies one operation, a round: send one probe with a given TTL to each of some targets, and say
# within a timeout what answered each (a Hop). Everything else is decided here, without I/O: which targets are
# still traced, when a silent hop is asked again, when a path ends, and what each path's PathResult is.

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fleetwatch_agent.probes.connectivity.model import PathResult

# The trace of a target stops after this many consecutive hops without an answer: past a dead link every
# further hop is silent too, and each would cost a whole per-hop timeout.
MAX_SILENT_HOPS = 3
# Routers answer about one ICMP error per second to a host (Linux net.ipv4.icmp_ratelimit).
ICMP_ERROR_INTERVAL_SECONDS = 1.05
CUT_ERROR = "timeout: cut at the path budget"

# transit: a router on the way (time exceeded); reached: the destination answered (echo reply, port
# unreachable); unreachable: a router says the path ends at it (destination unreachable, parameter problem);
# local: this host could not send the probe (no route: no hop, no error; anything else: ``Hop.error``).
Outcome = Literal["transit", "reached", "unreachable", "local"]


@dataclass(frozen=True)
class Hop:
    """What answered one probe."""

    outcome: Outcome
    source: str = ""  # the answering address ("" when the answer has none)
    detail: str = ""  # what it said, for people ("time exceeded", "ICMP 3/0 network unreachable", ...)
    error: str = ""  # for "local": PathResult.error ("<code>: <detail>"), "" for a diagnosis (no route)


class Prober(Protocol):
    """A platform's probes: one round of one TTL to some targets; ``close`` releases sockets or handles."""

    def round(self, targets: Sequence[str], ttl: int, timeout: float) -> dict[str, Hop]:
        """{target: what answered} for the targets whose probe with this TTL was answered in ``timeout``."""
        ...

    def close(self) -> None: ...


@dataclass
class _Path:
    hops: int = 0
    last_hop: str = ""
    reached: bool = False
    error: str = ""
    silent: int = 0  # consecutive hops without an answer
    done: bool = False
    seen: dict[str, int] = field(default_factory=dict)  # the first hop each router answered at

    def result(self, cut: bool) -> PathResult:
        error = self.error or (CUT_ERROR if cut and not self.done else "")
        return PathResult(self.hops, self.last_hop, self.reached, error)


def _record(path: _Path, target: str, ttl: int, hop: Hop | None) -> None:
    """One TTL's answer (or silence) for one target."""
    if hop is None:
        path.silent += 1
        path.done = path.silent >= MAX_SILENT_HOPS
        return
    path.silent = 0
    if hop.outcome == "local":
        path.error, path.done = hop.error, True
        return
    path.hops, path.last_hop = ttl, hop.source
    if hop.outcome == "transit":
        path.seen.setdefault(hop.source, ttl)
    elif hop.outcome == "reached":
        path.reached, path.done = True, True
    else:  # unreachable: the path ends at the router that said so; from the target itself, it is reached
        # A router that gave up resolving the next hop's link address answers for probes of later TTLs too
        # (they waited in the same queue): it is still the hop where it first answered.
        path.hops = path.seen.get(hop.source, ttl)
        path.reached, path.done = _same_address(hop.source, target), True


def _same_address(source: str, target: str) -> bool:
    """Whether two address texts name the same address (any spelling; a target's IPv6 zone is ignored)."""
    try:
        return ipaddress.ip_address(source) == ipaddress.ip_address(target.split("%", 1)[0])
    except ValueError:
        return source == target


def walk(
    prober: Prober,
    targets: Sequence[str],
    max_hops: int,
    hop_timeout: float,
    until: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, PathResult]:
    """Probe TTL 1..max_hops to each target until its destination, its path's end or ``until`` (``clock``)."""
    # One round per TTL carries every target still traced. A target silent right after an answered hop is
    # asked again after ICMP_ERROR_INTERVAL_SECONDS (routers answer about one ICMP error per second to a host,
    # and all targets behind one router share that), as long as asking again brings answers. A path that
    # ``until`` interrupts keeps its hops, with the error CUT_ERROR.
    paths = {target: _Path() for target in dict.fromkeys(targets)}
    out_of_time = False
    for ttl in range(1, max_hops + 1):
        active = [t for t, p in paths.items() if not p.done]
        if not active:
            break
        if clock() + hop_timeout > until:
            out_of_time = True
            break
        answers = prober.round(active, ttl, hop_timeout)
        # Ask again only where the hop before answered: past a silent hop, silence is the path's.
        missing = [t for t in active if t not in answers and paths[t].silent == 0]
        progress = True
        while missing and progress and clock() + ICMP_ERROR_INTERVAL_SECONDS + hop_timeout <= until:
            sleep(ICMP_ERROR_INTERVAL_SECONDS)
            more = {t: hop for t, hop in prober.round(missing, ttl, hop_timeout).items() if t in missing}
            answers.update(more)
            progress = bool(more)
            missing = [t for t in missing if t not in more]
        for target in active:
            _record(paths[target], target, ttl, answers.get(target))
    return {target: path.result(out_of_time) for target, path in paths.items()}
