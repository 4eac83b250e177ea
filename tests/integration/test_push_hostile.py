"""Hostile Push calls over real gRPC: each gets its status and counter; a good agent is never affected."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleetwatch_collector.service import SERVICE_NAME
from fleetwatch_collector.validate import Limits
from fleetwatch_proto.metadata import AGENT_ID as AGENT_ID_METADATA
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import auth_metadata, value_of
from tests.integration.support import (
    CALL_TIMEOUT_SECONDS,
    GIB,
    GOOD,
    GOOD_HOST,
    Harness,
    agent_series,
    report,
    running_collector,
)

HOSTILE = "hostile"  # an enrolled agent that sends bad input
MAX_MESSAGE_BYTES = 64 * 1024
Attack = Callable[[Harness], Awaitable[None]]


async def _with_good_agent(data_dir: Path, attack: Attack, limits: Limits) -> None:
    async with running_collector(data_dir, limits, agents=(GOOD, HOSTILE)) as h:
        good = h.agent_id(GOOD)
        assert (await h.push([report(1, 3 * GIB)])).acked_seq == 1
        before = agent_series(await h.samples(), good)
        assert before, "the good agent's series are missing"
        await attack(h)
        assert agent_series(await h.samples(), good) == before, "the attack changed the good agent's series"
        assert (await h.push([report(2, 5 * GIB)])).acked_seq == 2
        after = await h.samples()
        assert value_of(after, "fleetwatch_host_memory_available_bytes", agent_id=good) == 5 * GIB
        assert value_of(after, "fleetwatch_agent_up", agent_id=good) == 1


def with_good_agent(tmp_path: Path, attack: Attack, limits: Limits | None = None) -> None:
    """A good agent pushes, ``attack`` runs, the good agent's series are unchanged and still update."""
    asyncio.run(_with_good_agent(tmp_path, attack, limits or Limits(max_message_bytes=MAX_MESSAGE_BYTES)))


