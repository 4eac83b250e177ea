"""Backlogs of the drain benchmark: serialized PushRequests built by concatenation, each report once."""

from __future__ import annotations

from dataclasses import dataclass

INTERVAL_SECONDS = 15
SEED = 11


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def push_request_bytes(bodies: list[bytes], oldest_held_seq: int) -> bytes:
    """A serialized PushRequest: field 1 (reports) per body, then field 3 (oldest_held_seq)."""
    parts = [b"\x0a" + varint(len(body)) + body for body in bodies]
    parts.append(b"\x18" + varint(oldest_held_seq))
    return b"".join(parts)


@dataclass(frozen=True)
class Batch:
    raw: bytes
    reports: int
    last_seq: int


def backlogs(
    fleet_indexes: list[int], total_agents: int, reports_per_agent: int, batch: int, now_ms: int
) -> list[list[Batch]]:
    """Per agent, its backlog as batches: one hour (at 15 s) ending now, seq 1..reports_per_agent."""
    from fleetwatch_agent import convert
    from fleetwatch_agent.report import CycleReport, ProbeOutcome
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet

    fleet = build_fleet(total_agents, SEED, load_inventory())
    first_ms = now_ms - reports_per_agent * INTERVAL_SECONDS * 1000
    result = []
    for index in fleet_indexes:
        agent = fleet[index]
        template = convert.report(
            CycleReport(
                seq=1,
                collected_unix_ms=first_ms,
                interval_seconds=INTERVAL_SECONDS,
                host=agent.host.facts,
                location=agent.location,
                agent_version="bench",
                outcomes=(ProbeOutcome("resources", True, 0.004),),
                results={"resources": agent.host.sample(float(INTERVAL_SECONDS))},
            )
        )
        bodies = []
        for i in range(reports_per_agent):
            template.seq = i + 1
            template.collected_unix_ms = first_ms + i * INTERVAL_SECONDS * 1000
            bodies.append(template.SerializeToString())
        result.append(
            [
                Batch(
                    push_request_bytes(bodies[start : start + batch], start + 1),
                    len(bodies[start : start + batch]),
                    min(start + batch, reports_per_agent),
                )
                for start in range(0, reports_per_agent, batch)
            ]
        )
    return result
