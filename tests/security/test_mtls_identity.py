"""Identity bound end to end under mutual TLS: a Push needs the agent's secret AND a client certificate
naming that agent (its id, or the certificate it enrolled with); a certificate alone authenticates
nobody (real collector process with `tls init` certificates, loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio

from fleetwatch_proto.metadata import AGENT_ID
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import ProcessGroup, run_command
from tests.security.support import CALL_TIMEOUT_SECONDS, Agent, Lab, running_lab


def issue(certs: Path, *args: str) -> None:
    result = run_command("fleetwatch-collector", "tls", *args, "--dir", str(certs))
    assert result.returncode == 0, result.stderr


def channel_with(lab: Lab, certs: Path, name: str) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(),
        (certs / f"client-{name}-key.pem").read_bytes(),
        (certs / f"client-{name}.pem").read_bytes(),
    )
    return grpc.aio.secure_channel(lab.collector.grpc_address, credentials)


async def push_over(channel: grpc.aio.Channel, agent: Agent, metadata: tuple[tuple[str, str], ...]) -> int:
    stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
    report = agent.next_report()
    request = pb.PushRequest(reports=[report], oldest_held_seq=report.seq)
    response = await stub.Push(request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)
    return int(response.acked_seq)


async def refused(call: object, code: grpc.StatusCode) -> str:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, error
        return error.details() or ""
    raise AssertionError("the call was accepted")


def test_a_certificate_must_name_the_agent_it_pushes_for(processes: ProcessGroup, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    issue(certs, "init", "--name", "127.0.0.1")
    issue(certs, "client", "--cn", "pc-a")
    issue(certs, "client", "--cn", "pc-b")
    options = {
        "tls": {
            "cert_file": str(certs / "server.pem"),
            "key_file": str(certs / "server-key.pem"),
            "client_ca_file": str(certs / "ca.pem"),
        }
    }

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, options) as lab:
            with_a, with_b = channel_with(lab, certs, "pc-a"), channel_with(lab, certs, "pc-b")
            try:
                a = await lab.enroll(lab.token(), "pc-a", with_a)  # bound to the certificate pc-a
                b = await lab.enroll(lab.token(), "pc-b", with_b)
                assert await push_over(with_a, a, a.metadata) == 1
                assert await push_over(with_b, b, b.metadata) == 1
                # A's certificate with B's id and secret: refused, counted, B untouched.
                details = await refused(push_over(with_a, b, b.metadata), grpc.StatusCode.PERMISSION_DENIED)
                assert "pc-a" in details and b.agent_id in details, details
                mismatch = "certificate_mismatch"
                assert await lab.counter("fleetwatch_collector_rejected_total", reason=mismatch) == 1
                # The certificate alone is no credential.
                only_id = ((AGENT_ID, a.agent_id),)
                await refused(push_over(with_a, a, only_id), grpc.StatusCode.UNAUTHENTICATED)
                assert await lab.counter("fleetwatch_collector_rejected_total", reason="unauthenticated") == 1
                # A certificate issued for an agent id (`tls client --agent-id`) names that agent.
                await asyncio.to_thread(issue, certs, "client", "--agent-id", b.agent_id)
                with_b_id = channel_with(lab, certs, b.agent_id)
                try:
                    assert await push_over(with_b_id, b, b.metadata) == b.seq
                    await refused(push_over(with_b_id, a, a.metadata), grpc.StatusCode.PERMISSION_DENIED)
                finally:
                    await with_b_id.close()
                assert await lab.counter("fleetwatch_collector_rejected_total", reason=mismatch) == 2
                # The legitimate agent goes on.
                assert await push_over(with_a, a, a.metadata) == a.seq
            finally:
                await with_a.close()
                await with_b.close()

    asyncio.run(scenario())