def test_malformed_bytes_are_invalid_argument(tmp_path: Path) -> None:
    async def attack(h: Harness) -> None:
        await h.refused_with_counter(
            h.push_raw(b"\xff\xff\xff", HOSTILE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "malformed",
            "PushRequest does not decode",
        )

    with_good_agent(tmp_path, attack)


def test_invalid_utf8_string_is_malformed(tmp_path: Path) -> None:
    placeholder, invalid = b"PLACEHOLDER", b"bad\xff\xfename\xc0!"
    assert len(placeholder) == len(invalid)  # the length prefix stays right, only the UTF-8 is wrong
    raw = pb.PushRequest(reports=[report(1, GIB, hostname=placeholder.decode())]).SerializeToString()
    raw = raw.replace(placeholder, invalid)

    async def attack(h: Harness) -> None:
        await h.refused_with_counter(
            h.push_raw(raw, HOSTILE), grpc.StatusCode.INVALID_ARGUMENT, "malformed", "UTF-8"
        )
        assert h.agent_id(HOSTILE) not in await h.text()

    with_good_agent(tmp_path, attack)


def padded(size: int) -> pb.Report:
    """A valid report made ``size`` bytes big by a long text field that no limit counts."""
    message = report(1, GIB, hostname="big-host")
    message.network_devices.add(name="router", sys_descr="x" * size)
    return message


def test_oversized_push_is_resource_exhausted_and_counted(tmp_path: Path) -> None:
    big = padded(MAX_MESSAGE_BYTES + MAX_MESSAGE_BYTES // 2)
    size = pb.PushRequest(reports=[big]).ByteSize()
    assert MAX_MESSAGE_BYTES < size < 2 * MAX_MESSAGE_BYTES

    async def attack(h: Harness) -> None:
        await h.refused_with_counter(
            h.push([big], HOSTILE),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "oversized",
            f"{size} bytes",
            f"{MAX_MESSAGE_BYTES} bytes",
        )
        # The limit applies after decompression: gzip does not smuggle the same payload in.
        await h.refused_with_counter(
            h.push([big], HOSTILE, compression=grpc.Compression.Gzip),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "oversized",
            f"{size} bytes",
        )
        assert "big-host" not in await h.text()

    with_good_agent(tmp_path, attack)


def test_push_far_beyond_the_limit_is_refused_by_grpc(tmp_path: Path) -> None:
    huge = padded(8 * MAX_MESSAGE_BYTES)

    async def attack(h: Harness) -> None:
        for compression in (None, grpc.Compression.Gzip):  # gzip: a small "zip bomb" on the wire
            error = await h.refused(h.push([huge], HOSTILE, compression), grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert "larger than max" in (error.details() or ""), error.details()
        assert "big-host" not in await h.text()

    with_good_agent(tmp_path, attack)


@pytest.mark.parametrize(
    ("hostname", "bad"),
    [("evil\nhost", "\n"), ("evilhost\n", "\n"), ('evil"host', '"'), ("evil\\host", "\\")],
    ids=["newline", "trailing-newline", "quote", "backslash"],
)
def test_label_injection_in_hostname_is_refused(
    tmp_path: Path, promtool: str, hostname: str, bad: str
) -> None:

    async def attack(h: Harness) -> None:
        details = await h.refused_with_counter(
            h.push([report(1, GIB, hostname=hostname)], HOSTILE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_hostname",
            "hostname",
        )
        assert f"invalid character {bad!r}" in details, details
        text = await h.text()
        assert "evil" not in text and h.agent_id(HOSTILE) not in text
        check = await asyncio.to_thread(
            subprocess.run, [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr

    with_good_agent(tmp_path, attack)


@pytest.mark.parametrize(
    ("where", "corrupt"),
    [
        ("site_name", lambda r: setattr(r.host, "site_name", "Xã\nTân Mỹ Chánh")),
        ("interface", lambda r: setattr(r.resources.interfaces[0], "name", "eth0\x1b[31m")),
    ],
    ids=["site_name-newline", "interface-escape"],
)
def test_control_characters_in_label_strings_are_refused(
    tmp_path: Path, where: str, corrupt: Callable[[pb.Report], None]
) -> None:
    """The contract: a label-like string with control characters is refused with INVALID_ARGUMENT."""
    hostile = report(1, GIB, hostname="ctl-host")
    corrupt(hostile)

    async def attack(h: Harness) -> None:
        await h.refused_with_counter(
            h.push([hostile], HOSTILE), grpc.StatusCode.INVALID_ARGUMENT, "invalid_label", where
        )

    with_good_agent(tmp_path, attack)


@pytest.mark.parametrize("agent_id", [None, "bad id with spaces"], ids=["missing", "malformed"])
def test_push_without_a_valid_identity_is_unauthenticated(tmp_path: Path, agent_id: str | None) -> None:
    async def attack(h: Harness) -> None:
        secret = h.agents[HOSTILE].secret  # a valid secret does not make up for a bad id
        metadata = () if agent_id is None else auth_metadata(agent_id, secret)
        await h.refused_with_counter(
            h.push([report(1, GIB, hostname="intruder-host")], metadata=metadata),
            grpc.StatusCode.UNAUTHENTICATED,
            "unauthenticated",
            AGENT_ID_METADATA,
        )
        assert "intruder-host" not in await h.text()

    with_good_agent(tmp_path, attack)


def test_identity_comes_from_metadata_not_from_the_payload(tmp_path: Path) -> None:
    async def attack(h: Harness) -> None:
        # Another agent claims the good agent's hostname and reports other values.
        claim = report(7, 1 * GIB, hostname=GOOD_HOST)
        claim.resources.memory_total_bytes = 2 * GIB
        assert (await h.push([claim], HOSTILE, oldest_held_seq=7)).acked_seq == 7
        samples = await h.samples()
        hostile, good = h.agent_id(HOSTILE), h.agent_id(GOOD)
        assert value_of(samples, "fleetwatch_host_memory_total_bytes", agent_id=hostile) == 2 * GIB
        assert value_of(samples, "fleetwatch_host_memory_total_bytes", agent_id=good) == 8 * GIB
        assert len([s for s in samples if s.name == "fleetwatch_agent_up"]) == 2

    with_good_agent(tmp_path, attack)


def test_replayed_batch_is_acknowledged_but_not_applied_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_collector(tmp_path) as h:

            async def counters() -> tuple[float | None, float | None]:
                samples = await h.samples()
                return (
                    value_of(samples, "fleetwatch_collector_reports_applied_total"),
                    value_of(samples, "fleetwatch_collector_reports_duplicate_total"),
                )

            batch = [report(seq, seq * GIB) for seq in (1, 2, 3)]
            assert (await h.push(batch)).acked_seq == 3
            assert await counters() == (3, 0)
            # The same seqs again, e.g. after an agent crash lost the acknowledgement; older values.
            replay = [report(seq, 7 * GIB) for seq in (1, 2, 3)]
            assert (await h.push(replay)).acked_seq == 3
            assert await counters() == (3, 3)
            samples = await h.samples()
            good = h.agent_id(GOOD)
            assert value_of(samples, "fleetwatch_host_memory_available_bytes", agent_id=good) == 3 * GIB
            # A batch overlapping the applied ones applies only the new report.
            assert (await h.push([report(3, 7 * GIB), report(4, 4 * GIB)])).acked_seq == 4
            assert await counters() == (4, 4)
            samples = await h.samples()
            assert value_of(samples, "fleetwatch_host_memory_available_bytes", agent_id=good) == 4 * GIB

    asyncio.run(scenario())


def test_too_many_reports_is_invalid_argument(tmp_path: Path) -> None:
    limits = Limits(max_message_bytes=MAX_MESSAGE_BYTES)
    count = limits.max_reports_per_push + 1
    many = [
        pb.Report(seq=seq, collected_unix_ms=int(time.time() * 1000), interval_seconds=60)
        for seq in range(1, count + 1)
    ]

    async def attack(h: Harness) -> None:
        await h.refused_with_counter(
            h.push(many, HOSTILE),
            grpc.StatusCode.INVALID_ARGUMENT,
            "too_many_items",
            f"{count} entries, at most {limits.max_reports_per_push}",
        )
        assert h.agent_id(HOSTILE) not in await h.text()

    with_good_agent(tmp_path, attack, limits)


def test_health_service_answers_serving(tmp_path: Path) -> None:
    async def attack(h: Harness) -> None:
        health = health_pb2_grpc.HealthStub(h.channel)
        for service in ("", SERVICE_NAME):
            response = await health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT_SECONDS
            )
            assert response.status == health_pb2.HealthCheckResponse.SERVING, service
        await h.refused(
            health.Check(
                health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=CALL_TIMEOUT_SECONDS
            ),
            grpc.StatusCode.NOT_FOUND,
        )

    with_good_agent(tmp_path, attack)
