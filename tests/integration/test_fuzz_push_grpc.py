"""Random payloads over real gRPC are refused (INVALID_ARGUMENT, RESOURCE_EXHAUSTED), never a crash."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from fleetwatch_collector import enrolment
from fleetwatch_collector.config import CollectorConfig, ServerSection
from fleetwatch_collector.server import CollectorServer
from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.integration.push_strategies import VALID, valid_request
from tests.integration.support import PUSH_METHOD


def random_payloads(rng: random.Random, count: int, max_message_bytes: int) -> list[bytes]:
    """``count`` payloads the collector must refuse: random bytes, mutations, a few oversized."""
    oracle_limits = Limits(max_message_bytes=max_message_bytes)
    payloads: list[bytes] = []
    while len(payloads) < count:
        kind = rng.random()
        if kind < 0.45:
            raw = rng.randbytes(rng.randint(1, 3000))
        elif kind < 0.95:
            data = bytearray(VALID)
            for _ in range(rng.randint(1, 5)):
                at = rng.randrange(len(data)) if data else 0
                if rng.random() < 0.5 and data:
                    data[at] = rng.randrange(256)
                else:
                    data[at:at] = rng.randbytes(rng.randint(1, 8))
            raw = bytes(data)
        else:
            raw = rng.randbytes(rng.randint(max_message_bytes + 1, 3 * max_message_bytes))
        if len(raw) <= max_message_bytes:
            try:
                validate_push(pb.PushRequest.FromString(raw), int(time.time() * 1000), oracle_limits)
            except (DecodeError, Rejection):
                pass  # refused: a hostile payload
            else:
                continue  # valid by chance (protobuf keeps unknown fields): not what this test sends
        payloads.append(raw)
    return payloads


async def _random_payloads_over_grpc(data_dir: Path) -> dict[str, int]:
    max_message_bytes = 64 * 1024
    limits = Limits(
        max_message_bytes=max_message_bytes, push_burst=10_000, pushes_per_second_per_agent=10_000
    )
    config = CollectorConfig(
        server=ServerSection(
            grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0", data_dir=str(data_dir), grace_seconds=1.0
        ),
        limits=limits,
    )
    server = CollectorServer(config)
    await server.start()
    try:
        now = time.time()
        token = enrolment.create_token(server.store, None, now, None)
        agent = enrolment.enrol(server.store, token, now)
        metadata = (("x-fleetwatch-agent-id", agent.agent_id), ("authorization", f"Bearer {agent.secret}"))
        seed = random.randrange(2**32)
        codes: dict[str, int] = {}
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{server.grpc_port}",
            options=[("grpc.max_send_message_length", 8 * max_message_bytes)],
        ) as channel:
            call = channel.unary_unary(PUSH_METHOD, request_serializer=None, response_deserializer=None)
            for raw in random_payloads(random.Random(seed), 200, max_message_bytes):
                try:
                    await call(raw, metadata=metadata, timeout=10.0)
                    code = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                codes[code.name] = codes.get(code.name, 0) + 1
                assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), (
                    f"seed {seed}: payload of {len(raw)} bytes {raw[:60]!r}... got {code.name}"
                )
            # The collector still serves a well-behaved push.
            fresh = valid_request()
            for report in fresh.reports:
                report.collected_unix_ms = int(time.time() * 1000)
            raw_response = await call(fresh.SerializeToString(), metadata=metadata, timeout=10.0)
            assert pb.PushResponse.FromString(raw_response).acked_seq == 8
        return codes
    finally:
        await server.shutdown()


def test_random_payloads_over_grpc_are_refused_and_the_server_keeps_serving(tmp_path: Path) -> None:
    codes = asyncio.run(_random_payloads_over_grpc(tmp_path))
    assert codes.get("INVALID_ARGUMENT", 0) > 0 and codes.get("RESOURCE_EXHAUSTED", 0) > 0, codes
