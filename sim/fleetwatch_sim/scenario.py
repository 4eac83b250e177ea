"""Incidents on a timeline, read from a TOML scenario: what each simulated host suffers at a given time.

A scenario is pure data; the fleet asks ``Scenario.effects(site, host_index, elapsed)`` every
cycle and shapes that host's report by the answer (and the report of the site's routers, by
``Effects.router``). Times are offsets from the start of the simulation ("90s", "2m", "1h"); an
incident without ``duration`` lasts until the end.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fleetwatch_proto.tomlconfig import ConfigError

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")
UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
AV_STATES = ("disabled", "outdated", "expired", "not_installed")
# A port of the site's routers: its first WAN line ("wan" or "wan1"), its backup ("wan2"), a LAN port in use.
INTERFACE_RE = re.compile(r"^(wan|lan)([1-9]?)$")
# kind -> keys it accepts besides kind, start, duration
KINDS: dict[str, set[str]] = {
    "site_dark": {"site"},  # the site's WAN is down: none of its agents reaches the collector
    "host_silent": {"site", "hosts"},  # hosts stop reporting (switched off, agent stopped)
    "antivirus": {"site", "hosts", "state"},  # antivirus of hosts turns disabled/outdated/...
    "threat": {"site", "hosts"},  # each host detects one threat when the incident starts
    "signatures_stale": set(),  # the central AV server stops updating: signatures age fleet-wide
    "disk_filling": {"site", "hosts"},  # the system disk fills up to full over the duration
    "wan_degraded": {"site", "latency_ms", "loss"},  # the site's WAN is slow and lossy
    "router_down": {"site"},  # the site's routers stop answering SNMP (timeouts)
    "link_down": {"site", "interface"},  # a port of the site's routers loses its link
    "link_flapping": {"site", "interface"},  # a port goes down and up again at every poll
    "wan_saturated": {"site"},  # the site's first WAN line runs at about 98% of its speed
}
NEEDS_SITE = ("site_dark", "wan_degraded", "router_down", "link_down", "link_flapping", "wan_saturated")
BUILT_IN = "demo.toml"


@dataclass(frozen=True)
class Incident:
    kind: str
    start: float
    end: float  # inf: until the simulation ends
    site: str = ""  # "" = every site
    hosts: int = 0  # first N hosts of the site; 0 = all of them
    state: str = ""
    latency_ms: float = 0.0
    loss: float = 0.0
    interface: str = ""  # router incidents: a port's role, "wan1", "wan2", "lan1", ...

    def active(self, elapsed: float) -> bool:
        return self.start <= elapsed < self.end

    def hits(self, site: str, host_index: int) -> bool:
        return (not self.site or self.site == site) and (not self.hosts or host_index < self.hosts)


@dataclass
class RouterEffects:
    """What the site's routers suffer at one moment; the defaults are healthy routers."""

    down: bool = False  # they do not answer SNMP
    links_down: set[str] = field(default_factory=set)  # roles of the ports without link
    flapping: set[str] = field(default_factory=set)  # roles of the ports flipping at every poll
    wan_saturated: bool = False  # the first WAN line is full
    wan_dark: bool = False  # the site's WAN lines are down (site_dark)
    wan_loss: float = 0.0  # share of the WAN lines' packets lost (wan_degraded)


@dataclass
class Effects:
    """What a host suffers at one moment; the defaults are a healthy host."""

    silent: bool = False  # cannot reach the collector (dark WAN, or switched off)
    switched_off: bool = False  # makes no reports at all
    antivirus_state: str = ""  # "" = protected
    threats_started: list[Incident] = field(default_factory=list)
    signatures_stale_since: float | None = None  # elapsed time since which signatures stopped
    disk_fill: float | None = None  # 0..1 progress of a disk filling up
    latency_ms: float = 0.0
    loss: float = 0.0
    router: RouterEffects = field(default_factory=RouterEffects)  # the site's routers


