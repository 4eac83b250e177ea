"""Gzip /metrics: the members joined at a scrape decompress to exactly the plain body, whatever happened
since the last scrape (agents added, changed, removed, down; central devices; compactions), and the
encoding follows the client's Accept-Encoding."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetwatch_collector import gzipblocks
from fleetwatch_collector.catalog import PER_HOST
from fleetwatch_collector.exposition import UP, Chunks, render_fleet
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.gzipblocks import GzipBlocks, gzip_fleet
from tests.collector.support import NOW_MS, add_antivirus, add_connectivity, full_report, parsed_samples

KEYS = 8
DEVICE = "\0central/router-1"  # a key that is no agent: series without an up line


def comparable(
    text: str, wanted: Callable[[str], bool] = lambda name: True
) -> list[tuple[str, list[tuple[str, str]], float]]:
    return [(n, sorted(labels.items()), v) for n, labels, v in parsed_samples(text) if wanted(n)]


# ---------------------------------------------------------------------------------------------------
# GzipBlocks alone, against a model of the families (what FleetState does with them)


class Model:
    """The families as FleetState keeps them (a changed key moves to the end) and the blocks."""

    def __init__(self) -> None:
        self.families: list[dict[str, bytes]] = [{} for _ in PER_HOST]
        self.blocks = GzipBlocks()
        self.up: dict[str, bool] = {}
        self.order: dict[str, None] = {}

    def put(self, key: str, version: int, mask: int) -> None:
        chunks = tuple(
            b"" if i == UP or not mask >> (i % 16) & 1 else f"f{i} {key!r} v{version}\n".encode()
            for i in range(len(PER_HOST))
        )
        for family, chunk in zip(self.families, chunks, strict=True):
            family.pop(key, None)
            if chunk:
                family[key] = chunk
        self.blocks.changed(key, chunks)
        self.order.pop(key, None)
        self.order[key] = None

    def drop(self, key: str) -> None:
        for family in self.families:
            family.pop(key, None)
        self.blocks.removed(key)
        self.order.pop(key, None)

    def up_line(self, key: str) -> bytes | None:
        return None if key == DEVICE else f"up {key} {int(self.up.get(key, True))}\n".encode()

    def plain(self) -> bytes:
        lines = [line for key in self.blocks.order() if (line := self.up_line(key)) is not None]
        return b"".join(render_fleet([list(f.values()) for f in self.families], lines))

    def scrape(self, settle: int) -> bytes:
        parts = self.blocks.plan(self.up_line, settle).compress()
        return b"".join(gzip_fleet(parts))


KEY = st.sampled_from([f"a{n}" for n in range(KEYS)] + [DEVICE])
OPERATION = st.one_of(
    st.tuples(st.just("put"), KEY, st.integers(0, 0xFFFF)),
    st.tuples(st.just("drop"), KEY, st.just(0)),
    st.tuples(st.just("down"), KEY, st.booleans()),
    st.tuples(st.just("compact"), st.just(""), st.integers(0, 3)),
    st.tuples(st.just("scrape"), st.just(""), st.integers(0, 3)),
)


@settings(max_examples=300, deadline=None)
@given(operations=st.lists(OPERATION, max_size=60))
def test_blocks_give_the_plain_body_after_any_changes(
    operations: list[tuple[str, str, int]],
) -> None:
    model = Model()
    with mock.patch.object(gzipblocks, "BLOCK_AGENTS", 3), mock.patch.object(gzipblocks, "SMALL", 2):
        for version, (operation, key, value) in enumerate(operations):
            if operation == "put":
                model.put(key, version, value)
            elif operation == "drop":
                model.drop(key)
            elif operation == "down":
                model.up[key] = bool(value)
            elif operation == "compact":
                model.blocks.plan(None, value).compress()
            else:
                assert gzip.decompress(model.scrape(value)) == model.plain()
        assert gzip.decompress(model.scrape(0)) == model.plain()
    assert list(model.blocks.order()) == list(model.order)  # the order of the latest changes


@mock.patch.object(gzipblocks, "BLOCK_AGENTS", 64)
@mock.patch.object(gzipblocks, "SMALL", 32)
def test_a_gzip_scrape_compresses_only_what_changed_since_the_last_compaction() -> None:
    model = Model()
    for n in range(200):
        model.put(f"a{n}", 0, 0xFFFF)
    model.blocks.plan(None).compress()
    with mock.patch.object(gzipblocks, "member", wraps=gzipblocks.member) as member:
        model.scrape(gzipblocks.SETTLE_ROUNDS)  # the up lines of every block, made once
        member.reset_mock()
        body = model.scrape(gzipblocks.SETTLE_ROUNDS)
        assert member.call_count == 0  # nothing changed: every member was kept
        model.put("a7", 1, 0xFFFF)
        body = model.scrape(gzipblocks.SETTLE_ROUNDS)
    assert gzip.decompress(body) == model.plain()
    compressed = b"".join(call.args[0] for call in member.call_args_list)
    # The new block of a7, and a7's old block (the 63 others) for this scrape only; not the other 136.
    assert b"'a7' v1" in compressed
    assert 0 < compressed.count(b"f1 ") <= 64


def test_a_block_that_lost_an_agent_is_rebuilt_once_it_settled() -> None:
    model = Model()
    for n in range(64):
        model.put(f"a{n}", 0, 0b110)
    model.blocks.plan(None).compress()
    model.put("a0", 1, 0b110)
    families_of_a1 = sum(1 for family in model.families if "a1" in family)
    with mock.patch.object(gzipblocks, "member", wraps=gzipblocks.member) as member:

        def members_with_a1() -> int:
            found = sum(1 for call in member.call_args_list if b"'a1' v0" in call.args[0])
            member.reset_mock()
            return found

        for _ in range(gzipblocks.SETTLE_ROUNDS):
            model.blocks.plan(None).compress()
        assert members_with_a1() == 0  # left alone while it settles
        model.blocks.plan(None).compress()
        assert members_with_a1() == families_of_a1  # then rebuilt, once
        model.blocks.plan(None).compress()
        assert member.call_count == 0
    assert gzip.decompress(model.scrape(0)) == model.plain()


def test_the_headers_are_compressed_once_and_each_family_is_one_chunk() -> None:
    model = Model()
    model.put("a1", 0, 0b110)
    chunks = list(gzip_fleet(model.blocks.plan(model.up_line).compress()))
    assert [gzip.decompress(c).split(b"\n", 1)[0] for c in chunks] == [
        line for line in model.plain().split(b"\n") if line.startswith(b"# HELP")
    ]
    shown = [i for i, family in enumerate(model.families) if family or i == UP]
    assert len(chunks) == len(shown) > 2
    for chunk, index in zip(chunks, shown, strict=True):
        assert chunk.startswith(gzipblocks.HEADER_MEMBERS[index])


def test_an_empty_fleet_has_an_empty_gzip_body() -> None:
    assert b"".join(FleetState().render_gzip_chunks()[0]) == b""


# ---------------------------------------------------------------------------------------------------
# FleetState with real reports


class Clock:
    def __init__(self) -> None:
        self.now = NOW_MS / 1000

    def __call__(self) -> float:
        return self.now


def device_chunks(value: float) -> tuple[bytes, ...]:
    chunks = Chunks('district="tp-my-tho",site="so-y-te",site_type="department"')
    chunks.add("fleetwatch_netdev_up", value, (("device", "router-1"),))
    return chunks.done()


FLEET_OPERATION = st.one_of(
    st.tuples(st.just("report"), st.integers(0, 5), st.floats(0, 1)),
    st.tuples(st.just("later"), st.just(0), st.sampled_from([10.0, 60.0])),
    st.tuples(st.just("revoke"), st.integers(0, 5), st.just(0.0)),
    st.tuples(st.just("forget"), st.integers(0, 5), st.just(0.0)),
    st.tuples(st.just("device"), st.just(0), st.sampled_from([0.0, 1.0, -1.0])),
    st.tuples(st.just("compact"), st.just(0), st.just(0.0)),
    st.tuples(st.just("scrape"), st.just(0), st.just(0.0)),
)


def assert_same(fleet: FleetState) -> None:
    plain, counts = fleet.render_chunks()
    zipped, zipped_counts = fleet.render_gzip_chunks()
    assert gzip.decompress(b"".join(zipped)) == b"".join(plain)
    assert zipped_counts == counts


@settings(max_examples=60, deadline=None)
@given(operations=st.lists(FLEET_OPERATION, max_size=30))
def test_fleet_gzip_equals_plain_with_agents_added_changed_removed(
    operations: list[tuple[str, int, float]],
) -> None:
    clock = Clock()
    fleet = FleetState(clock=clock)
    known: dict[str, bool] = {}
    seqs = dict.fromkeys(range(6), 0)
    with mock.patch.object(gzipblocks, "BLOCK_AGENTS", 2), mock.patch.object(gzipblocks, "SMALL", 1):
        for operation, n, value in operations:
            agent_id = f"agent-{n}"
            if operation == "report":
                seqs[n] += 1
                r = add_connectivity(add_antivirus(full_report(seqs[n], int(clock.now * 1000))))
                r.resources.cpu_utilization_ratio = value
                known[agent_id] = False
                fleet.apply(agent_id, [r])
            elif operation == "later":
                clock.now += value  # 60 s: agents reporting every 15 s are down
            elif operation in ("revoke", "forget"):
                if operation == "revoke":
                    known[agent_id] = True
                else:
                    known.pop(agent_id, None)
                fleet.sweep(known, clock.now + 0.001)  # read after the reports so far
                clock.now += 0.002
            elif operation == "device":
                if value < 0:
                    fleet.drop_lines(DEVICE)
                else:
                    fleet.set_lines(DEVICE, device_chunks(value))
            elif operation == "compact":
                fleet.compact()
            else:
                assert_same(fleet)
        assert_same(fleet)


def test_fleet_gzip_body_parses_to_the_same_samples() -> None:
    fleet = FleetState(clock=Clock())
    for n in range(100):
        fleet.apply(f"agent-{n:03d}", [add_connectivity(add_antivirus(full_report(1, hostname=f"pc-{n}")))])
    fleet.compact()
    fleet.apply("agent-007", [full_report(2, NOW_MS + 15_000, hostname="pc-7")])
    plain = fleet.render()[0].decode()
    text = gzip.decompress(b"".join(fleet.render_gzip_chunks()[0])).decode()
    assert sorted(comparable(text)) == sorted(comparable(plain))
    assert len({labels["agent_id"] for _, labels, _ in parsed_samples(text)}) == 100
