"""Inputs of the Push fuzz tests: strategies of clean and hostile PushRequests, a valid one, mutations."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from fleetwatch_collector.validate import Limits
from fleetwatch_proto.limits import MAX_SEQ
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

T = TypeVar("T")
LIMITS = Limits()
NOW_MS = int(time.time() * 1000)
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
# Agents count from 1, or restart at their clock in milliseconds; never beyond that clock.
CLEAN_SEQ = st.one_of(st.integers(1, 10**6), st.just(NOW_MS - LIMITS.max_age_seconds * 1000 + 60_000))
HOSTILE_SEQ = st.one_of(st.integers(0, 2**64 - 1), st.just(MAX_SEQ))
CLEAN_TIME = st.integers(0, 2**63 - 1)  # Unix times: not before 1970
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
        signature_updated_unix=g(CLEAN_TIME, I64),
        realtime_protection=g.draw(st.booleans()),
        last_quick_scan_unix=g(CLEAN_TIME, I64),
        last_full_scan_unix=g(CLEAN_TIME, I64),
        state=g.draw(AV_STATE),
        on_access_scanning=g.draw(st.booleans()),
    )


def threat_event(g: Gen) -> pb.Event:
    threat = pb.ThreatDetected(product=g.text(), threat=g.text(), path=g.text(), action=g.text())
    # 0: not given; a clean time would have to lie within its report's window (validate.py).
    return pb.Event(time_unix_ms=g(st.just(0), I64), threat=threat)


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
    seq = g.strategy(CLEAN_SEQ, HOSTILE_SEQ)
    seqs = draw(st.lists(seq, min_size=1, max_size=3, unique=True))
    host = host_info(g) if draw(st.integers(0, 3)) else None
    request = pb.PushRequest(reports=[report(g, seq, host) for seq in seqs])
    # An agent holds what it sends: the lowest seq it holds is at most the highest it sends.
    held = st.one_of(st.just(0), st.just(min(seqs)))
    request.oldest_held_seq = draw(held if g.clean else st.one_of(held, U64))
    return request


# ---------------------------------------------------------------------------------------------------
# A valid request, and byte-level mutations of it


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
