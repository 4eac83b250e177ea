"""Bounded memory by construction: an agent sending the largest reports the limits allow makes the
collector keep at most its documented ceiling; unknown fields are never kept; unbounded texts are
refused (real collector process, loopback)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest

from fleetwatch_collector.checks import Limits
from fleetwatch_collector.fleet import MEMORY_PER_AGENT_WITHOUT_DEVICES_BYTES
from fleetwatch_proto.limits import MAX_TEXT_BYTES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import ProcessGroup
from tests.security.support import Agent, Lab, running_lab

AGENTS = 100
WARM_UP = 5
MIB = 1024 * 1024
LIMITS = Limits()


def text(tag: str, size: int = MAX_TEXT_BYTES) -> str:
    """A distinct text of exactly ``size`` bytes (the longest a label-like field may be)."""
    return (tag + "-" + "x" * size)[:size]


def unknown_field(size: int) -> bytes:
    """A length-delimited field with a number no message of the contract uses."""
    return b"\xfa\x3e" + _varint(size) + b"u" * size  # field 999, wire type 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def maximal_report(agent: Agent, index: int, text: Callable[[str], str] = text) -> pb.Report:
    """A report with every repeated field the collector keeps at its limit (but network devices) and
    every text at its longest (``text``), all distinct (so every series is kept), plus unknown fields
    that must not be."""
    report = agent.next_report()
    host = pb.HostInfo(
        hostname=("h" + str(index) + "-" + "n" * 253)[:253],
        os_family=text("family"),
        os_name=text("os"),
        os_version=text("version"),
        kernel=text("kernel"),
        arch=text("arch"),
        agent_version=text("agent"),
        site="xa-tan-my-chanh",
        district="tp-my-tho",
        site_type=pb.SITE_TYPE_COMMUNE,
        site_name=text("site"),
    )
    host.MergeFromString(unknown_field(64 * 1024))
    report.host.CopyFrom(host)
    del report.probes[:]
    for i in range(LIMITS.max_probes):
        report.probes.add(name=f"p{i}_" + "x" * 28, success=False, duration_seconds=1.5, error=text(f"e{i}"))
    resources = report.resources
    del resources.filesystems[:], resources.interfaces[:]
    resources.load.load1 = 1.0
    for i in range(LIMITS.max_filesystems):
        resources.filesystems.add(
            mountpoint=text(f"m{i}"),
            fstype=text(f"t{i}"),
            device=text(f"d{i}"),
            size_bytes=2**60,
            has_inodes=True,
        )
    for i in range(LIMITS.max_interfaces):
        resources.interfaces.add(name=text(f"n{i}"), up=True, receive_bytes=2**63)
    for i in range(LIMITS.max_products):
        report.antivirus.products.add(
            name=text(f"av{i}"),
            vendor=text(f"v{i}"),
            product_version=text(f"pv{i}"),
            engine_version=text(f"ev{i}"),
            signature_version=text(f"sv{i}"),
            detail=text(f"dt{i}"),
            signature_updated_unix=1_700_000_000,
            last_quick_scan_unix=1_700_000_000,
            last_full_scan_unix=1_700_000_000,
        )
    report.antivirus.error = text("averror")
    connectivity = report.connectivity
    connectivity.lan_error = text("lan")
    for i in range(LIMITS.max_targets):
        connectivity.targets.add(
            name=f"t{i}-" + "x" * 58,
            kind=pb.PROBE_KIND_HTTP,
            role=text(f"r{i}"),
            success=bool(i % 2),
            sent=4,
            received=2,
            rtt_min_seconds=0.01,
            rtt_avg_seconds=0.02,
            rtt_max_seconds=0.03,
            jitter_seconds=0.001,
            http_status=200,
            tls_cert_not_after_unix=1_900_000_000,
            path_hops=7,
            path_last_hop=text(f"hop{i}"),
            path_diagnosed=True,
            detail=text(f"detail{i}"),
            address=text(f"addr{i}"),
        )
    now = report.collected_unix_ms
    for i in range(LIMITS.max_events):
        if i % 2:
            threat = pb.ThreatDetected(
                product=text(f"prod{i}"), threat=text(f"th{i}"), path=text(f"pa{i}"), action=text(f"ac{i}")
            )
            report.events.add(time_unix_ms=now, threat=threat)
        else:
            outage = pb.Outage(target=f"o{i}-" + "x" * 58, start_unix_ms=now - 60_000, end_unix_ms=now)
            report.events.add(time_unix_ms=now, outage=outage)
    report.MergeFromString(unknown_field(256 * 1024))
    return report


async def push_maximal(lab: Lab, agent: Agent, index: int) -> None:
    report = maximal_report(agent, index)
    raw = pb.PushRequest(reports=[report], oldest_held_seq=report.seq).SerializeToString()
    assert len(raw) < LIMITS.max_message_bytes
    call = lab.channel.unary_unary("/fleetwatch.v1.Collector/Push")
    response = pb.PushResponse.FromString(await call(raw, metadata=agent.metadata, timeout=30))
    assert response.acked_seq == report.seq


def test_memory_per_agent_stays_under_the_documented_ceiling(processes: ProcessGroup, tmp_path: Path) -> None:
    """100 agents each send the largest report the limits allow without network devices (with 320 KiB
    of unknown fields): the collector's memory grows by less than MEMORY_PER_AGENT_WITHOUT_DEVICES_BYTES
    per agent, and the store keeps no unknown field (with devices: test_bounded_memory_devices.py)."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, {"enrolment": {"site_token_max_uses": 1000}}) as lab:
            token = lab.token(max_uses=AGENTS + WARM_UP)
            agents = [await lab.enroll(token, f"pc-{i}") for i in range(AGENTS + WARM_UP)]
            for i, agent in enumerate(agents[:WARM_UP]):  # code paths and caches warm
                await push_maximal(lab, agent, i)
            await asyncio.sleep(1.0)
            before = lab.rss()
            for i, agent in enumerate(agents[WARM_UP:], start=WARM_UP):
                await push_maximal(lab, agent, i)
            await lab.samples()  # a scrape renders everything once
            await asyncio.sleep(1.0)
            per_agent = (lab.rss() - before) / AGENTS
            print(f"retained per agent with maximal reports: {per_agent / 1024:.0f} KiB")
            ceiling = MEMORY_PER_AGENT_WITHOUT_DEVICES_BYTES
            assert per_agent < ceiling, f"{per_agent / 1024:.0f} KiB per agent, over {ceiling / 1024:.0f}"
            # Every agent is shown, and the store holds host facts without the unknown fields.
            up = [s for s in await lab.samples() if getattr(s, "name", "") == "fleetwatch_agent_up"]
            assert len(up) == AGENTS + WARM_UP
        with sqlite3.connect(lab.data_dir / "collector.sqlite") as db:
            sizes = [row[0] for row in db.execute("SELECT length(host) FROM agents")]
        assert len(sizes) == AGENTS + WARM_UP and max(sizes) < 8 * 1024, max(sizes)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("where", "corrupt"),
    [
        ("probes[0].error", lambda r: setattr(r.probes[0], "error", "e" * 257)),
        ("filesystems[0].device", lambda r: setattr(r.resources.filesystems[0], "device", "d" * 257)),
        ("network_devices[0].sys_descr", lambda r: r.network_devices.add(name="sw", sys_descr="s" * 5000)),
        ("antivirus.error", lambda r: setattr(r.antivirus, "error", "a" * 257)),
        ("connectivity.lan_error", lambda r: setattr(r.connectivity, "lan_error", "l" * 257)),
    ],
)
def test_texts_without_a_bound_before_are_refused(
    processes: ProcessGroup, tmp_path: Path, where: str, corrupt: object
) -> None:
    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            good = await lab.enroll(lab.token(), "good-pc")
            hostile = await lab.enroll(lab.token(), "hostile-pc")
            assert await lab.push(good) == 1
            report = hostile.next_report()
            corrupt(report)  # type: ignore[operator]
            before = await lab.counter("fleetwatch_collector_rejected_total", reason="invalid_label")
            try:
                await lab.push(hostile, [report])
                raise AssertionError("an over-long text was accepted")
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert where in (error.details() or ""), error.details()
            assert (
                await lab.counter("fleetwatch_collector_rejected_total", reason="invalid_label") == before + 1
            )
            assert await lab.push(good) == 2

    asyncio.run(scenario())
