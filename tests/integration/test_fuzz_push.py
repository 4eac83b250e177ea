"""Property tests of the collector's Push path: decoding, validation and exposition never fail on input.

(i)   arbitrary bytes and mutated valid PushRequests: `_decode` + `validate_push` raise Rejection or nothing;
(ii)  PushRequests from strategies (hostile texts, non-finite floats, huge counters, counts up to the limits)
      are refused with Rejection, or render to text that prometheus_client parses back to the same values;
(iii) the render of every accepted example together passes `promtool check metrics`;
and over real gRPC, random payloads get INVALID_ARGUMENT or RESOURCE_EXHAUSTED, never a crash.
"""

from __future__ import annotations

import asyncio
import gc
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import grpc.aio
import psutil
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fleetwatch_collector import enrolment
from fleetwatch_collector.config import CollectorConfig, ServerSection
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.server import CollectorServer
from fleetwatch_collector.service import CollectorService
from fleetwatch_collector.store import Store
from fleetwatch_collector.validate import MAX_SEQ, Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

T = TypeVar("T")
LIMITS = Limits()
NOW_MS = int(time.time() * 1000)
PUSH_METHOD = "/fleetwatch.v1.Collector/Push"
FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# ---------------------------------------------------------------------------------------------------
# Strategies. Each example is "clean" (every field valid, with the nastiest valid values: quotes,
# backslashes, braces, Unicode line separators, 4-byte characters near the 256-byte limit, counters up
# to 2**64-1, counts up to the limits) or "hostile" (any field may be invalid), so that both the
# accepted and the refused paths get many examples.