@dataclass(frozen=True)
class Scenario:
    name: str
    incidents: tuple[Incident, ...]

    def sites(self) -> set[str]:
        return {i.site for i in self.incidents if i.site}

    def effects(self, site: str, host_index: int, elapsed: float) -> Effects:
        effects = Effects()
        for incident in self.incidents:
            if incident.kind == "threat" and incident.hits(site, host_index) and elapsed >= incident.start:
                effects.threats_started.append(incident)  # the fleet reports each once
            if not incident.active(elapsed) or not incident.hits(site, host_index):
                continue
            if incident.kind in ("site_dark", "host_silent"):
                effects.silent = True
                effects.switched_off = effects.switched_off or incident.kind == "host_silent"
                effects.router.wan_dark = effects.router.wan_dark or incident.kind == "site_dark"
            elif incident.kind == "antivirus":
                effects.antivirus_state = incident.state
            elif incident.kind == "signatures_stale":
                effects.signatures_stale_since = incident.start
            elif incident.kind == "disk_filling":
                span = incident.end - incident.start if incident.end != float("inf") else 600.0
                effects.disk_fill = min(1.0, (elapsed - incident.start) / span)
            elif incident.kind == "wan_degraded":
                effects.latency_ms = max(effects.latency_ms, incident.latency_ms)
                effects.loss = max(effects.loss, incident.loss)
                effects.router.wan_loss = effects.loss
            elif incident.kind == "router_down":
                effects.router.down = True
            elif incident.kind == "link_down":
                effects.router.links_down.add(incident.interface)
            elif incident.kind == "link_flapping":
                effects.router.flapping.add(incident.interface)
            elif incident.kind == "wan_saturated":
                effects.router.wan_saturated = True
        return effects


NO_INCIDENTS = Scenario("none", ())


def load_scenario(path: Path | None) -> Scenario:
    """Read a scenario file; None reads the built-in demo scenario."""
    if path is None:
        source = f"built-in scenario {BUILT_IN}"
        raw = resources.files("fleetwatch_sim.scenarios").joinpath(BUILT_IN).read_text(encoding="utf-8")
    else:
        source = f"scenario {path}"
        try:
            raw = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    return parse_scenario(data, source)


def parse_scenario(data: dict[str, Any], source: str = "scenario") -> Scenario:
    unknown = set(data) - {"name", "incidents"}
    if unknown:
        raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r} (known: incidents, name)")
    entries = data.get("incidents", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{source}: 'incidents' must be a list of tables ([[incidents]])")
    incidents = tuple(_incident(entry, f"{source}: incidents[{i}]") for i, entry in enumerate(entries))
    return Scenario(str(data.get("name", "")), incidents)


def parse_duration(text: object, where: str) -> float:
    """'90s', '2m', '1.5h' -> seconds."""
    match = DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{where}: {text!r} is not a duration like 90s, 2m or 1h")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


def _incident(entry: dict[str, Any], where: str) -> Incident:
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {sorted(KINDS)}")
    allowed = KINDS[kind] | {"kind", "start", "duration"}
    unknown = set(entry) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r} for kind {kind} (known: {sorted(allowed)})"
        )
    if kind in NEEDS_SITE and not entry.get("site"):
        raise ConfigError(f"{where}: kind {kind} needs a site")
    start = parse_duration(entry.get("start", "0s"), f"{where}.start")
    end = (
        start + parse_duration(entry["duration"], f"{where}.duration")
        if "duration" in entry
        else float("inf")
    )
    state = entry.get("state", "")
    if kind == "antivirus" and state not in AV_STATES:
        raise ConfigError(f"{where}.state: {state!r} is not one of {list(AV_STATES)}")
    hosts = entry.get("hosts", 0)
    loss = entry.get("loss", 0.0)
    latency = entry.get("latency_ms", 0.0)
    if not isinstance(hosts, int) or hosts < 0:
        raise ConfigError(f"{where}.hosts: must be a non-negative integer")
    if not isinstance(loss, int | float) or not 0.0 <= loss <= 1.0:
        raise ConfigError(f"{where}.loss: must be between 0 and 1")
    if not isinstance(latency, int | float) or latency < 0:
        raise ConfigError(f"{where}.latency_ms: must be non-negative")
    site = entry.get("site", "")
    if not isinstance(site, str):
        raise ConfigError(f"{where}.site: must be a site slug")
    return Incident(
        kind, start, end, site, hosts, state, float(latency), float(loss), _interface(kind, entry, where)
    )


def _interface(kind: str, entry: dict[str, Any], where: str) -> str:
    """The role of the port a link incident hits: "wan" (the first WAN line) unless named; "" for others."""
    if "interface" not in KINDS[kind]:
        return ""
    name = entry.get("interface", "wan")
    match = INTERFACE_RE.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ConfigError(f"{where}.interface: {name!r} is not a port's role: wan, wan2, lan, lan2, ...")
    return f"{match.group(1)}{match.group(2) or 1}"
