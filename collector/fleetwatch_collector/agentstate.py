"""What the collector knows of one agent: its labels, applied sequence numbers and newest values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf.message import Message

from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

SITE_TYPE_NAMES = {
    pb.SITE_TYPE_DEPARTMENT: "department",
    pb.SITE_TYPE_DISTRICT: "district",
    pb.SITE_TYPE_COMMUNE: "commune",
}


MAX_COUNTED_KEYS = 64  # distinct label values of one counter per agent; beyond, "other"


@dataclass(frozen=True)
class SiteLabels:
    """The site an agent belongs to, bound at enrolment."""

    site: str
    district: str
    site_type: str
    site_name: str = ""


@dataclass
class AgentEntry:
    """One agent. Mutated only under FleetState's lock."""

    agent_id: str
    host: pb.HostInfo = field(default_factory=pb.HostInfo)
    site: SiteLabels | None = None  # None: labels claimed by the agent's HostInfo
    applied: AppliedSeqs = field(default_factory=AppliedSeqs)
    state_seq: int = 0  # seq of the report whose values are shown
    reports_total: int = 0  # reports applied, each exactly once
    last_report_ms: int = 0  # collection time of the shown report (agent clock)
    last_seen: float = 0.0  # when the collector last applied a report (collector clock)
    interval_seconds: int = 15
    probes: Sequence[pb.ProbeResult] = ()
    resources: pb.Resources | None = None
    antivirus: pb.Antivirus | None = None
    connectivity: pb.Connectivity | None = None
    spool: pb.SpoolStats | None = None
    # Effects of events, counted once per applied report: threats detected by product.
    threats: dict[str, int] = field(default_factory=dict)
    # Edge outages by target: how many ended, and their seconds in all.
    outages: dict[str, int] = field(default_factory=dict)
    outage_seconds: dict[str, float] = field(default_factory=dict)
    # LAN discovery: devices that answered the newest sweep, new devices seen in all.
    lan_devices: int | None = None
    lan_new_devices: int = 0
    down_at: float = float("-inf")  # collector time after which the agent counts as down
    up_line: bytes = b""  # its fleetwatch_agent_up sample while up, and while down
    down_line: bytes = b""

    def labels(self) -> SiteLabels:
        if self.site is not None:
            return self.site
        host = self.host
        return SiteLabels(host.site, host.district, SITE_TYPE_NAMES.get(host.site_type, ""), host.site_name)

    def count_events(self, report: pb.Report) -> None:
        """Add the effects of a report's events; called once per applied report."""
        for event in report.events:
            if event.HasField("threat"):
                product = _bounded(self.threats, event.threat.product)
                self.threats[product] = self.threats.get(product, 0) + 1
            elif event.HasField("device_seen"):
                self.lan_new_devices += 1
            elif event.HasField("outage"):
                outage = event.outage
                target = _bounded(self.outages, outage.target)
                self.outages[target] = self.outages.get(target, 0) + 1
                seconds = max(0, outage.end_unix_ms - outage.start_unix_ms) / 1000.0
                self.outage_seconds[target] = self.outage_seconds.get(target, 0.0) + seconds

    def take(self, newer: Sequence[pb.Report]) -> None:
        """Take the values of reports newer than the shown one, in seq order: each section from
        the newest report that has it; absent sections keep theirs.

        Sections are copied: a sub-message shares the memory of the whole decoded request, and
        keeping it would pin up to 500 reports per agent after a backlog drain.
        """
        newest = newer[-1]
        self.state_seq = newest.seq
        self.last_report_ms = newest.collected_unix_ms
        self.interval_seconds = newest.interval_seconds
        for report in reversed(newer):
            if report.HasField("host"):
                self.host = _copy(report.host)
                break
        for report in reversed(newer):
            if report.probes:
                self.probes = tuple(_copy(p) for p in report.probes)
                break
        for report in reversed(newer):
            if report.HasField("resources"):
                self.resources = _copy(report.resources)
                break
        for report in reversed(newer):
            if report.HasField("antivirus"):
                self.antivirus = _copy(report.antivirus)
                break
        for report in reversed(newer):
            if report.HasField("connectivity"):
                self.connectivity = _copy(report.connectivity)
                break
        for report in reversed(newer):  # sweeps are rare: the newest successful one counts
            if report.connectivity.lan_swept and not report.connectivity.lan_error:
                self.lan_devices = report.connectivity.lan_devices
                break
        for report in reversed(newer):
            if report.HasField("spool"):
                self.spool = _copy(report.spool)
                break


def _bounded(counters: dict[str, int], key: str) -> str:
    """``key``, or "other" once MAX_COUNTED_KEYS distinct keys are counted (bounded series)."""
    return key if key in counters or len(counters) < MAX_COUNTED_KEYS else "other"


M = TypeVar("M", bound=Message)


def _copy(message: M) -> M:
    """A copy with memory of its own (not a view into the request it was decoded from)."""
    return type(message).FromString(message.SerializeToString())