# Any Unicode scalar value: proto strings must be valid UTF-8, so no surrogates.
ANY_CHAR = st.characters(exclude_categories=("Cs",))
# Valid in label-like text: anything but control characters (Cc is exactly C0, DEL and C1).
CLEAN_CHAR = st.characters(exclude_categories=("Cs", "Cc"))
# Characters that matter to the text format and to the validation rules.
NASTY_CHAR = st.sampled_from([*'\\"\n\r\t{}=,# \x00\x1b\x7f\x85\x9f\u2028\u2029\ufeff\uffff', "😀", "\u1ec5"])
NASTY_CLEAN_CHAR = st.sampled_from([*'\\"{}=,# \u2028\u2029\u00a0\ufeff\uffff', "😀", "\u1ec5", "n"])
CLEAN_TEXT = st.one_of(
    st.text(CLEAN_CHAR, max_size=30),
    st.text(st.one_of(NASTY_CLEAN_CHAR, CLEAN_CHAR), max_size=30),
    st.lists(st.sampled_from(['"', "\\", "\\n", "n", "}", ",", " # ", "=", "{", "a"]), max_size=20).map(
        "".join
    ),
    # Up to 240 bytes of multi-byte characters: near the 256-byte limit, within it even with a suffix.
    st.text(st.sampled_from(["ä", "€", "😀", "x"]), min_size=55, max_size=60),
)
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=30),
    st.text(st.one_of(NASTY_CHAR, ANY_CHAR), max_size=30),
    st.text(st.sampled_from(["ä", "€", "😀", "x"]), min_size=60, max_size=140),
)
CLEAN_HOSTNAME = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,40}", fullmatch=True)
CLEAN_SLUG = st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True), st.just(""))
CLEAN_PROBE = st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True)
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
U64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**53 + 1, 2**63, 2**64 - 1]))
U32 = st.integers(0, 2**32 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
CLEAN_SEQ = st.one_of(st.integers(1, 10**6), st.just(MAX_SEQ))
CLEAN_COLLECTED_MS = st.integers(NOW_MS - LIMITS.max_age_seconds * 1000 + 60_000, NOW_MS + 60_000)
SITE_TYPE = st.integers(0, 5)  # 4 and 5 are unknown values of an open enum
AV_STATE = st.integers(0, 8)


class Gen:
    """Draws a field's value: valid when clean, anything (often invalid) when hostile."""

    def __init__(self, draw: st.DrawFn, clean: bool) -> None:
        self.draw = draw
        self.clean = clean

    def strategy(self, valid: st.SearchStrategy[T], hostile: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
        return valid if self.clean else st.one_of(valid, hostile)

    def __call__(self, valid: st.SearchStrategy[T], hostile: st.SearchStrategy[T]) -> T:
        return self.draw(self.strategy(valid, hostile))

    def text(self) -> str:
        return self(CLEAN_TEXT, HOSTILE_TEXT)

    def many(self, make: Callable[[Gen], T], limit: int) -> list[T]:
        """Up to ``limit`` items (a little beyond when hostile): 1-3 drawn, repeated to a drawn count."""
        items = [make(self) for _ in range(self.draw(st.integers(1, 3)))]
        count = self.draw(st.integers(0, limit if self.clean else limit + 2))
        return [items[i % len(items)] for i in range(count)]


def host_info(g: Gen) -> pb.HostInfo:
    return pb.HostInfo(
        hostname=g(CLEAN_HOSTNAME, st.text(st.one_of(NASTY_CHAR, ANY_CHAR), max_size=20)),
        os_family=g.text(),
        os_name=g.text(),
        os_version=g.text(),
        kernel=g.text(),
        arch=g.text(),
        agent_version=g.text(),
        cpu_count=g.draw(U32),
        memory_total_bytes=g.draw(U64),
        boot_time_unix=g.draw(I64),
        site=g(CLEAN_SLUG, HOSTILE_TEXT),
        district=g(CLEAN_SLUG, HOSTILE_TEXT),
        site_type=g.draw(SITE_TYPE),
        site_name=g.text(),
    )


def filesystem(g: Gen) -> pb.Filesystem:
    return pb.Filesystem(
        mountpoint=g.text(),
        device=g.text(),
        fstype=g.text(),
        size_bytes=g.draw(U64),
        used_bytes=g.draw(U64),
        free_bytes=g.draw(U64),
        has_inodes=g.draw(st.booleans()),
        inodes_total=g.draw(U64),
        inodes_free=g.draw(U64),
    )


def interface(g: Gen) -> pb.NetworkInterface:
    return pb.NetworkInterface(
        name=g.text(),
        up=g.draw(st.booleans()),
        speed_bits_per_second=g.draw(U64),
        receive_bytes=g.draw(U64),
        transmit_bytes=g.draw(U64),
        receive_packets=g.draw(U64),
        transmit_packets=g.draw(U64),
        receive_errors=g.draw(U64),
        transmit_errors=g.draw(U64),
        receive_drops=g.draw(U64),
        transmit_drops=g.draw(U64),
    )


def product(g: Gen) -> pb.AntivirusProduct:
    return pb.AntivirusProduct(
        name=g.text(),
        vendor=g.text(),
        product_version=g.text(),
        engine_version=g.text(),
        signature_version=g.text(),
        signature_updated_unix=g.draw(I64),
        realtime_protection=g.draw(st.booleans()),
        last_quick_scan_unix=g.draw(I64),
        last_full_scan_unix=g.draw(I64),
        state=g.draw(AV_STATE),
        on_access_scanning=g.draw(st.booleans()),
    )


def threat_event(g: Gen) -> pb.Event:
    threat = pb.ThreatDetected(product=g.text(), threat=g.text(), path=g.text(), action=g.text())
    return pb.Event(time_unix_ms=g.draw(I64), threat=threat)


M = TypeVar("M", pb.Filesystem, pb.NetworkInterface, pb.AntivirusProduct)


def numbered(items: list[M], field: str) -> list[M]:
    """Copies whose ``field`` gets a distinct suffix, so repeated items are mostly distinct series."""
    result = []
    for i, item in enumerate(items):
        copy = type(item)()
        copy.CopyFrom(item)
        if i:
            setattr(copy, field, f"{getattr(copy, field)}{i}")
        result.append(copy)
    return result


def resources(g: Gen) -> pb.Resources:
    res = pb.Resources(
        cpu_utilization_ratio=g(st.floats(0.0, 1.0), ANY_FLOAT),
        cpu_count=g.draw(U32),
        memory_total_bytes=g.draw(U64),
        memory_available_bytes=g.draw(U64),
        swap_total_bytes=g.draw(U64),
        swap_used_bytes=g.draw(U64),
        boot_time_unix=g.draw(I64),
        process_count=g.draw(U32),
    )
    if g.draw(st.booleans()):
        load = st.floats(0.0, 1e9)
        res.load.CopyFrom(
            pb.LoadAverage(load1=g(load, ANY_FLOAT), load5=g(load, ANY_FLOAT), load15=g(load, ANY_FLOAT))
        )
    res.filesystems.extend(numbered(g.many(filesystem, LIMITS.max_filesystems), "mountpoint"))
    res.interfaces.extend(numbered(g.many(interface, LIMITS.max_interfaces), "name"))
    return res


def report(g: Gen, seq: int, host: pb.HostInfo | None) -> pb.Report:
    message = pb.Report(
        seq=seq,
        collected_unix_ms=g(CLEAN_COLLECTED_MS, I64),
        interval_seconds=g(st.integers(1, 3600), U32),
    )
    if host is not None:
        message.host.CopyFrom(host)
    for _ in range(g.draw(st.integers(0, 3))):
        message.probes.add(
            name=g(CLEAN_PROBE, HOSTILE_TEXT),
            success=g.draw(st.booleans()),
            duration_seconds=g(st.floats(0.0, 1e6), ANY_FLOAT),
        )
    if g.draw(st.booleans()):
        message.resources.CopyFrom(resources(g))
    if g.draw(st.booleans()):
        message.antivirus.host_state = g.draw(AV_STATE)
        message.antivirus.products.extend(numbered(g.many(product, LIMITS.max_products), "name"))
    message.events.extend(threat_event(g) for _ in range(g.draw(st.integers(0, 3))))
    if g.draw(st.booleans()):
        message.spool.CopyFrom(
            pb.SpoolStats(
                queued_reports=g.draw(U64),
                dropped_reports_total=g.draw(U64),
                oldest_queued_unix_ms=g.draw(U64),
            )
        )
    return message


@st.composite
def push_requests(draw: st.DrawFn) -> pb.PushRequest:
    """1-3 reports with distinct seqs; like a backlog, they share one HostInfo (or carry none)."""
    g = Gen(draw, clean=draw(st.sampled_from([True, True, False])))
    seq = g.strategy(CLEAN_SEQ, st.integers(0, 2**64 - 1))
    seqs = draw(st.lists(seq, min_size=1, max_size=3, unique=True))
    host = host_info(g) if draw(st.integers(0, 3)) else None
    request = pb.PushRequest(reports=[report(g, seq, host) for seq in seqs])
    request.oldest_held_seq = draw(st.one_of(st.just(0), st.just(min(seqs)), U64))
    return request


# ---------------------------------------------------------------------------------------------------
# (i) decoding and validation raise Rejection or nothing


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorService]:
    store = Store(tmp_path_factory.mktemp("fuzz") / "collector.sqlite")
    persister = Persister(store)
    try:
        yield CollectorService(FleetState(), CollectorMetrics(), LIMITS, store, persister)
    finally:
        persister.close()
        store.close()


def decode_and_validate(service: CollectorService, raw: bytes) -> pb.PushRequest | None:
    """The request, or None when refused with Rejection; any other exception fails the test."""
    try:
        request = service._decode(raw)
        validate_push(request, NOW_MS, LIMITS)
    except Rejection as rejection:
        assert rejection.reason, "a Rejection without a reason label"
        assert rejection.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
        event(f"refused: {rejection.reason}")
        return None
    event("accepted")
    return request


def valid_request() -> pb.PushRequest:
    host = pb.HostInfo(hostname="pc-01", os_family="linux", site="xa-my-phong", site_name="Xã Mỹ Phong")
    report = pb.Report(seq=7, collected_unix_ms=NOW_MS - 1000, interval_seconds=15, host=host)
    report.probes.add(name="resources", success=True, duration_seconds=0.01)
    report.resources.cpu_utilization_ratio = 0.5
    report.resources.load.load1 = 0.25
    report.resources.filesystems.add(mountpoint="/", fstype="ext4", size_bytes=10**11)
    report.resources.interfaces.add(name="eth0", up=True, receive_bytes=10**9)
    product = report.antivirus.products.add(name="ClamAV", vendor="Cisco", state=pb.ANTIVIRUS_STATE_PROTECTED)
    product.signature_updated_unix = NOW_MS // 1000 - 3600
    report.events.add(time_unix_ms=NOW_MS, threat=pb.ThreatDetected(product="ClamAV", threat="Eicar"))
    report.spool.queued_reports = 3
    second = pb.Report(seq=8, collected_unix_ms=NOW_MS, interval_seconds=15)
    return pb.PushRequest(reports=[report, second], oldest_held_seq=7)


VALID = valid_request().SerializeToString()


@st.composite
def mutated(draw: st.DrawFn, base: bytes = VALID) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


def test_valid_request_is_accepted(service: CollectorService) -> None:
    """The base of the mutations is valid, so the mutations start from the accepted path."""
    validate_push(service._decode(VALID), NOW_MS, LIMITS)


@FUZZ_SETTINGS
@given(raw=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_rejection(service: CollectorService, raw: bytes) -> None:
    decode_and_validate(service, raw)


@FUZZ_SETTINGS
@given(raw=mutated())
def test_mutated_requests_raise_only_rejection(service: CollectorService, raw: bytes) -> None:
    decode_and_validate(service, raw)


def test_oversized_bytes_are_resource_exhausted(service: CollectorService) -> None:
    with pytest.raises(Rejection) as info:
        service._decode(VALID + b"\x00" * LIMITS.max_message_bytes)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


# ---------------------------------------------------------------------------------------------------
# (ii) accepted requests render to parseable text with the values sent


def parse(text: bytes) -> list[Sample]:
    decoded = text.decode("utf-8")  # strict: the exposition must be valid UTF-8
    return [s for family in text_string_to_metric_families(decoded) for s in family.samples]


def agent_samples(samples: list[Sample], agent_id: str, name: str) -> list[Sample]:
    return [s for s in samples if s.name == name and s.labels.get("agent_id") == agent_id]


def check_rendered(request: pb.PushRequest, agent_id: str, samples: list[Sample]) -> None:
    """The parsed exposition shows what the request carried, label values byte for byte."""
    newest = max(request.reports, key=lambda r: r.seq)
    (total,) = agent_samples(samples, agent_id, "fleetwatch_agent_reports_total")
    assert total.value == len(request.reports)
    (up,) = agent_samples(samples, agent_id, "fleetwatch_agent_up")
    assert up.labels["host"] == newest.host.hostname
    (info,) = agent_samples(samples, agent_id, "fleetwatch_agent_info")
    if newest.HasField("host"):
        h = newest.host
        expected = {
            "os_family": h.os_family,
            "os_name": h.os_name,
            "os_version": h.os_version,
            "kernel": h.kernel,
            "arch": h.arch,
            "agent_version": h.agent_version,
            "site_name": h.site_name,
            "site": h.site,
            "district": h.district,
        }
        assert {k: info.labels[k] for k in expected} == expected
    if newest.HasField("resources"):
        res = newest.resources
        mounts = {
            s.labels["mountpoint"]
            for s in agent_samples(samples, agent_id, "fleetwatch_host_filesystem_size_bytes")
        }
        assert mounts == {fs.mountpoint for fs in res.filesystems}
        received = {
            s.labels["interface"]: s.value
            for s in agent_samples(samples, agent_id, "fleetwatch_host_network_receive_bytes_total")
        }
        first: dict[str, int] = {}  # twins (same name) are dropped, the first one is shown
        for nic in res.interfaces:
            first.setdefault(nic.name, nic.receive_bytes)
        assert received == first, "counters not exact"
        (cpu,) = agent_samples(samples, agent_id, "fleetwatch_host_cpu_utilization_ratio")
        assert cpu.value == res.cpu_utilization_ratio
    if newest.HasField("antivirus"):
        shown = {
            s.labels["product"] for s in agent_samples(samples, agent_id, "fleetwatch_antivirus_product_info")
        }
        assert shown == {p.name for p in newest.antivirus.products}
    threats = sum(
        s.value for s in agent_samples(samples, agent_id, "fleetwatch_antivirus_threats_detected_total")
    )
    assert threats == sum(1 for r in request.reports for e in r.events if e.HasField("threat"))
    if newest.HasField("spool"):
        (dropped,) = agent_samples(samples, agent_id, "fleetwatch_agent_spool_dropped_reports_total")
        assert dropped.value == newest.spool.dropped_reports_total


def accept(request: pb.PushRequest) -> bool:
    """Validate the request as the collector does: refused (Rejection) or accepted."""
    try:
        validate_push(request, NOW_MS, LIMITS)
    except Rejection as rejection:
        event(f"refused: {rejection.reason}")
        return False
    event("accepted")
    return True


@FUZZ_SETTINGS
@given(request=push_requests())
def test_accepted_requests_render_parseable_text(request: pb.PushRequest) -> None:
    # The bytes as they arrive: the render must also survive a serialization round trip.
    request = pb.PushRequest.FromString(request.SerializeToString())
    if not accept(request):
        return
    fleet = FleetState()
    result = fleet.apply("fuzz-agent", request.reports, request.oldest_held_seq)
    assert result.applied == len(request.reports)
    text, up, down = fleet.render()
    assert (up, down) == (1, 0)
    check_rendered(request, "fuzz-agent", parse(text))


# ---------------------------------------------------------------------------------------------------
# (iii) every accepted example in one fleet passes promtool


def test_combined_render_passes_promtool(promtool: str) -> None:
    fleet = FleetState()
    accepted: list[pb.PushRequest] = []

    @settings(FUZZ_SETTINGS, max_examples=120)
    @given(request=push_requests())
    def collect(request: pb.PushRequest) -> None:
        if accept(request):
            fleet.apply(f"fuzz-{len(accepted)}", request.reports, request.oldest_held_seq)
            accepted.append(request)

    collect()
    assert len(accepted) >= 10, f"only {len(accepted)} examples were accepted: the strategies are off"
    text, _, _ = fleet.render()
    samples = parse(text)
    for i, request in enumerate(accepted):
        check_rendered(request, f"fuzz-{i}", samples)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=120, check=False
    )
    errors = result.stderr.decode(errors="replace")[:4000]
    assert result.returncode == 0, f"promtool check metrics failed on {len(accepted)} agents:\n{errors}"


# ---------------------------------------------------------------------------------------------------
# Over real gRPC: random payloads from an enrolled agent


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


# ---------------------------------------------------------------------------------------------------
# Memory: what an agent's entry keeps of an accepted push


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
