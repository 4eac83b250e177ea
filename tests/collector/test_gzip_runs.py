"""Gzip /metrics under a steady flow of reports: a scrape compresses each run of blocks that lost keys
as one member per family, a compaction compresses a bounded number of blocks and leaves the rest to
the next, and the body is written in few large pieces; the body still decompresses to the plain one."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetwatch_collector import gzipblocks
from fleetwatch_collector.catalog import PER_HOST
from fleetwatch_collector.scrape import coalesce
from tests.collector.test_exposition_gzip import Model

FAMILIES_SHOWN = len(PER_HOST) - 1  # Model.put with mask 0xFFFF: every family but the up lines


def compressed_members(model: Model, settle: int) -> tuple[bytes, list[bytes]]:
    """A scrape's body, and the data of every member compressed for it."""
    with mock.patch.object(gzipblocks, "member", wraps=gzipblocks.member) as member:
        body = model.scrape(settle)
    return body, [call.args[0] for call in member.call_args_list]


@mock.patch.object(gzipblocks, "BLOCK_AGENTS", 4)
@mock.patch.object(gzipblocks, "SMALL", 2)
def test_neighbouring_blocks_that_lost_keys_are_compressed_together_for_a_scrape() -> None:
    model = Model()
    for n in range(40):
        model.put(f"a{n:02d}", 0, 0xFFFF)
    model.blocks.plan(None).compress()
    model.blocks.plan(None).compress()  # ten blocks of four, all compressed
    model.scrape(gzipblocks.SETTLE_ROUNDS)  # their up members, made once
    for n in (1, 5, 9, 13, 17):  # one key of each of the first five blocks reports again
        model.put(f"a{n:02d}", 1, 0xFFFF)
    body, members = compressed_members(model, gzipblocks.SETTLE_ROUNDS)
    assert gzip.decompress(body) == model.plain()
    old = [m for m in members if b"v0" in m]
    # The 15 keys left in the five blocks: one member per family and one of up lines, not five each.
    assert len(old) == FAMILIES_SHOWN
    assert all(m.count(b"\n") == 15 for m in old)
    assert [m.count(b"\n") for m in members if m.startswith(b"up a00 ")] == [15]
    assert not any(b"'a2" in m or b"'a3" in m for m in members)  # the clean blocks after them: kept


@mock.patch.object(gzipblocks, "BLOCK_AGENTS", 4)
@mock.patch.object(gzipblocks, "SMALL", 2)
def test_separate_runs_are_separate_members_in_the_order_of_the_body() -> None:
    model = Model()
    for n in range(40):
        model.put(f"a{n:02d}", 0, 0xFFFF)
    model.blocks.plan(None).compress()
    model.blocks.plan(None).compress()
    for n in (1, 5, 29, 33):  # blocks 1-2 and 8-9 lose a key; 3-7 stay clean between them
        model.put(f"a{n:02d}", 1, 0xFFFF)
    body, members = compressed_members(model, gzipblocks.SETTLE_ROUNDS)
    assert gzip.decompress(body) == model.plain()
    runs = [m for m in members if m.startswith(b"f1 ") and b"v0" in m]
    assert [m.count(b"\n") for m in runs] == [6, 6]
    assert runs[0].index(b"'a00'") < runs[0].index(b"'a07'") and b"'a28'" in runs[1]


@mock.patch.object(gzipblocks, "BLOCK_AGENTS", 4)
@mock.patch.object(gzipblocks, "SMALL", 2)
def test_a_compaction_compresses_a_bounded_number_of_blocks_and_the_next_goes_on() -> None:
    model = Model()
    blocks = 3 * gzipblocks.COMPACT_BLOCKS + 1
    for n in range(4 * blocks):
        model.put(f"a{n:03d}", 0, 0xFFFF)
    compacted: list[int] = []
    with mock.patch.object(gzipblocks, "member", wraps=gzipblocks.member) as member:
        for _ in range(5):
            model.blocks.plan(None).compress()
            compacted.append(member.call_count // FAMILIES_SHOWN)
            member.reset_mock()
    cap = gzipblocks.COMPACT_BLOCKS
    assert compacted == [cap, cap, cap, 1, 0]
    # Blocks a compaction has not reached yet are compressed by a scrape in the meantime, exactly.
    model.put("a000", 1, 0xFFFF)
    model.blocks.plan(None).compress()
    assert gzip.decompress(model.scrape(gzipblocks.SETTLE_ROUNDS)) == model.plain()


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), max_size=30),
    limit=st.sampled_from([0, 1, 2]),
    settle=st.integers(0, 3),
)
def test_bounded_compactions_keep_the_body_exact(sizes: list[int], limit: int, settle: int) -> None:
    """Changes between compactions of a bounded size, scraped at any moment."""
    model = Model()
    with (
        mock.patch.object(gzipblocks, "BLOCK_AGENTS", 3),
        mock.patch.object(gzipblocks, "SMALL", 2),
        mock.patch.object(gzipblocks, "COMPACT_BLOCKS", limit),
    ):
        for version, size in enumerate(sizes):
            for n in range(size):
                model.put(f"a{(version * 7 + n) % 23}", version, 0xFFFF if n % 3 else 0x0F0F)
            model.up[f"a{version % 23}"] = bool(version % 2)
            model.blocks.plan(None, settle).compress()
            if version % 4 == 3:
                assert gzip.decompress(model.scrape(settle)) == model.plain()
        assert gzip.decompress(model.scrape(settle)) == model.plain()


# ---------------------------------------------------------------------------------------------------
# The body in large pieces


def test_coalesce_joins_small_chunks_and_passes_large_ones() -> None:
    chunks = [b"a" * 3, b"b" * 3, b"c" * 10, b"d", b"e" * 2, b"f" * 2, b"g"]
    assert list(coalesce(iter(chunks), 5)) == [b"aaabbb", b"c" * 10, b"deeff", b"g"]
    assert list(coalesce(iter([]), 5)) == []


@given(sizes=st.lists(st.integers(0, 20), max_size=40), size=st.integers(1, 30))
def test_coalesce_keeps_the_bytes_in_pieces_of_at_least_the_size(sizes: list[int], size: int) -> None:
    chunks = [bytes([65 + n % 26]) * length for n, length in enumerate(sizes)]
    pieces = list(coalesce(iter(chunks), size))
    assert b"".join(pieces) == b"".join(chunks)
    # A piece is short only when it is the last or a large chunk follows it.
    assert all(len(piece) >= size or len(after) >= size for piece, after in itertools.pairwise(pieces))
    assert all(pieces)


def test_coalesce_reads_its_chunks_lazily() -> None:
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for n in range(10):
            read.append(n)
            yield b"x" * 4

    pieces = coalesce(chunks(), 8)
    assert next(pieces) == b"x" * 8
    assert read == [0, 1]  # the body is made as it is written, never all at once


@pytest.mark.parametrize("size", [1, 1 << 22])
def test_gzip_pieces_are_still_one_valid_stream(size: int) -> None:
    model = Model()
    for n in range(30):
        model.put(f"a{n}", 0, 0xFFFF)
    chunks = gzipblocks.gzip_fleet(model.blocks.plan(model.up_line).compress())
    assert gzip.decompress(b"".join(coalesce(chunks, size))) == model.plain()
