"""Which sequence numbers an agent can have made since its last applied report (FleetState.apply)."""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.checks import Rejection
from fleetwatch_proto.limits import MIN_INTERVAL_SECONDS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

# Sequence numbers beyond the reports made since the last one: blocks skipped by crashes (64 each).
SEQ_SLACK = 4096


def check_seqs(entry: AgentEntry, reports: Sequence[pb.Report], now: float, max_age_ms: int) -> bool:
    """Refuse (Rejection) a sequence number beyond what the agent can have made since its last applied
    report, unless it restarted its numbering at its clock in milliseconds (a lost sequence file, a new
    simulator run), which is then reported (True). ``now``: the collector clock of ``entry.last_seen``."""
    highest = max(entry.applied.highest, entry.state_seq)
    if not highest or not reports:
        return False
    elapsed = max(0.0, now - entry.last_seen)
    allowed = highest + int(elapsed / MIN_INTERVAL_SECONDS) + 1 + SEQ_SLACK
    restart = False
    for report in reports:
        if report.seq <= allowed:
            continue
        if report.seq >= report.collected_unix_ms - max_age_ms:
            restart = True  # at most its clock (validate.py), at least the clock of its oldest report
            continue
        raise Rejection(
            "invalid_seq",
            f"seq {report.seq} jumps beyond the {allowed - highest} reports this agent can have made "
            f"since seq {highest}, and is not a restart at its clock in milliseconds",
        )
    return restart
