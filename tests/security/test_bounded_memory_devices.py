"""Bounded memory with routers: an agent sending the largest report the limits allow, network devices
included, makes the collector keep at most its documented ceiling; device lists over the limits are
refused and counted (real collector process, loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest
from prometheus_client.samples import Sample

from fleetwatch_collector.checks import Limits
from fleetwatch_collector.fleet import MEMORY_PER_AGENT_CEILING_BYTES
from fleetwatch_proto.limits import MAX_TEXT_BYTES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import ProcessGroup, find_samples
from tests.security.support import Agent, Lab, Options, running_lab
from tests.security.test_bounded_memory import maximal_report

AGENTS = 40
WARM_UP = 3
LIMITS = Limits()


def escaped_text(tag: str) -> str:
    """A distinct text of the longest a label value may be, whose every other byte the text format
    escapes (a backslash or a double quote written twice): the most a label value can cost."""
    return (tag + "-" + '\\"' * MAX_TEXT_BYTES)[:MAX_TEXT_BYTES]


def maximal_devices(index: int, counts: list[int]) -> list[pb.NetworkDevice]:
    """Devices that answered, with ``counts`` interfaces, every text at its longest and distinct."""
    devices = []
    for d, count in enumerate(counts):
        device = pb.NetworkDevice(
            name=(f"rt{index}-{d}-" + "r" * 63)[:63], sys_name=escaped_text(f"s{index}.{d}"),
            sys_descr=escaped_text("descr"), reachable=True, uptime_seconds=4e7, poll_duration_seconds=9.5,
            address=escaped_text("addr"), sys_object_id=escaped_text(f"o{index}.{d}"),
            interfaces_omitted=2**31,
        )  # fmt: skip
        for i in range(count):
            device.interfaces.add(
                index=2**31 + i, name=escaped_text(f"if{index}.{d}.{i}"), alias=escaped_text(f"al{i}"),
                admin_up=True, oper_up=bool(i % 2), type=2**31, speed_bits_per_second=2**63,
                in_octets=2**64 - 1, out_octets=2**64 - 1, in_unicast_packets=2**64 - 1,
                out_unicast_packets=2**64 - 1, in_errors=2**64 - 1, out_errors=2**64 - 1,
                in_discards=2**64 - 1, out_discards=2**64 - 1, counter_bits=64, oper_status=7,
            )  # fmt: skip
        devices.append(device)
    return devices


def spread(total: int, devices: int) -> list[int]:
    """``total`` interfaces over ``devices`` devices, as evenly as can be."""
    return [total // devices + (1 if d < total % devices else 0) for d in range(devices)]


async def samples_of(lab: Lab) -> list[Sample]:
    return await asyncio.to_thread(lab.collector.samples)


async def push_maximal_with_devices(lab: Lab, agent: Agent, index: int) -> None:
    report = maximal_report(agent, index, escaped_text)
    counts = spread(LIMITS.max_report_device_interfaces, LIMITS.max_network_devices)
    report.network_devices.extend(maximal_devices(index, counts))
    raw = pb.PushRequest(reports=[report], oldest_held_seq=report.seq).SerializeToString()
    assert len(raw) < LIMITS.max_message_bytes
    call = lab.channel.unary_unary("/fleetwatch.v1.Collector/Push")
    response = pb.PushResponse.FromString(await call(raw, metadata=agent.metadata, timeout=30))
    assert response.acked_seq == report.seq


def test_memory_per_agent_with_devices_stays_under_the_documented_ceiling(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    """40 agents each send the largest report the limits allow, with 16 network devices holding the
    most interfaces a report may carry (256), every text at its longest and made of characters the
    text format escapes: the collector's memory grows by less than MEMORY_PER_AGENT_CEILING_BYTES per
    agent, and every interface is shown."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            token = lab.token(max_uses=AGENTS + WARM_UP)
            agents = [await lab.enroll(token, f"pc-{i}") for i in range(AGENTS + WARM_UP)]
            for i, agent in enumerate(agents[:WARM_UP]):  # code paths and caches warm
                await push_maximal_with_devices(lab, agent, i)
            await asyncio.sleep(1.0)
            before = lab.rss()
            for i, agent in enumerate(agents[WARM_UP:], start=WARM_UP):
                await push_maximal_with_devices(lab, agent, i)
            samples = await samples_of(lab)  # a scrape renders everything once
            await asyncio.sleep(1.0)
            per_agent = (lab.rss() - before) / AGENTS
            print(f"retained per agent with maximal reports and devices: {per_agent / 1024:.0f} KiB")
            ceiling = MEMORY_PER_AGENT_CEILING_BYTES
            assert per_agent < ceiling, f"{per_agent / 1024:.0f} KiB per agent, over {ceiling / 1024:.0f}"
            shown = find_samples(samples, "fleetwatch_netdev_if_in_octets_total")
            assert len(shown) == (AGENTS + WARM_UP) * LIMITS.max_report_device_interfaces
            assert len(find_samples(samples, "fleetwatch_netdev_up")) == (AGENTS + WARM_UP) * 16

    asyncio.run(scenario())


OVER_LIMITS = [
    pytest.param({}, spread(257, 2), "network_devices[*].interfaces: 257 entries, at most 256", id="total"),
    pytest.param({}, [1] * 17, "network_devices: 17 entries, at most 16", id="devices"),
    pytest.param(
        {"limits": {"max_report_device_interfaces": 64}},
        [40, 25],
        "network_devices[*].interfaces: 65 entries, at most 64",
        id="configured-total",
    ),
    pytest.param(
        {"limits": {"max_report_device_interfaces": 1024}},
        [513],
        "network_devices[0].interfaces: 513 entries, at most 512",
        id="per-device",
    ),
]


@pytest.mark.parametrize(("options", "counts", "message"), OVER_LIMITS)
def test_device_lists_over_the_limits_are_refused_and_counted(
    processes: ProcessGroup, tmp_path: Path, options: Options, counts: list[int], message: str
) -> None:
    """A report over a device limit is refused whole (INVALID_ARGUMENT, too_many_items): nothing of it is
    kept; one just within is accepted; another agent is served throughout."""

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, options) as lab:
            good = await lab.enroll(lab.token(), "good-pc")
            hostile = await lab.enroll(lab.token(), "hostile-pc")
            assert await lab.push(good) == 1
            report = hostile.next_report()
            report.network_devices.extend(maximal_devices(7, counts))
            before = await lab.counter("fleetwatch_collector_rejected_total", reason="too_many_items")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await lab.push(hostile, [report])
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in (refused.value.details() or ""), refused.value.details()
            after = await lab.counter("fleetwatch_collector_rejected_total", reason="too_many_items")
            assert after == before + 1
            assert await lab.push(good) == 2
            samples = await samples_of(lab)
            assert not find_samples(samples, "fleetwatch_netdev_up", agent_id=hostile.agent_id)
            # Just within: the same agent's report with one interface (or device) less is kept.
            within = hostile.next_report()
            fewer = [*counts[:-1], counts[-1] - 1] if sum(counts) > len(counts) else counts[:-1]
            within.network_devices.extend(maximal_devices(7, fewer))
            assert await lab.push(hostile, [within]) == within.seq
            shown = find_samples(await samples_of(lab), "fleetwatch_netdev_up", agent_id=hostile.agent_id)
            assert len(shown) == len(fewer)

    asyncio.run(scenario())
