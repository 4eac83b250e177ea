"""What the collector knows of one agent: its labels, applied sequence numbers and each kind's state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.kinds import KINDS
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


@dataclass(frozen=True)
class SiteLabels:
    """A site's labels: the one an agent was bound to at enrolment, or the inventory's for it."""

    site: str
    district: str
    site_type: str
    site_name: str = ""


def new_states() -> dict[str, Any]:
    """A fresh state of every kind, by kind name."""
    return {kind.name: kind.new_state() for kind in KINDS}


@dataclass
class AgentEntry:
    """One agent. Mutated only under FleetState's lock."""

    agent_id: str
    host: pb.HostInfo = field(default_factory=pb.HostInfo)
    # The `host` label: the name recorded at enrolment, changed only by FleetState's rule.
    hostname: str = ""
    site: SiteLabels | None = None  # bound at enrolment; None: claimed by the agent's HostInfo
    applied: AppliedSeqs = field(default_factory=AppliedSeqs)
    state_seq: int = 0  # seq of the report whose values are shown
    reports_total: int = 0  # reports applied, each exactly once
    last_report_ms: int = 0  # collection time of the shown report (agent clock)
    last_seen: float = 0.0  # when the collector last applied a report (collector clock)
    interval_seconds: int = 15
    # Each kind's newest values and event counters, by kind name (see kinds/).
    states: dict[str, Any] = field(default_factory=new_states)
    down_at: float = float("-inf")  # collector time after which the agent counts as down
    up_line: bytes = b""  # its fleetwatch_agent_up sample while up, and while down
    down_line: bytes = b""
    # The labels its series carry: the inventory's for its site, else enrolled_labels().
    shown: SiteLabels | None = None
    site_known: bool = True  # its site is in the inventory
    revoked: bool = False
    listed: bool = True  # on /metrics: neither revoked nor retired
    # Each kind's text as rendered last, by kind name: (labels, its render key, the chunks of its
    # families), used again while both stay equal (exposition.render_agent).
    rendered: dict[str, tuple[str, object, tuple[bytes, ...]]] = field(default_factory=dict)
    # ``host`` and its serialized form, for the store (made when ``host`` is taken from a report).
    _host_bytes: tuple[pb.HostInfo, bytes] | None = field(default=None, repr=False)

    def enrolled_labels(self) -> SiteLabels:
        """The site bound at enrolment, or the one the agent claims (any-site token)."""
        if self.site is not None:
            return self.site
        host = self.host
        return SiteLabels(host.site, host.district, SITE_TYPE.name(host.site_type, ""), host.site_name)

    def labels(self) -> SiteLabels:
        """The site labels its series carry."""
        return self.shown or self.enrolled_labels()

    def count_events(self, report: pb.Report) -> None:
        """Add the effects of a report's events; called once per applied report."""
        if report.events:
            for kind in KINDS:
                kind.count_events(self.states[kind.name], report)

    def take(self, newer: Sequence[pb.Report]) -> None:
        """Take the values of reports newer than the shown one, in seq order: each section from
        the newest report that has it; absent sections keep theirs (each kind copies what it keeps).
        """
        newest = newer[-1]
        self.state_seq = newest.seq
        self.last_report_ms = newest.collected_unix_ms
        self.interval_seconds = newest.interval_seconds
        for report in reversed(newer):
            if report.HasField("host"):
                raw = report.host.SerializeToString()  # a copy: see copy_message
                self.host = pb.HostInfo.FromString(raw)
                self._host_bytes = (self.host, raw)
                break
        for kind in KINDS:
            kind.take(self.states[kind.name], newer)

    def host_bytes(self) -> bytes:
        """``host`` serialized (once per HostInfo taken)."""
        kept = self._host_bytes
        if kept is None or kept[0] is not self.host:  # set otherwise than by take()
            kept = self._host_bytes = (self.host, self.host.SerializeToString())
        return kept[1]

    def counters(self) -> str:
        """The kinds' event counters as one JSON object, e.g. {"threats": {"ClamAV": 2}, ...}."""
        saved: dict[str, Any] = {}
        for kind in KINDS:
            saved.update(kind.save(self.states[kind.name]))
        return json.dumps(saved)

    def restore_counters(self, text: str) -> None:
        """Set the kinds' event counters from ``counters()`` of an earlier run."""
        saved = json.loads(text)
        for kind in KINDS:
            kind.restore(self.states[kind.name], saved)
