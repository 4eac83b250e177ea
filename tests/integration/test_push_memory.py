"""Memory: what an agent's entry keeps of an accepted push."""

from __future__ import annotations

import gc

import psutil

from fleetwatch_collector.fleet import FleetState
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.integration.push_strategies import valid_request


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def test_an_applied_push_is_not_kept_in_memory() -> None:
    """An agent's entry keeps the newest values, not the whole decoded PushRequest they arrived in.

    A backlog drain sends up to 500 reports per push; if each agent's entry pins its last request
    (protobuf sub-messages share their parent's memory), a fleet of 4,130 agents holds hundreds of MiB
    after a drain (benchmarks/bench_drain.py measured a 535 MiB peak, against < 150 MiB).
    """
    agents, per_push = 200, 500
    template = valid_request().reports[0]
    request = pb.PushRequest(oldest_held_seq=1)
    for seq in range(1, per_push + 1):
        request.reports.add().CopyFrom(template)
        request.reports[-1].seq = seq
    raw = request.SerializeToString()
    fleet = FleetState()
    before = rss()
    for i in range(agents):
        decoded = pb.PushRequest.FromString(raw)
        fleet.apply(f"mem-{i}", decoded.reports, decoded.oldest_held_seq)
        del decoded
    kept = (rss() - before) / agents
    # The newest values of one agent (one report, rendered chunks) take a few KiB; a pinned request of
    # 500 reports takes ~100 times more.
    assert kept < 64 * 1024, (
        f"each agent keeps {kept / 1024:.0f} KiB after one push of {per_push} reports ({len(raw)} bytes on "
        "the wire): AgentEntry.take() stores sub-messages of the request, which keep all of it alive"
    )
